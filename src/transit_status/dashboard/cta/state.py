"""Chicago's live state, as a pure model: decoded records in, JSON-ready views and typed updates out.

No Kafka, no threads, no clock of its own (times are passed in), so every rule here is unit-tested
directly. The Kafka side (``consumer.py``) turns records into
:class:`~transit_status.dashboard.state.Received` changes; the hub (``hub.py``) applies them under a
lock and pushes the :data:`Update` that :meth:`DashboardState.apply` returns to the browsers. Each
update carries its coalescing ``key`` (later updates with the same key replace earlier ones within a
push) and its ``message()``, the JSON the page reads. What every page's state does alike (freshness,
``seq``, keyed upserts) is the shared :class:`~transit_status.dashboard.state.SequencedState`.

Rules:
* Stations: one per (line, station_id), shown per line by ``order`` (then id); a tombstone removes it.
* Trains: the latest arrival of a train wins; the table shows it at its station in column 'a' or 'b'.
* Turnstile entries: the latest count per station (the summary topic holds totals, not increments).
* Weather: the reading with the newest record timestamp wins (a topic may have several partitions).
* Freshness: per topic, the timestamp of the last good record and when it was received.
* Every change gets the next ``seq``; a snapshot carries the ``seq`` it includes, so a browser can
  drop updates it already has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from transit_status.dashboard.cta.map import NetworkMap
from transit_status.dashboard.state import Received, SequencedState, UpdateKey

TopicRole = Literal["stations", "arrivals", "turnstile_summary", "weather"]
TOPIC_ROLES: tuple[TopicRole, ...] = ("stations", "arrivals", "turnstile_summary", "weather")
DIRECTIONS = ("a", "b")
TRAIN_STATUSES = ("in_service", "broken_down", "out_of_service")

Locator = Callable[[int], tuple[float, float] | None]
"""station_id -> (x, y) on the map, or None when the station has no known coordinates."""


@dataclass(frozen=True, slots=True)
class Station:
    station_id: int
    station_name: str
    line: str
    order: int
    stops: dict[str, int | None] = field(default_factory=dict)
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Train:
    train_id: str
    line: str
    route: str
    station_id: int
    station_name: str
    direction: str
    train_status: str
    simulated_at: int
    """Simulated time of the arrival, epoch milliseconds."""
    produced_at: int
    """Wall clock when the producer sent it, epoch milliseconds (for end-to-end latency)."""
    stop_id: int | None = None
    prev_station_id: int | None = None
    """Where the train was reported before (None: its first report, where it was seen, not an arrival)."""


@dataclass(frozen=True, slots=True)
class TurnstileCount:
    station_id: int
    station_name: str
    count: int


@dataclass(frozen=True, slots=True)
class Weather:
    temperature: float
    status: str
    timestamp: int | None
    """The reading's own time (the record key), epoch milliseconds, if it had one."""


# ---- changes: what one good record means ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StationUpsert:
    station: Station


@dataclass(frozen=True, slots=True)
class StationRemoval:
    line: str
    station_id: int


@dataclass(frozen=True, slots=True)
class TrainArrival:
    train: Train


@dataclass(frozen=True, slots=True)
class TurnstileUpsert:
    count: TurnstileCount


@dataclass(frozen=True, slots=True)
class TurnstileRemoval:
    station_id: int


@dataclass(frozen=True, slots=True)
class WeatherUpdate:
    weather: Weather


Change = StationUpsert | StationRemoval | TrainArrival | TurnstileUpsert | TurnstileRemoval | WeatherUpdate


def train_json(train: Train, locate: Locator | None = None) -> dict[str, Any]:
    body = asdict(train)
    position = locate(train.station_id) if locate else None
    body["x"], body["y"] = position if position else (None, None)
    return body


# ---- updates: what the browsers are told ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StationShown:
    seq: int
    station: Station
    kind: ClassVar[str] = "station"

    @property
    def key(self) -> UpdateKey:
        return ("station", self.station.line, self.station.station_id)

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "station": asdict(self.station)}


@dataclass(frozen=True, slots=True)
class StationRemoved:
    seq: int
    line: str
    station_id: int
    kind: ClassVar[str] = "station_removed"

    @property
    def key(self) -> UpdateKey:
        return ("station", self.line, self.station_id)  # same key as StationShown: the latest of the two wins

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "line": self.line, "station_id": self.station_id}


@dataclass(frozen=True, slots=True)
class TrainMoved:
    seq: int
    train: Train
    position: tuple[float, float] | None
    live: bool
    """False while replaying the start-up history (not sent: the server's latency metric reads it)."""
    kind: ClassVar[str] = "train"

    @property
    def key(self) -> UpdateKey:
        return ("train", self.train.train_id)

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "train": train_json(self.train, lambda _: self.position)}


@dataclass(frozen=True, slots=True)
class TurnstileChanged:
    seq: int
    station_id: int
    count: int | None
    """None: the station's count was removed."""
    kind: ClassVar[str] = "turnstile"

    @property
    def key(self) -> UpdateKey:
        return ("turnstile", self.station_id)

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "station_id": self.station_id, "count": self.count}


@dataclass(frozen=True, slots=True)
class WeatherChanged:
    seq: int
    weather: dict[str, Any]
    kind: ClassVar[str] = "weather"

    @property
    def key(self) -> UpdateKey:
        return ("weather",)

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "weather": self.weather}


Update = StationShown | StationRemoved | TrainMoved | TurnstileChanged | WeatherChanged


