"""A transit network as plain data. The engine only ever sees a :class:`Network`.

A network has lines (a colour, a train-id prefix), routes (one ordered station sequence each, with
the distance of every station from the first and the real platform stop id per direction),
stations (name, coordinates, which lines serve them, average daily entries per day type), an
hourly ridership profile, a day-type rule for its calendar and a climate. Each city supplies a
loader that builds one from its own data files (``cta.load_cta_network`` for Chicago).

Directions follow the seeds: 'a' runs from a route's first station to its last, 'b' comes back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from transit_status.simulation.events import Direction
from transit_status.simulation.weather import Climate

if TYPE_CHECKING:
    from transit_status.config import Settings

DayTypeRule = Callable[[date], str]


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
    day_types: tuple[str, ...]
    day_type_of: DayTypeRule
    """Which day type a local calendar date is (e.g. holidays count as Sundays)."""
    hourly_shares: tuple[float, ...]
    """Share of a day's entries in each local hour 0-23; sums to 1."""
    climate: Climate

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
        for station in self.stations.values():
            absent = set(self.day_types) - set(station.daily_entries)
            if absent:
                raise ValueError(f"station {station.station_id} has no entries for day types {sorted(absent)}")
        if len(self.hourly_shares) != 24 or not math.isclose(sum(self.hourly_shares), 1.0, abs_tol=1e-9):
            raise ValueError("hourly_shares needs 24 values summing to 1")
        ZoneInfo(self.timezone)  # fail early on a bad zone name

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

    def routes_of(self, line_id: str) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.line == line_id)


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


NETWORK_LOADERS: dict[str, str] = {"cta": "transit_status.simulation.cta:load_cta_network"}
"""Network name -> 'module:function' taking the network's data folder (imported on demand)."""


def load_network(name: str, data_dir: Path) -> Network:
    """Build network ``name`` (e.g. 'cta') from its data folder."""
    import importlib

    try:
        target = NETWORK_LOADERS[name]
    except KeyError:
        known = ", ".join(sorted(NETWORK_LOADERS))
        raise ValueError(f"unknown network {name!r} (known: {known})") from None
    module_name, _, function_name = target.partition(":")
    loader: Callable[[Path], Network] = getattr(importlib.import_module(module_name), function_name)
    return loader(data_dir)


def network_from_settings(settings: Settings) -> Network:
    """The network the settings select (``settings.network`` from ``settings.network_data_dir``)."""
    return load_network(settings.network, settings.network_data_dir)
