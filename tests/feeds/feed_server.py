"""Real local HTTP servers (port 0) for feed clients: no mock of the client.

``LocalServer`` is the server and its request handling; a subclass says what each ``GET`` gets
(:meth:`LocalServer.reply_to`) and may note each answer once it is written (:meth:`LocalServer.replied`:
benchmarks/feed_latency.py times its recording's polls from there). ``ScriptedServer`` answers each request
with the next scripted reply: a status, a body and an optional delay (longer than the client's timeout: a
timeout). After the script runs out, the last reply repeats. ``by_path`` gives some paths their own
script (a test may replace it while the server runs: :meth:`ScriptedServer.script`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    content_type: str = "application/json"


class LocalServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 at a free port; a subclass answers the requests."""

    daemon_threads = True
    # HTTP/1.0: a connection per request; "HTTP/1.1" keeps connections alive, as the adapters' client would.
    protocol_version = "HTTP/1.0"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply_to(self, path: str) -> Reply:
        """The answer to ``GET path`` (the path with its query)."""
        raise NotImplementedError

    def replied(self, path: str, reply: Reply) -> None:
        """``reply`` to ``GET path`` has been written (not called when the client gave up)."""


class ScriptedServer(LocalServer):
    def __init__(self, replies: list[Reply], by_path: dict[str, list[Reply]] | None = None) -> None:
        super().__init__()
        self.replies = list(replies)
        self.by_path = {path: list(script) for path, script in (by_path or {}).items()}
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def script(self, path: str, replies: list[Reply]) -> None:
        with self.lock:
            self.by_path[path] = list(replies)

    def reply_to(self, path: str) -> Reply:
        with self.lock:
            self.requests.append(path)
            replies = self.by_path.get(path.split("?", 1)[0], self.replies)
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def setup(self) -> None:
        super().setup()
        self.protocol_version = self.server.protocol_version

    def do_GET(self) -> None:
        reply = self.server.reply_to(self.path)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            return  # the client gave up (a timeout test)
        self.server.replied(self.path, reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


Server = TypeVar("Server", bound=LocalServer)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """``server`` answering requests (in a thread of its own) until the block ends."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def serving(replies: list[Reply], by_path: dict[str, list[Reply]] | None = None) -> Iterator[ScriptedServer]:
    with running(ScriptedServer(replies, by_path)) as server:
        yield server
