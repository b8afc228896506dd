"""What the simulation emits: plain, frozen values with a simulated timestamp each.

Every ``at`` is a timezone-aware datetime in UTC (an unambiguous instant; convert with
``at.astimezone(ZoneInfo(network.timezone))`` for the network's local wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from transit_status.networks.model import Direction

DIRECTIONS: tuple[Direction, Direction] = ("a", "b")


def opposite(direction: Direction) -> Direction:
    return "b" if direction == "a" else "a"


class TrainStatus(StrEnum):
    IN_SERVICE = "in_service"
    BROKEN_DOWN = "broken_down"
    OUT_OF_SERVICE = "out_of_service"


class WeatherStatus(StrEnum):
    SUNNY = "sunny"
    PARTLY_CLOUDY = "partly_cloudy"
    CLOUDY = "cloudy"
    WINDY = "windy"
    PRECIPITATION = "precipitation"


@dataclass(frozen=True, slots=True)
class ArrivalEvent:
    """A train is at a station's platform for ``direction``.

    ``prev_station_id``/``prev_direction`` are where the train was reported last (so a consumer can
    clear it there); both are None for a train's first report. At a terminal the train is reported
    twice: arriving (old direction), then, after its layover, on the departure side (new direction,
    ``prev_station_id`` = the same station).
    """

    station_id: int
    station_name: str
    train_id: str
    direction: Direction
    line: str
    route: str
    train_status: TrainStatus
    prev_station_id: int | None
    prev_direction: Direction | None
    stop_id: int | None
    at: datetime
    prev_departed_at: datetime | None = None
    """When the train left ``prev_station_id`` (so its dwell there is known once it arrives here); None
    for a train's first two reports (it was placed, not seen arriving), after waiting out of service,
    and from feeds that do not report departures."""


@dataclass(frozen=True, slots=True)
class TurnstileEvent:
    """One passenger entering a station (attributed to one of the station's lines)."""

    station_id: int
    station_name: str
    line: str
    at: datetime


@dataclass(frozen=True, slots=True)
class WeatherReading:
    temperature_f: float
    status: WeatherStatus
    at: datetime


Event = ArrivalEvent | TurnstileEvent | WeatherReading
