"""Between the consumer thread and the browsers: the locked state and the WebSocket fan-out.

Built for a thousand browsers on one event loop:

* **Coalesced per tick, encoded once.** The consumer thread applies records and keeps only the
  latest update per key (:attr:`Update.key`) until the next tick. A tick (at most every ``TICK_S``,
  at once when the last one is older) encodes the tick's updates into one text frame and hands the
  same string to every client: the cost per client is a queue append, not a ``json.dumps``.
* **A bounded queue per client.** Each client has its own sender task and a queue of at most
  ``CLIENT_QUEUE_LIMIT`` frames. A client that cannot keep up has its backlog dropped and gets a
  fresh snapshot once it reads again; nobody else waits for it, and its memory stays bounded.
* **Snapshots are shared too.** A snapshot is encoded once per state ``seq``, however many clients
  (new, slow or asking) want it.
* **Client messages are rate-limited.** A token bucket per client drops a flood before it is even
  parsed, and a client gets at most one requested snapshot per ``RESYNC_INTERVAL_S``.

* **Whole views pushed when they change.** A view that is small and read whole (the alerts) is a
  :meth:`LiveHub.whole_view`: the thread that changes it says so, and the hub pushes the whole view at
  most every ``TICK_S`` when it is urgent (an alert opened or cleared), every ``RELAXED_S`` when not
  (a headway moved). Each view follows every snapshot a client gets (built afresh when older than a
  tick), so a new client, or one whose backlog was dropped, has it at once.

Frames (server -> browser): ``snapshot`` (the state, with the ``seq`` it includes), ``updates``
(``pushed_at`` and the tick's updates, each with its ``seq``; a browser drops those its snapshot
already has), ``status`` (unsequenced, once a second) and each whole view's (unsequenced, e.g. ``alerts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from transit_status.dashboard.state import Received, UpdateKey
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)

TICK_S = 0.1
"""Updates within one tick go out as one frame: ≤ 10 frames a second per client, ≤ 100 ms added latency."""
RELAXED_S = 1.0
"""A whole view's changes that nobody waits for (a headway) go out at most this often."""
CLIENT_QUEUE_LIMIT = 100
"""Frames (about 10 s of ticks) a client may lag before its backlog is replaced by a snapshot."""
RESYNC_INTERVAL_S = 2.0
MESSAGES_PER_S = 5.0
MESSAGE_BURST = 20
MESSAGE_MAX_CHARS = 1024


class LiveUpdate(Protocol):
    """What a state's ``apply`` returns: sequenced, with a coalescing key and the JSON the page reads."""

    @property
    def seq(self) -> int: ...

    @property
    def key(self) -> UpdateKey: ...

    def message(self) -> dict[str, Any]: ...


class LiveState(Protocol):
    """A page's pure state (Chicago's ``DashboardState``, London's ``LondonState``)."""

    seq: int

    def apply(self, received: Received[Any]) -> Any: ...

    def snapshot(self) -> dict[str, Any]: ...


