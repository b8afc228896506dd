"""Simulated time as float seconds since the engine's start instant, and the local calendar.

The engine keeps time as seconds since its start (fast, exact enough, step-size independent) and
only builds datetimes for events. Local wall-clock questions (which hour of the ridership curve,
which day type, is the Purple Express running) go through the network's time zone, so DST days
have 23/25 hours like the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo


def as_utc(moment: datetime, local_zone: tzinfo) -> datetime:
    """An aware UTC datetime; a naive ``moment`` is read as wall-clock time in ``local_zone``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone)
    return moment.astimezone(UTC)


class TimeBase:
    """Converts between engine seconds, UTC datetimes and the network's local calendar."""

    __slots__ = ("_day_type_cache", "_epoch_ts", "day_type_of", "epoch", "zone")

    def __init__(self, epoch: datetime, zone: str | tzinfo, day_type_of: Callable[[date], str]) -> None:
        self.zone: tzinfo = ZoneInfo(zone) if isinstance(zone, str) else zone
        self.epoch: datetime = as_utc(epoch, self.zone)
        self._epoch_ts = self.epoch.timestamp()
        self.day_type_of = day_type_of
        self._day_type_cache: dict[date, str] = {}

    def to_datetime(self, seconds: float) -> datetime:
        # fromtimestamp is ~2.5x faster than epoch + timedelta; both round to the microsecond.
        return datetime.fromtimestamp(self._epoch_ts + seconds, UTC)

    def to_seconds(self, moment: datetime) -> float:
        return (as_utc(moment, self.zone) - self.epoch).total_seconds()

    def local(self, seconds: float) -> datetime:
        return self.to_datetime(seconds).astimezone(self.zone)

    def day_type(self, day: date) -> str:
        cached = self._day_type_cache.get(day)
        if cached is None:
            cached = self._day_type_cache[day] = self.day_type_of(day)
        return cached

    def local_seconds(self, day: date, hour: float) -> float:
        """Engine seconds of ``hour`` (may be fractional) o'clock local time on ``day``."""
        whole = int(hour)
        wall = datetime(day.year, day.month, day.day, whole, tzinfo=self.zone)
        return self.to_seconds(wall) + (hour - whole) * 3600.0

    def next_local_hour(self, seconds: float) -> float:
        """Engine seconds of the first top of a local hour strictly after ``seconds``."""
        local = self.local(seconds)
        into_hour = local.minute * 60 + local.second + local.microsecond / 1e6
        return seconds + (3600.0 - into_hour)
