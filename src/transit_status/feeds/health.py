"""How a real feed is doing: ``ok`` or ``degraded``, why, and since when (what the dashboard shows).

One :class:`FeedHealth` per running adapter. Each feed of the source (the Train Tracker's positions,
a GTFS-realtime VehiclePositions URL, ...) reports every poll's outcome; the source is degraded while
any of its feeds has a problem. A change of state is logged once (a warning when a feed degrades, with
the reason; info when it recovers), not on every poll. :meth:`write` keeps the state in a JSON file
(``settings.feed_health_file``) for another process (the dashboard) to read.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

State = Literal["starting", "ok", "degraded"]
LOGGED_UNKNOWN_IDS = 10
"""Unknown ids of one kind logged by name; the rest are counted only."""
KEPT_UNKNOWN_IDS = 1000
"""Distinct unknown ids kept by name, with how often each was seen: a static GTFS that does not match its
realtime feed names new trip ids every day, and a process runs for months. Beyond it, counted only."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FeedHealth:
    """The health of one source's feeds, and what its adapter counted (thread-safe)."""

    source: str
    state: State = "starting"
    reason: str = "no poll yet"
    since: datetime = field(default_factory=utc_now)
    problems: dict[str, str] = field(default_factory=dict)
    """Feed name -> its current problem (none: the feed is fine)."""
    counts: Counter[str] = field(default_factory=Counter)
    """polls, failed_polls, arrivals, unknown_station_ids, unknown_stop_ids, ... (see the adapters)."""
    unknown_ids: Counter[str] = field(default_factory=Counter)
    """Each unknown station/stop/trip id as ``kind:id`` -> how often it was seen (logged on first sight)."""
    last_ok: datetime | None = None
    _logged_kinds: Counter[str] = field(default_factory=Counter, repr=False, compare=False)
    """Per kind, how many distinct unknown ids were seen first (and logged while few)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def report(self, feed: str, problem: str | None, at: datetime | None = None) -> None:
        """The outcome of one poll of ``feed``: None when it was good, else what was wrong."""
        at = at or utc_now()
        with self._lock:
            self.counts["polls"] += 1
            if problem is None:
                self.problems.pop(feed, None)
                self.last_ok = at
            else:
                self.counts["failed_polls"] += 1
                self.problems[feed] = problem
            self._settle(at)

    def problem(self, name: str, problem: str | None, at: datetime | None = None) -> None:
        """A problem of the feed process itself, outside any one feed's poll (the adapter failed on a poll,
        the producer could not take an arrival): set, or cleared with None. No poll is counted."""
        at = at or utc_now()
        with self._lock:
            if problem is None:
                if self.problems.pop(name, None) is None:
                    return
            else:
                self.problems[name] = problem
            self._settle(at)

    def start_step(self, step: str, problem: str | None, at: datetime | None = None) -> None:
        """The outcome of one try of a start-up ``step`` (the static GTFS, Kafka's topics): no poll is
        counted, and once every step is done the feed is back to ``starting`` until its first good poll."""
        at = at or utc_now()
        with self._lock:
            if problem is None:
                self.problems.pop(step, None)
            else:
                self.problems[step] = problem
            self._settle(at)

    def _settle(self, at: datetime) -> None:
        if self.problems:
            reason = "; ".join(f"{feed}: {problem}" for feed, problem in sorted(self.problems.items()))
            if self.state != "degraded":
                log.warning("%s feed degraded: %s", self.source, reason)
                self.state, self.since = "degraded", at
            elif reason != self.reason:
                log.warning("%s feed still degraded: %s", self.source, reason)
            self.reason = reason
        else:
            # Healthy: ok once a poll was good; before that (a start-up step recovered) still starting.
            healthy: State = "ok" if self.last_ok is not None else "starting"
            if self.state == healthy:
                return
            if self.state == "degraded":
                log.info("%s feed recovered (degraded since %s)", self.source, self.since.isoformat(timespec="seconds"))
            self.state, self.reason, self.since = healthy, "" if healthy == "ok" else "no poll yet", at

    def unknown(self, kind: str, identifier: str, context: str = "") -> None:
        """An id the network does not have (counted, logged the first time; never guessed)."""
        key = f"{kind}:{identifier}"
        with self._lock:
            first = key not in self.unknown_ids
            self.counts[f"unknown_{kind}_ids"] += 1
            if not first or len(self.unknown_ids) < KEPT_UNKNOWN_IDS:
                self.unknown_ids[key] += 1
            else:
                self.counts["unknown_ids_not_kept"] += 1
            if first:
                self._logged_kinds[kind] += 1
            logged = self._logged_kinds[kind]
        # A static feed that does not match the realtime one makes every id unknown: a few lines say so.
        if first and logged <= LOGGED_UNKNOWN_IDS:
            log.warning("%s feed: unknown %s id %s%s (counted, not guessed)", self.source, kind, identifier, context)
            if logged == LOGGED_UNKNOWN_IDS:
                log.warning("%s feed: further unknown %s ids are counted, not logged", self.source, kind)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON types: what ``/healthz`` or the dashboard may show (no URL, no key)."""
        with self._lock:
            return {
                "source": self.source,
                "state": self.state,
                "reason": self.reason,
                "since": self.since.isoformat(timespec="seconds"),
                "last_ok": self.last_ok.isoformat(timespec="seconds") if self.last_ok else None,
                "problems": dict(self.problems),
                "counts": dict(self.counts),
                "unknown_ids": dict(self.unknown_ids.most_common(50)),
            }

    def write(self, path: Path) -> None:
        """The snapshot as JSON in ``path``, replaced atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(self.snapshot(), sort_keys=True))
        os.replace(scratch, path)


def read_health(path: Path) -> dict[str, Any] | None:
    """The health a running adapter last wrote, or None (none runs, or it has not polled yet)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