State = TypeVar("State", bound=LiveState)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; :meth:`take` says whether one was left."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Client:
    """One browser: its frame queue and whether its next frame must be a snapshot.

    Only the event loop touches a client. A new client starts by needing a snapshot.
    """

    def __init__(self, queue_limit: int = CLIENT_QUEUE_LIMIT, clock: Callable[[], float] = time.monotonic) -> None:
        self.queue_limit = queue_limit
        self.clock = clock
        self.frames: deque[str] = deque()
        self.after_seq = 0
        """The snapshot this client got includes every update up to this seq."""
        self.needs_snapshot = True
        self.snapshots = 0
        self.backlogs_dropped = 0
        self.messages_dropped = 0
        self.resyncs_ignored = 0
        self._messages = TokenBucket(MESSAGES_PER_S, MESSAGE_BURST, clock)
        self._last_resync = float("-inf")
        self._wakeup = asyncio.Event()

    def offer(self, frame: str, last_seq: int | None = None) -> None:
        """Queue a frame; ``last_seq`` is the newest update in it (None: not state, e.g. status)."""
        if last_seq is not None and (self.needs_snapshot or last_seq <= self.after_seq):
            return  # the snapshot this client gets (or got) already holds these updates
        if len(self.frames) >= self.queue_limit:
            # Too slow to keep up: drop the backlog, send a fresh snapshot when it reads again.
            self.backlogs_dropped += 1
            self._want_snapshot()
            if last_seq is not None:
                return
        self.frames.append(frame)
        self._wakeup.set()

    def on_message(self, text: str | None) -> None:
        """A message from the browser; the only one acted on is ``{"type": "resync"}``."""
        if not self._messages.take():
            self.messages_dropped += 1
            return
        if not _asks_for_resync(text):
            return
        now = self.clock()
        if now - self._last_resync < RESYNC_INTERVAL_S:
            self.resyncs_ignored += 1  # it got a fresh snapshot moments ago and every update since
            return
        self._last_resync = now
        self._want_snapshot()

    def _want_snapshot(self) -> None:
        self.needs_snapshot = True
        self.frames.clear()
        self._wakeup.set()

    def due_frame(self, hub: LiveHub) -> str | None:
        """The frame to send now: a snapshot first when one is due (then each whole view, which a dropped
        backlog may have held), else the oldest queued frame."""
        if self.needs_snapshot:
            frame, self.after_seq = hub.snapshot_frame()
            self.needs_snapshot = False
            self.snapshots += 1
            self.frames.extendleft(reversed(hub.view_frames()))
            return frame
        return self.frames.popleft() if self.frames else None

    async def next_frame(self, hub: LiveHub) -> str:
        while (frame := self.due_frame(hub)) is None:
            self._wakeup.clear()
            await self._wakeup.wait()
        return frame


class WholeView:
    """A view the hub pushes whole when it changes (see the module's notes); only the event loop touches it."""

    def __init__(self, kind: str, build: Callable[[], dict[str, Any]]) -> None:
        self.kind = kind
        self.build = build
        self.frame: str | None = None
        self.encoded_at = float("-inf")
        """When :attr:`frame` was built (``time.monotonic()``)."""
        self.pushed_at = float("-inf")
        self.due: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.frames_encoded = 0

    def encode(self) -> str:
        self.frame = encode({"type": self.kind, **self.build()})
        self.encoded_at = time.monotonic()
        self.frames_encoded += 1
        return self.frame

    def current(self, now: float, within_s: float) -> str:
        """The pushed frame, or one built afresh when there is none or it is older than ``within_s``."""
        if self.frame is not None and now - self.encoded_at <= within_s:
            return self.frame
        return self.encode()


