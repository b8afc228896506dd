"""Between the consumer thread and the browsers: the locked state and the WebSocket fan-out.

The consumer thread calls :meth:`LiveHub.apply`; updates are serialised once and handed to the
event loop, which puts them on every client's queue. Each client gets a snapshot first and then
only updates with a higher ``seq`` (the snapshot already contains the others). A client that falls
too far behind gets a fresh snapshot instead of a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transit_status.dashboard.state import DashboardState, Received

log = logging.getLogger(__name__)

CLIENT_QUEUE_LIMIT = 5000
RESYNC = "__resync__"


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    after_seq: int = 0
    """Updates up to this seq are already in the snapshot the client received."""
    behind: bool = False


class LiveHub:
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[Client] = set()
        self.on_updates: list[Callable[[list[dict[str, Any]]], None]] = []

    # ---- consumer thread side -------------------------------------------------------------------
    def apply(self, batch: list[Received]) -> None:
        with self.lock:
            updates = [update for received in batch for update in self.state.apply(received)]
        if not updates:
            return
        updates = _coalesce(updates)
        pushed_at = time.time_ns() // 1_000_000
        for update in updates:
            update["pushed_at"] = pushed_at
        for hook in self.on_updates:
            hook(updates)
        loop = self.loop
        if loop is not None and not loop.is_closed():
            frames = [(update["seq"], json.dumps(update, separators=(",", ":"))) for update in updates]
            with contextlib.suppress(RuntimeError):  # the loop closed just now (shutdown)
                loop.call_soon_threadsafe(self._fan_out, frames)

    # ---- event loop side --------------------------------------------------------------------------
    def read(self, view: Callable[[DashboardState], Any]) -> Any:
        with self.lock:
            return view(self.state)

    def connect(self) -> tuple[Client, str]:
        """Register a client; returns it with its snapshot frame (atomically with respect to updates)."""
        client = Client()
        frame, client.after_seq = self._snapshot_frame()
        self.clients.add(client)
        return client, frame

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def resync(self, client: Client) -> str:
        """A fresh snapshot for a client that asked for one or fell behind."""
        frame, client.after_seq = self._snapshot_frame()
        client.behind = False
        return frame

    def broadcast(self, message: dict[str, Any]) -> None:
        """An unsequenced message (e.g. status) to every client; must run on the event loop."""
        frame = json.dumps(message, separators=(",", ":"))
        for client in list(self.clients):
            self._offer(client, frame)

    def _snapshot_frame(self) -> tuple[str, int]:
        with self.lock:
            snapshot = self.state.snapshot()
        return json.dumps({"type": "snapshot", **snapshot}, separators=(",", ":")), snapshot["seq"]

    def _fan_out(self, frames: list[tuple[int, str]]) -> None:
        for client in list(self.clients):
            for seq, frame in frames:
                if seq > client.after_seq:
                    self._offer(client, frame)

    def _offer(self, client: Client, frame: str) -> None:
        if client.behind:
            return
        if client.queue.qsize() >= CLIENT_QUEUE_LIMIT:
            # Too slow to keep up: drop the backlog, send a snapshot when it reads again.
            client.behind = True
            while not client.queue.empty():
                client.queue.get_nowait()
            client.queue.put_nowait(RESYNC)
            return
        client.queue.put_nowait(frame)


def _coalesce(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Within one batch, only the last update of each train / station / count matters."""
    last: dict[tuple[Any, ...], dict[str, Any]] = {}
    for update in updates:
        kind = update["type"]
        if kind == "train":
            key: tuple[Any, ...] = (kind, update["train"]["train_id"])
        elif kind == "turnstile":
            key = (kind, update["station_id"])
        elif kind == "station":
            key = ("station", update["station"]["line"], update["station"]["station_id"])
        elif kind == "station_removed":
            key = ("station", update["line"], update["station_id"])
        elif kind == "weather":
            key = (kind,)
        else:
            key = (kind, update["seq"])
        last[key] = update
    if len(last) == len(updates):
        return updates
    return sorted(last.values(), key=lambda update: update["seq"])
