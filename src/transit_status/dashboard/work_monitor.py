"""The pipeline's work (SQL jobs, connectors, consumer groups), inspected in a background thread.

Inspecting asks Flink, Connect and Kafka over the network (seconds when one of them is down), so
no request waits for it: a daemon thread refreshes a snapshot every ``every_s`` and /healthz reads
the latest one. What to inspect is handed in (``pipeline/work.py``'s ``inspect_work``, wired by
``serve.py``): the dashboard sits below the pipeline layer and must not import it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)

WORK_REFRESH_S = 5.0


class WorkRow(Protocol):
    """One piece of work as ``pipeline.work.WorkItem`` describes it."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def detail(self) -> str: ...


class WorkInspector(Protocol):
    """``pipeline.work.inspect_work`` with what it keeps between calls (its progress tracker, its
    Kafka consumers), closed by the thread that used it."""

    def inspect(self) -> Sequence[WorkRow]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WorkSnapshot:
    items: tuple[WorkRow, ...] = ()
    checked_at_ms: int | None = None
    """When the last inspection returned (None: none has yet)."""
    error: str | None = None
    """Why the last inspection raised (its items are the previous ones)."""
    refreshing_since_ms: int | None = None
    """When the inspection under way began (None between inspections): a stuck one shows here."""
    since_ms: dict[tuple[str, str], int] = field(default_factory=dict)
    """(kind, name) -> since when that item has not been running."""


class WorkMonitor:
    """Refreshes a :class:`WorkSnapshot` in a daemon thread; :meth:`snapshot` never blocks on it."""

    def __init__(self, inspector: WorkInspector, every_s: float = WORK_REFRESH_S) -> None:
        self._inspector = inspector
        self._every_s = every_s
        self._lock = threading.Lock()
        self._snapshot = WorkSnapshot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="work-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            # Short: an inspection may sit in a network call for seconds; a daemon thread dies with the process.
            self._thread.join(timeout_s)

    def snapshot(self) -> WorkSnapshot:
        with self._lock:
            return self._snapshot

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(self._every_s)
        finally:
            self._inspector.close()  # on this thread: nothing can be using its clients meanwhile

    def refresh(self) -> None:
        """One inspection (the thread's loop; callable directly in tests)."""
        with self._lock:
            self._snapshot = replace(self._snapshot, refreshing_since_ms=now_ms())
        try:
            items = tuple(self._inspector.inspect())
        except Exception as error:  # a bug or an unexpected client error: reported, retried next round
            log.warning("could not inspect the pipeline's work: %s", error, exc_info=True)
            with self._lock:
                error_text = f"{type(error).__name__}: {error}"[:300]
                self._snapshot = replace(self._snapshot, error=error_text, refreshing_since_ms=None)
            return
        now = now_ms()
        with self._lock:
            before = self._snapshot.since_ms
            since = {
                (item.kind, item.name): before.get((item.kind, item.name), now)
                for item in items
                if item.state != "running"
            }
            self._snapshot = WorkSnapshot(items, now, None, None, since)