class LiveHub(Generic[State]):
    """One page's fan-out (one hub per network page, each with its own state and clients)."""

    def __init__(self, state: State, tick_s: float = TICK_S, relaxed_s: float = RELAXED_S) -> None:
        self.state = state
        self.tick_s = tick_s
        self.relaxed_s = relaxed_s
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[Client] = set()
        self.on_updates: list[Callable[[Sequence[Any]], None]] = []
        self.frames_encoded = 0
        self.snapshots_encoded = 0
        self.last_status_frame: str | None = None
        self.views: dict[str, WholeView] = {}
        self._pending: dict[UpdateKey, LiveUpdate] = {}
        self._tick_scheduled = False
        self._last_tick = float("-inf")
        self._snapshot: tuple[int, str] | None = None

    # ---- consumer thread side -------------------------------------------------------------------
    def apply(self, batch: list[Received[Any]]) -> None:
        with self.lock:
            for received in batch:
                update = self.state.apply(received)
                if update is not None:
                    self._pending.pop(update.key, None)  # re-insert: the dict stays in seq order
                    self._pending[update.key] = update
            loop = self.loop
            if not self._pending or self._tick_scheduled or loop is None or loop.is_closed():
                return  # without a loop (not serving yet, or tests) updates wait for a tick() call
            self._tick_scheduled = True
        try:
            loop.call_soon_threadsafe(self._schedule_tick)
        except RuntimeError:  # the loop closed just now (shutdown)
            with self.lock:
                self._tick_scheduled = False

    # ---- event loop side --------------------------------------------------------------------------
    def _schedule_tick(self) -> None:
        assert self.loop is not None
        delay = self._last_tick + self.tick_s - time.monotonic()
        if delay > 0:
            self.loop.call_later(delay, self.tick)
        else:
            self.tick()

    def tick(self) -> list[LiveUpdate]:
        """Push what changed since the last tick to every client as one frame; returns those updates."""
        with self.lock:
            updates = list(self._pending.values())
            self._pending = {}
            self._tick_scheduled = False
        self._last_tick = time.monotonic()
        if not updates:
            return updates
        for hook in self.on_updates:
            hook(updates)
        frame = encode({"type": "updates", "pushed_at": now_ms(), "updates": [u.message() for u in updates]})
        self.frames_encoded += 1
        last_seq = updates[-1].seq
        for client in self.clients:
            client.offer(frame, last_seq)
        return updates

    def read(self, view: Callable[[State], Any]) -> Any:
        with self.lock:
            return view(self.state)

    def connect(self, queue_limit: int = CLIENT_QUEUE_LIMIT) -> Client:
        """Register a client: its first frame is a snapshot, then each whole view and the last status,
        then updates."""
        client = Client(queue_limit)
        if self.last_status_frame is not None:
            client.offer(self.last_status_frame)
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def broadcast_status(self, message: dict[str, Any]) -> None:
        """An unsequenced message to every client, encoded once; must run on the event loop."""
        frame = self.last_status_frame = encode(message)
        for client in self.clients:
            client.offer(frame)

    # ---- whole views -----------------------------------------------------------------------------
    def whole_view(self, kind: str, build: Callable[[], dict[str, Any]]) -> Callable[[bool], None]:
        """Push ``build()`` as ``{"type": kind, ...}`` to every client when it changes; returns what the
        changing thread (any thread) calls: ``changed(urgent)``. ``build`` runs on the event loop."""
        view = self.views[kind] = WholeView(kind, build)

        def changed(urgent: bool) -> None:
            loop = self.loop
            if loop is None or loop.is_closed():
                return  # not serving (yet): the next client gets it built afresh
            with contextlib.suppress(RuntimeError):  # the loop closed just now (shutdown)
                loop.call_soon_threadsafe(self._view_changed, view, urgent)

        return changed

    def view_frames(self) -> list[str]:
        """Each whole view's frame for a client that gets a snapshot: the pushed one, or built afresh when
        that is older than a tick (a view's clock, e.g. the alerts' network time, must not be stale)."""
        now = time.monotonic()
        return [view.current(now, self.tick_s) for view in self.views.values()]

    def _view_changed(self, view: WholeView, urgent: bool) -> None:
        assert self.loop is not None
        due = max(self.loop.time(), view.pushed_at + (self.tick_s if urgent else self.relaxed_s))
        if view.due is not None and view.due <= due:
            return  # a push at least as soon is already on its way
        if view.timer is not None:
            view.timer.cancel()
        view.due = due
        view.timer = self.loop.call_at(due, self._push_view, view)

    def _push_view(self, view: WholeView) -> None:
        assert self.loop is not None
        view.due = view.timer = None
        view.pushed_at = self.loop.time()
        frame = view.encode()
        for client in self.clients:
            client.offer(frame)

    def snapshot_frame(self) -> tuple[str, int]:
        """The snapshot frame and the seq it includes; encoded once per seq, however many ask."""
        with self.lock:
            cached = self._snapshot
            if cached is not None and cached[0] == self.state.seq:
                return cached[1], cached[0]
            snapshot = self.state.snapshot()
        frame = encode({"type": "snapshot", **snapshot})
        self.snapshots_encoded += 1
        self._snapshot = (snapshot["seq"], frame)
        return frame, snapshot["seq"]


def _asks_for_resync(text: str | None) -> bool:
    if not text or len(text) > MESSAGE_MAX_CHARS:
        return False
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(message, dict) and message.get("type") == "resync"