class DashboardState(SequencedState[Change, Update]):
    """Stations, trains, turnstile counts, weather and freshness; see the module docstring."""

    def __init__(self, line_order: Iterable[str] = (), network_map: NetworkMap | None = None) -> None:
        super().__init__(TOPIC_ROLES)
        self.line_order: tuple[str, ...] = tuple(line_order)
        self.network_map = network_map
        self._stations: dict[str, dict[int, Station]] = {}
        self._trains: dict[str, Train] = {}
        self._turnstiles: dict[int, TurnstileCount] = {}
        self._weather: Weather | None = None
        self._weather_record_ms: int | None = None

    # ---- writes ----------------------------------------------------------------------------------
    def _change(self, received: Received[Change]) -> Update | None:
        change = received.change
        if isinstance(change, StationUpsert):
            return self._upsert_station(change.station)
        if isinstance(change, StationRemoval):
            return self._remove_station(change.line, change.station_id)
        if isinstance(change, TrainArrival):
            return self._move_train(change.train, received.live)
        if isinstance(change, TurnstileUpsert):
            return self._set_count(change.count)
        if isinstance(change, TurnstileRemoval):
            return self._remove_count(change.station_id)
        if isinstance(change, WeatherUpdate):
            return self._set_weather(change.weather, received.record_ms)
        raise TypeError(f"unknown change {change!r}")

    def _upsert_station(self, station: Station) -> Update | None:
        line = self._stations.setdefault(station.line, {})
        return self._upsert(line, station.station_id, station, lambda seq: StationShown(seq, station))

    def _remove_station(self, line: str, station_id: int) -> Update | None:
        held = self._stations.get(line, {})
        return self._remove(held, station_id, lambda seq: StationRemoved(seq, line, station_id))

    def _move_train(self, train: Train, live: bool) -> Update:
        self._trains[train.train_id] = train
        return TrainMoved(self._next_seq(), train, self.locate(train.station_id), live)

    def _set_count(self, count: TurnstileCount) -> Update | None:
        return self._upsert(
            self._turnstiles, count.station_id, count, lambda seq: TurnstileChanged(seq, count.station_id, count.count)
        )

    def _remove_count(self, station_id: int) -> Update | None:
        return self._remove(self._turnstiles, station_id, lambda seq: TurnstileChanged(seq, station_id, None))

    def _set_weather(self, weather: Weather, record_ms: int | None) -> Update | None:
        if self._weather_record_ms is not None and record_ms is not None and record_ms < self._weather_record_ms:
            return None  # an older reading from another partition
        self._weather = weather
        if record_ms is not None:
            self._weather_record_ms = record_ms
        shown = self.weather()
        assert shown is not None
        return WeatherChanged(self._next_seq(), shown)

    # ---- reads -----------------------------------------------------------------------------------
    def locate(self, station_id: int) -> tuple[float, float] | None:
        """Where a station is drawn: its reference coordinates (the ones the line shapes agree with),
        else the coordinates its stations record carries; None if neither is known."""
        if self.network_map is None:
            return None
        position = self.network_map.locate(station_id)
        if position is not None:
            return position
        for line in self._stations.values():
            station = line.get(station_id)
            if station is not None and station.latitude is not None and station.longitude is not None:
                return self.network_map.projection.project(station.latitude, station.longitude)
        return None

    def lines(self) -> list[str]:
        """Known lines first in their usual order, then any other line that has stations."""
        extra = sorted(line for line in self._stations if line not in self.line_order and self._stations[line])
        return [*self.line_order, *extra]

    def stations(self, line: str) -> list[Station]:
        return sorted(self._stations.get(line, {}).values(), key=lambda s: (s.order, s.station_id))

    def trains(self) -> list[Train]:
        return sorted(self._trains.values(), key=lambda t: t.train_id)

    def train(self, train_id: str) -> Train | None:
        return self._trains.get(train_id)

    def trains_json(self) -> list[dict[str, Any]]:
        return [train_json(train, self.locate) for train in self.trains()]

    def turnstiles(self) -> dict[int, int]:
        return {station_id: entry.count for station_id, entry in sorted(self._turnstiles.items())}

    def weather(self) -> dict[str, Any] | None:
        if self._weather is None:
            return None
        return {**asdict(self._weather), "record_at": self._weather_record_ms}

    def status_rows(self) -> list[dict[str, Any]]:
        """The seeds' status table: per line, per station in order, trains each way and entries."""
        at: dict[tuple[str, int, str], list[str]] = {}
        for train in self.trains():
            at.setdefault((train.line, train.station_id, train.direction), []).append(train.train_id)
        rows = []
        for line in self.lines():
            for station in self.stations(line):
                rows.append(
                    {
                        "line": line,
                        "station_id": station.station_id,
                        "station_name": station.station_name,
                        "order": station.order,
                        "trains_a": at.get((line, station.station_id, "a"), []),
                        "trains_b": at.get((line, station.station_id, "b"), []),
                        "turnstile_entries": self._count_of(station.station_id),
                    }
                )
        return rows

    def _count_of(self, station_id: int) -> int | None:
        entry = self._turnstiles.get(station_id)
        return entry.count if entry else None

    def _station_json(self, station: Station) -> dict[str, Any]:
        return asdict(station)

    def stations_json(self) -> list[dict[str, Any]]:
        return [
            {"line": line, "stations": [self._station_json(station) for station in self.stations(line)]}
            for line in self.lines()
        ]

    def _views(self) -> dict[str, Any]:
        """The map and the table's data (the browser builds the table itself)."""
        return {
            "stations": self.stations_json(),
            "trains": self.trains_json(),
            "turnstiles": {str(k): v for k, v in self.turnstiles().items()},
            "weather": self.weather(),
        }
