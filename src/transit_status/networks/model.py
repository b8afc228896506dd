"""A transit network as plain data, loaded once per process by its loader (see ``networks/__init__.py``).

A network has lines (a colour, a train-id prefix), stops (one platform each: the station it belongs
to, the way it faces, the services that may call there), stations (name, coordinates, which lines
serve them, average daily entries per day type; exits, fare zone and TfL's nlc where the data has
them), routes (one ordered station sequence each, with the distance of every station from the first
and the platform stop id per direction), line shapes for drawing the map, and the network's calendar
(day types, the rule that picks one for a date, the hourly share of a day's entries, per day type
where they differ). Every layer reads the same object: PostgreSQL's initial stations table, the
simulation, the stations transform and the dashboard's map. London has no routes, stops or shapes:
its data has no station order along the lines.

Directions follow the seeds: 'a' runs from a route's first station to its last, 'b' comes back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

Direction = Literal["a", "b"]
"""'a' along a route's station order (from its first station), 'b' back towards it."""

DayTypeRule = Callable[[date], str]


@dataclass(frozen=True)
class Agency:
    """Who runs a network, as a GTFS ``agency.txt`` row names it (what our ``/gtfs/static.zip`` publishes)."""

    name: str
    url: str
    agency_id: str = "1"
    lang: str = "en"


@dataclass(frozen=True, slots=True)
class Line:
    line_id: str
    """Lower-case colour/name used in events, e.g. 'red'."""
    name: str
    train_prefix: str
    """Train ids are this prefix plus a 3-digit number, e.g. 'RL001'; unique per network."""
    colour: str
    """Display colour, '#rrggbb'."""


@dataclass(frozen=True, slots=True)
class Station:
    station_id: int
    name: str
    descriptive_name: str
    latitude: float
    longitude: float
    lines: tuple[str, ...]
    """Line ids of the routes that call here, in the network's line order."""
    daily_entries: Mapping[str, float]
    """Average entries per day, by day type (see :attr:`Network.day_types`)."""
    daily_exits: Mapping[str, float] = field(default_factory=dict)
    """Average exits per day, by day type; empty where the data counts entries only (CTA)."""
    nlc: int | None = None
    """TfL's National Location Code, where the network has one."""
    zone: str | None = None
    """Fare zone as published, e.g. '2,3' for a boundary station; None where the network has no zones."""

    @property
    def zones(self) -> tuple[int, ...]:
        """The fare zones the station is in, e.g. (2, 3); empty without zones."""
        return tuple(int(part) for part in self.zone.split(",")) if self.zone else ()


@dataclass(frozen=True, slots=True)
class Stop:
    """One platform of a station: trains calling here go one way."""

    stop_id: int
    station_id: int
    direction_id: str
    """The compass letter (N, S, E, W) trains leaving this platform head to."""
    name: str
    """e.g. 'Howard (95th-bound)'."""
    station_name: str
    station_descriptive_name: str
    services: frozenset[str]
    """Services that may call here (keys of :attr:`Network.services`)."""
    accessible: bool
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class LineShape:
    """The track of a line (or one branch of it) as drawn on the map."""

    line: str
    branch: str
    points: tuple[tuple[float, float], ...]
    """(latitude, longitude) in drawing order."""


@dataclass(frozen=True, slots=True)
class RouteStop:
    station_id: int
    km: float
    """Distance along the route from its first station."""
    stop_id_a: int | None
    stop_id_b: int | None

    def stop_id(self, direction: Direction) -> int | None:
        return self.stop_id_a if direction == "a" else self.stop_id_b


@dataclass(frozen=True, slots=True)
class ServiceWindow:
    """Local hours [start_hour, end_hour) on the listed day types during which trips may start."""

    day_types: frozenset[str]
    start_hour: float
    end_hour: float

    def covers(self, day_type: str, hour: float) -> bool:
        return day_type in self.day_types and self.start_hour <= hour < self.end_hour


@dataclass(frozen=True, slots=True)
class Route:
    """One way trains run: 'a' along ``stops`` in order, then 'b' back the same way."""

    route_id: str
    line: str
    name: str
    stops: tuple[RouteStop, ...]
    headway_s: float
    """Target time between trains; the fleet is sized from it."""
    service_windows: tuple[ServiceWindow, ...] = ()
    """Empty: runs all day, every day. Otherwise trips only start (at the first station) inside them."""
    ends_on_loop: bool = False
    """The last stop is the end of a loop (e.g. Chicago's Loop): trains turn back there."""

    def __post_init__(self) -> None:
        if len(self.stops) < 2:
            raise ValueError(f"route {self.route_id} needs at least two stops")
        if any(b.km < a.km for a, b in zip(self.stops, self.stops[1:], strict=False)):
            raise ValueError(f"route {self.route_id}: distances must not decrease along the route")
        if self.headway_s <= 0:
            raise ValueError(f"route {self.route_id}: headway must be positive")

    @property
    def station_ids(self) -> tuple[int, ...]:
        return tuple(stop.station_id for stop in self.stops)

    @property
    def length_km(self) -> float:
        return self.stops[-1].km - self.stops[0].km

    @property
    def part_time(self) -> bool:
        return bool(self.service_windows)

    def runs_at(self, day_type: str, hour: float) -> bool:
        if not self.service_windows:
            return True
        return any(window.covers(day_type, hour) for window in self.service_windows)


