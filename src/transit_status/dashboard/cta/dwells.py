"""Chicago's dwell times on the page: how long trains stand at each platform, from the service-health job.

The Flink SQL job ``cta-service-health`` writes one record per stop to the dwells topic (line, station,
direction, train, arrived and departed, ``dwell_s``: network seconds), known when the train reaches its
next station; a feed without departure times gives none. :class:`Dwells` keeps each platform's latest
``DWELL_SAMPLES`` and answers with their median: per platform on ``/api/dwells`` and a station's board,
per line (the median of its platforms') on the health strip. Pure: fed by ``ServiceHealthConsumer``.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transit_status.avro.wire import BadRecord

DWELL_SAMPLES = 12
"""The stops a platform's typical dwell is the median of: a few trains, so it follows a slow-down."""
MAX_DWELL_S = 6 * 3600.0
"""A dwell longer than this (network seconds) is no stop but a broken record."""

Platform = tuple[str, int, str]
"""(line, station_id, direction)"""


@dataclass(frozen=True, slots=True)
class Dwell:
    line: str
    station_id: int
    station_name: str
    direction: str
    train_id: str
    departed_ms: int
    dwell_s: float

    @property
    def platform(self) -> Platform:
        return (self.line, self.station_id, self.direction)


def dwell_of(record: Mapping[str, Any]) -> Dwell:
    """One dwell record (the job's JSON value, parsed), or :class:`BadRecord` saying what is wrong."""
    try:
        dwell = Dwell(
            line=str(record["line"]),
            station_id=int(record["station_id"]),
            station_name=str(record.get("station_name") or ""),
            direction=str(record["direction"]),
            train_id=str(record.get("train_id") or ""),
            departed_ms=int(record["departed_ms"]),
            dwell_s=float(record["dwell_s"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BadRecord(f"not a dwell: {type(error).__name__}: {error}") from None
    if not 0 <= dwell.dwell_s <= MAX_DWELL_S:
        raise BadRecord(f"not a dwell: dwell_s {dwell.dwell_s} is outside 0..{MAX_DWELL_S:.0f} s")
    return dwell


class Dwells:
    """Each platform's latest dwells and their median (a pure model)."""

    def __init__(self, line_order: Iterable[str] = ()) -> None:
        self.line_order = tuple(line_order)
        self._samples: dict[Platform, deque[float]] = {}
        self._names: dict[int, str] = {}

    def apply(self, dwell: Dwell) -> None:
        samples = self._samples.setdefault(dwell.platform, deque(maxlen=DWELL_SAMPLES))
        samples.append(dwell.dwell_s)
        if dwell.station_name:
            self._names[dwell.station_id] = dwell.station_name

    def typical_s(self, platform: Platform) -> float | None:
        samples = self._samples.get(platform)
        return round(statistics.median(samples), 1) if samples else None

    def by_line(self) -> dict[str, float]:
        """Per line, the median of its platforms' typical dwells."""
        typical: dict[str, list[float]] = {}
        for (line, _, _), samples in self._samples.items():
            typical.setdefault(line, []).append(statistics.median(samples))
        return {line: round(statistics.median(values), 1) for line, values in typical.items()}

    def as_json(self) -> list[dict[str, Any]]:
        """Every platform with a dwell: line order, then station name, then direction."""
        rank = {line: n for n, line in enumerate(self.line_order)}
        rows = [
            {
                "line": line,
                "station_id": station_id,
                "station_name": self._names.get(station_id, ""),
                "direction": direction,
                "dwell_s": round(statistics.median(samples), 1),
                "longest_s": round(max(samples), 1),
                "samples": len(samples),
            }
            for (line, station_id, direction), samples in self._samples.items()
        ]
        return sorted(
            rows, key=lambda r: (rank.get(r["line"], len(rank)), r["line"], r["station_name"], r["direction"])
        )
