"""A real local HTTP server (port 0) that answers each request with the next scripted reply.

Tests point the feed adapters' real HTTP client at it: no mock of the client. A reply is a status, a
body and an optional delay (longer than the client's timeout: a timeout). After the script runs out,
the last reply repeats. ``by_path`` gives some paths their own script (a test may replace it while the
server runs: :meth:`ScriptedServer.script`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    content_type: str = "application/json"


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, replies: list[Reply], by_path: dict[str, list[Reply]] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = list(replies)
        self.by_path = {path: list(script) for path, script in (by_path or {}).items()}
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def script(self, path: str, replies: list[Reply]) -> None:
        with self.lock:
            self.by_path[path] = list(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            self.requests.append(path)
            replies = self.by_path.get(path.split("?", 1)[0], self.replies)
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self) -> None:
        reply = self.server.next_reply(self.path)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(replies: list[Reply], by_path: dict[str, list[Reply]] | None = None) -> Iterator[ScriptedServer]:
    server = ScriptedServer(replies, by_path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