@dataclass(frozen=True)
class Network:
    name: str
    timezone: str
    lines: tuple[Line, ...]
    routes: tuple[Route, ...]
    stations: Mapping[int, Station]
    """By station id, in ascending order."""
    stops: Mapping[int, Stop]
    """Every platform, by stop id in ascending order; also those no route uses."""
    services: Mapping[str, str]
    """Service -> the line it runs on; a line may have several (Chicago's Purple Line and its Express)."""
    shapes: tuple[LineShape, ...]
    """Drawing order: by line (network order), then branch."""
    day_types: tuple[str, ...]
    day_type_of: DayTypeRule
    """Which day type a local calendar date is (e.g. holidays count as Sundays)."""
    hourly_shares: tuple[float, ...]
    """Share of a day's entries in each local hour 0-23; sums to 1."""
    hourly_shares_by_day_type: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """Day types whose hours differ from :attr:`hourly_shares` (e.g. London's weekends have no peaks)."""
    agency: Agency | None = None
    """Who runs it (a static GTFS's ``agency.txt``, or the loader's own); None: not known."""

    def __post_init__(self) -> None:
        line_ids = [line.line_id for line in self.lines]
        _unique("line id", line_ids)
        _unique("train prefix", [line.train_prefix for line in self.lines])
        _unique("route id", [route.route_id for route in self.routes])
        for route in self.routes:
            if route.line not in line_ids:
                raise ValueError(f"route {route.route_id} is on unknown line {route.line!r}")
            missing = [sid for sid in route.station_ids if sid not in self.stations]
            if missing:
                raise ValueError(f"route {route.route_id} calls at unknown stations {missing}")
        for stop in self.stops.values():
            if stop.station_id not in self.stations:
                raise ValueError(f"stop {stop.stop_id} belongs to unknown station {stop.station_id}")
            unknown_services = stop.services - set(self.services)
            if unknown_services:
                raise ValueError(f"stop {stop.stop_id} has unknown services {sorted(unknown_services)}")
        for shape in self.shapes:
            if shape.line not in line_ids:
                raise ValueError(f"a shape of branch {shape.branch!r} is on unknown line {shape.line!r}")
        for service, line_id in self.services.items():
            if line_id not in line_ids:
                raise ValueError(f"service {service!r} runs on unknown line {line_id!r}")
        for station in self.stations.values():
            absent = set(self.day_types) - set(station.daily_entries)
            if absent:
                raise ValueError(f"station {station.station_id} has no entries for day types {sorted(absent)}")
            if station.daily_exits and set(self.day_types) - set(station.daily_exits):
                raise ValueError(f"station {station.station_id} has exits for some day types only")
        day_type_shares = {f"hourly_shares of {day_type}": s for day_type, s in self.hourly_shares_by_day_type.items()}
        for name, shares in {"hourly_shares": self.hourly_shares, **day_type_shares}.items():
            if len(shares) != 24 or not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
                raise ValueError(f"{name} needs 24 values summing to 1")
        unknown_day_types = set(self.hourly_shares_by_day_type) - set(self.day_types)
        if unknown_day_types:
            raise ValueError(f"hourly shares for unknown day types {sorted(unknown_day_types)}")
        ZoneInfo(self.timezone)  # fail early on a bad zone name

    def hourly_shares_on(self, day_type: str) -> tuple[float, ...]:
        """Share of a day's entries in each local hour on a day of ``day_type``."""
        return self.hourly_shares_by_day_type.get(day_type, self.hourly_shares)

    def line(self, line_id: str) -> Line:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise KeyError(line_id)

    def route(self, route_id: str) -> Route:
        for route in self.routes:
            if route.route_id == route_id:
                return route
        raise KeyError(route_id)

    @property
    def line_ids(self) -> tuple[str, ...]:
        """Line ids in the network's order (the order lines are listed and drawn in)."""
        return tuple(line.line_id for line in self.lines)

    def stops_of(self, station_id: int) -> tuple[Stop, ...]:
        return tuple(stop for stop in self.stops.values() if stop.station_id == station_id)

    def line_orders(self) -> dict[tuple[str, int], int]:
        """(line, station_id) -> the station's position on that line.

        A station on several routes of a line (branches) takes its position on the first route
        (in network order) that calls there.
        """
        orders: dict[tuple[str, int], int] = {}
        for route in self.routes:
            for position, station_id in enumerate(route.station_ids):
                orders.setdefault((route.line, station_id), position)
        return orders


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
