"""What the London page draws and compares with: the Underground's stations, its lines, a typical day.

Pure (the network in, JSON-ready data out), from :func:`transit_status.networks.load_network_from`
``("tfl", ...)``: 270 stations with coordinates, zones, lines and TfL's typical-day counts.

**Lines.** TfL's data has no station order along a line, so each line is drawn as the *minimum
spanning tree* of its stations (straight-line distance on the map): every station of the line is
connected, branches come out as branches (a nearest-neighbour path would zigzag between them), and
only a loop (the Circle) misses its one closing link. A link several lines share is drawn as
parallel strands, one per line, like the Tube map.

**Crowding against a typical day.** A station's entries counted today so far, against what a
typical day of today's day type (TfL's 2023 counts, ``Station.daily_entries``) has by the same time:
its daily entries x the network's hourly shares over the counted period x the simulated share of
travellers (``settings.london_barrier_scale``). The counted period starts at the later of local
midnight and the first event of the day, so a pipeline started at noon is not called quiet; the
simulation runs ``settings.simulation_speed`` times faster than the clock, so the typical-day period
it is compared with is that many times longer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from transit_status.dashboard.projection import Projection
from transit_status.networks import Network, Station

STRAND_SPACING = 1.7
"""Map units between the parallel strands of lines sharing a link."""
CROWDING_MIN_EXPECTED = 20.0
"""Stations expecting fewer entries so far are left out of the crowding ranking (ratios of tiny numbers)."""
CROWDING_COUNT = 10

Point = tuple[float, float]


def spanning_tree(points: list[Point]) -> list[tuple[int, int]]:
    """The edges (index pairs) of the Euclidean minimum spanning tree of ``points`` (Prim, O(n²))."""
    if len(points) < 2:
        return []
    inside = [False] * len(points)
    best = [math.inf] * len(points)
    parent = [-1] * len(points)
    best[0] = 0.0
    edges: list[tuple[int, int]] = []
    for _ in points:
        current = min((i for i in range(len(points)) if not inside[i]), key=best.__getitem__)
        inside[current] = True
        if parent[current] >= 0:
            edges.append((parent[current], current))
        for other, point in enumerate(points):
            if not inside[other]:
                distance = math.dist(points[current], point)
                if distance < best[other]:
                    best[other], parent[other] = distance, current
    return edges


def _offset(a: Point, b: Point, by: float) -> tuple[Point, Point]:
    """The segment a-b moved ``by`` map units to its left (a strand beside the others)."""
    length = math.dist(a, b) or 1.0
    nx, ny = -(b[1] - a[1]) / length * by, (b[0] - a[0]) / length * by
    return (round(a[0] + nx, 1), round(a[1] + ny, 1)), (round(b[0] + nx, 1), round(b[1] + ny, 1))


@dataclass(frozen=True)
class LondonMap:
    network: Network
    projection: Projection
    scale: float = 1.0
    """Share of TfL's travellers the barrier simulation produces (typical days are scaled by it)."""
    speed: float = 1.0
    """Simulated seconds per real second of the barrier simulation."""

    @classmethod
    def of(cls, network: Network, scale: float = 1.0, speed: float = 1.0) -> LondonMap:
        points = [(station.latitude, station.longitude) for station in network.stations.values()]
        return cls(network, Projection.fit(points), scale, speed)

    @cached_property
    def by_name(self) -> dict[str, Station]:
        return {station.name: station for station in self.network.stations.values()}

    def position(self, station: Station) -> Point:
        return self.projection.project(station.latitude, station.longitude)

    @cached_property
    def links(self) -> dict[str, list[tuple[Station, Station]]]:
        """Per line, the station pairs its spanning tree connects."""
        links: dict[str, list[tuple[Station, Station]]] = {}
        for line in self.network.lines:
            stations = sorted(
                (s for s in self.network.stations.values() if line.line_id in s.lines), key=lambda s: s.station_id
            )
            tree = spanning_tree([self.position(station) for station in stations])
            links[line.line_id] = [(stations[a], stations[b]) for a, b in tree]
        return links

    def segments(self) -> list[dict[str, Any]]:
        """Every line's links as drawable segments; a link several lines share becomes parallel strands."""
        sharing: dict[frozenset[int], list[str]] = {}
        for line_id, pairs in self.links.items():
            for a, b in pairs:
                sharing.setdefault(frozenset((a.station_id, b.station_id)), []).append(line_id)
        segments = []
        for line_id, pairs in self.links.items():
            for a, b in pairs:
                # Orient every shared link the same way so "left" means the same side for each strand.
                first, second = sorted((a, b), key=lambda s: s.station_id)
                lines = sharing[frozenset((a.station_id, b.station_id))]
                shift = (lines.index(line_id) - (len(lines) - 1) / 2) * STRAND_SPACING
                start, end = _offset(self.position(first), self.position(second), shift)
                segments.append({"line": line_id, "from": list(start), "to": list(end)})
        return segments

    def as_json(self, day_type: str) -> dict[str, Any]:
        """The map as the London page draws it (``/api/london/map``); typical counts of ``day_type``."""
        return {
            "width": self.projection.width,
            "height": self.projection.height,
            "day_type": day_type,
            "lines": [{"line": line.line_id, "name": line.name, "colour": line.colour} for line in self.network.lines],
            "segments": self.segments(),
            "stations": [
                {
                    "name": station.name,
                    "nlc": station.nlc,
                    "zone": station.zone,
                    "lines": list(station.lines),
                    "x": xy[0],
                    "y": xy[1],
                    "typical_entries": round(station.daily_entries.get(day_type, 0.0) * self.scale),
                    "typical_exits": round(station.daily_exits.get(day_type, 0.0) * self.scale),
                }
                for station in sorted(self.network.stations.values(), key=lambda s: s.name)
                for xy in [self.position(station)]
            ],
        }

    # ---- a typical day ---------------------------------------------------------------------------
    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.network.timezone)

    def local_midnight(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.timezone)
        return datetime.combine(local.date(), time(0), self.timezone)

    def day_type(self, moment: datetime) -> str:
        return self.network.day_type_of(moment.astimezone(self.timezone).date())

    def typical_shares(self, since: datetime, until: datetime) -> dict[str, float]:
        """Per day type, the share of a typical day's entries that falls between ``since`` and ``until``
        (local hours; a period over midnight adds up the shares of each day's own day type)."""
        shares: dict[str, float] = {}
        hour_start = since.astimezone(self.timezone).replace(minute=0, second=0, microsecond=0)
        while hour_start < until:
            hour_end = hour_start + timedelta(hours=1)
            overlap = (min(until, hour_end) - max(since, hour_start)) / timedelta(hours=1)
            if overlap > 0:
                day_type = self.day_type(hour_start)
                hourly = self.network.hourly_shares_on(day_type)[hour_start.astimezone(self.timezone).hour]
                shares[day_type] = shares.get(day_type, 0.0) + hourly * overlap
            hour_start = hour_end
        return shares

    def crowding(
        self, entries_today: Mapping[str, int], counting_since: datetime | None, now: datetime
    ) -> dict[str, Any]:
        """Today's entries per station against a typical day over the same period; most crowded first.

        The simulation runs ``speed`` times faster than the clock, so the period it covered is
        ``speed`` times the one counted: that is the typical-day period compared with.
        """
        midnight = self.local_midnight(now)
        since = max(counting_since, midnight) if counting_since is not None else midnight
        simulated_until = since + (now - since) * self.speed
        shares = self.typical_shares(since, simulated_until)
        rows = []
        network_entries = network_expected = 0.0
        for name, station in self.by_name.items():
            expected = self.scale * sum(station.daily_entries.get(dt, 0.0) * share for dt, share in shares.items())
            entries = entries_today.get(name, 0)
            network_entries += entries
            network_expected += expected
            if expected >= CROWDING_MIN_EXPECTED:
                rows.append(
                    {
                        "station": name,
                        "zone": station.zone,
                        "entries": entries,
                        "expected": round(expected),
                        "ratio": round(entries / expected, 2),
                    }
                )
        rows.sort(key=lambda row: (-row["ratio"], row["station"]))
        return {
            "day_type": self.day_type(simulated_until),
            "since": int(since.timestamp() * 1000),
            "as_of": int(now.timestamp() * 1000),
            "network": {
                "entries": round(network_entries),
                "expected": round(network_expected),
                "ratio": round(network_entries / network_expected, 2) if network_expected else None,
            },
            "stations": rows[:CROWDING_COUNT],
        }
