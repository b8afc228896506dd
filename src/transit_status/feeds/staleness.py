"""A feed that answers but stops advancing: its own timestamp stands still for N polls (stale)."""

from __future__ import annotations

from datetime import datetime


class Staleness:
    """Watches a feed's own timestamp (GTFS-realtime's header timestamp, Train Tracker's ``tmst``).

    :meth:`observe` returns the problem to report ("stale: ...") once the timestamp has not advanced
    for ``polls`` polls in a row, else None. A timestamp that goes back counts as not advancing: the
    feed is serving an older copy (a cache, a failed-over server).
    """

    def __init__(self, polls: int) -> None:
        self.polls = polls
        self.newest: datetime | None = None
        self.standing = 0

    def observe(self, timestamp: datetime | None) -> str | None:
        if timestamp is None:
            return None  # nothing to judge by (a feed without header timestamps)
        if self.newest is None or timestamp > self.newest:
            self.newest, self.standing = timestamp, 0
            return None
        self.standing += 1
        if self.standing < self.polls:
            return None
        went_back = " (it went back)" if timestamp < self.newest else ""
        return (
            f"stale: its timestamp {timestamp.isoformat(timespec='seconds')} has not advanced past "
            f"{self.newest.isoformat(timespec='seconds')} for {self.standing} polls{went_back}"
        )
