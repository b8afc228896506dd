"""Stations transform: raw Connect rows (one per stop) → one record per (line, station).

The raw topic carries one flat row of table ``stations`` per stop (a station has a stop per
platform direction, and a stop can serve several lines). The output, compacted on
``settings.topic_stations``, holds one record per (line, station) with the station's position on
that line and the stop of each direction (docs/ARCHITECTURE.md).

State, in memory (:class:`StationsTransform`):

* ``records``: (line, station) → the output record being merged from its stops;
* ``placements``: stop → the station, direction and lines it was last seen with, so an
  update that moves a stop, changes its lines, or deletes it removes it from the records it no
  longer belongs to.

The state is a function of the raw topic alone, rebuilt by reading it from the beginning on every
start, like a Kafka Streams global table: the worker commits no offsets. Faust's commits are not
safe at a stop (a record the stream skips once its flow is suspended is acked, and committed, without
being processed), and neither are its table changelogs (a flush gives up after 0.1 s). The raw topic
is compacted reference data (one row per stop, 300 rows), so the replay costs under a second.

A row deleted in PostgreSQL reaches the raw topic as a value of JSON ``null``: Debezium's
new-record-state transform keeps the value schema on the delete, so Connect's JsonConverter writes
``null`` instead of leaving the value empty. Both it and a real tombstone (no value) delete the stop;
the last stop of a (line, station) turns that record into a tombstone on ``topic_stations``.

Publishing a record again after a restart is harmless: every write is an absolute upsert.

Another agency (``--source gtfs-rt``, or its replay) has no stations table: PostgreSQL's rows are
Chicago's. Its (line, station) records come from its static GTFS instead (:func:`network_records`, the
network :func:`~transit_status.networks.load_network` returns), published once at every start, as soon
as the feed has saved that static GTFS (the worker waits for it, and says so, never exits); the raw
topic is still read (the worker's group is what ``run`` and the watchdog watch) but its rows are
left aside.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import EventT, StreamT

from transit_status.config import Settings
from transit_status.networks import Direction, Network, load_network, static_gtfs_location
from transit_status.networks.saved_gtfs import when_ready
from transit_status.streams.dead_letters import send_dead_letter
from transit_status.streams.inputs import contract_input

log = logging.getLogger(__name__)

CONSUMER_NAME = "streams.stations"
DIRECTIONS: tuple[Direction, ...] = ("a", "b")
# Flag column of the raw row → the line it puts the stop on (both purple columns mean "purple").
LINE_OF_FLAG = {
    "red": "red",
    "blue": "blue",
    "green": "green",
    "brown": "brown",
    "purple": "purple",
    "purple_express": "purple",
    "yellow": "yellow",
    "pink": "pink",
    "orange": "orange",
}
OUT_OF_SEQUENCE_WARNINGS = 100
"""Stations out of their line's sequence each warned of once, up to this many (bad rows are unbounded)."""
REQUIRED_FIELDS = {
    "stop_id": int,
    "direction_id": str,
    "station_id": int,
    "station_name": str,
    "latitude": (int, float),
    "longitude": (int, float),
    **dict.fromkeys(LINE_OF_FLAG, bool),
}


class BadStationRow(ValueError):
    """A raw record that is not a stations row; the message is the dead-letter reason."""


@dataclass(frozen=True)
class StopRow:
    """The parts of a raw stations row the transform uses."""

    stop_id: int
    direction_id: str
    station_id: int
    station_name: str
    latitude: float
    longitude: float
    lines: frozenset[str]


def parse_stop_key(key: bytes | None) -> int:
    try:
        decoded = json.loads(key) if key else None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadStationRow(f"key is not JSON: {error}") from None
    if not isinstance(decoded, dict) or type(decoded.get("stop_id")) is not int:
        raise BadStationRow('key is not {"stop_id": int}')
    return decoded["stop_id"]


def parse_stop_row(value: bytes | None) -> StopRow | None:
    """The stop a raw value describes, or None when it says the row was deleted (no value, JSON null)."""
    if not value:
        return None
    try:
        row = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadStationRow(f"value is not JSON: {error}") from None
    if row is None:
        return None
    if not isinstance(row, dict):
        raise BadStationRow(f"value is a JSON {type(row).__name__}, not a stations row object")
    missing = sorted(name for name in REQUIRED_FIELDS if row.get(name) is None)
    if missing:
        raise BadStationRow(f"stations row lacks {', '.join(missing)}")
    wrong = sorted(
        name
        for name, kind in REQUIRED_FIELDS.items()
        # bool is an int in Python: an int column must not accept true/false.
        if not isinstance(row[name], kind) or (kind is int and isinstance(row[name], bool))
    )
    if wrong:
        raise BadStationRow(f"stations row has wrongly typed {', '.join(wrong)}")
    return StopRow(
        stop_id=row["stop_id"],
        direction_id=row["direction_id"].strip(),
        station_id=row["station_id"],
        station_name=row["station_name"],
        latitude=float(row["latitude"]),
        longitude=float(row["longitude"]),
        lines=frozenset(line for flag, line in LINE_OF_FLAG.items() if row[flag]),
    )


def output_key(line: str, station_id: int) -> bytes:
    return json.dumps({"line": line, "station_id": station_id}, separators=(",", ":")).encode()


def table_key(line: str, station_id: int) -> str:
    return f"{line}:{station_id}"


class StationsTransform:
    """Merges stop rows into (line, station) records; the pure part of the agent below."""

    def __init__(self, line_orders: Mapping[tuple[str, int], int]) -> None:
        """``line_orders``: (line, station_id) -> position on the line (``Network.line_orders()``)."""
        self.line_orders = line_orders
        self.records: dict[str, dict[str, Any]] = {}
        self.placements: dict[int, dict[str, Any]] = {}
        self._warned_no_order: set[tuple[str, int]] = set()
        self._warned_enough = False

    def merge(self, stop_id: int, row: StopRow | None) -> dict[str, dict[str, Any] | None]:
        """Apply one stop's new state to the held records; returns the records to publish (None: delete)."""
        changed, placement = self.apply(self.records, self.placements.get(stop_id), stop_id, row)
        for key, entry in changed.items():
            if entry is None:
                self.records.pop(key, None)
            else:
                self.records[key] = entry
        if placement is None:
            self.placements.pop(stop_id, None)
        else:
            self.placements[stop_id] = placement
        return changed

    def order_of(self, line: str, station_id: int) -> int | None:
        order = self.line_orders.get((line, station_id))
        if order is None:
            self._warn_out_of_sequence(line, station_id)
        return order

    def _warn_out_of_sequence(self, line: str, station_id: int) -> None:
        """Once per station, for the first ``OUT_OF_SEQUENCE_WARNINGS``; then once that more are."""
        if (line, station_id) in self._warned_no_order or self._warned_enough:
            return
        if len(self._warned_no_order) == OUT_OF_SEQUENCE_WARNINGS:
            self._warned_enough = True
            log.warning("more stations are out of their line's sequence: not logged one by one")
            return
        self._warned_no_order.add((line, station_id))
        log.warning("station %d is not in the %s line's sequence: order unknown", station_id, line)

    def apply(
        self,
        station_lines: Mapping[str, dict[str, Any]],
        placement: Mapping[str, Any] | None,
        stop_id: int,
        row: StopRow | None,
    ) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any] | None]:
        """Merge one stop's new state (``row``; None: deleted) into the records it touches.

        Returns the changed (line, station) records by table key (None: no stop left, delete)
        and the stop's new placement (None: forget the stop).
        """
        changed: dict[str, dict[str, Any] | None] = {}

        def record(line: str, station_id: int) -> dict[str, Any] | None:
            key = table_key(line, station_id)
            if key not in changed:
                current = station_lines.get(key)
                changed[key] = None if current is None else {**current, "stops": dict(current["stops"])}
            return changed[key]

        # Take the stop out of every record it was in; the row below puts it back where it belongs.
        if placement is not None:
            for line in placement["lines"]:
                entry = record(line, placement["station_id"])
                if entry is not None and entry["stops"].get(placement["direction_id"]) == stop_id:
                    del entry["stops"][placement["direction_id"]]
        if row is not None:
            for line in sorted(row.lines):
                entry = record(line, row.station_id) or {"stops": {}}
                entry.update(
                    station_id=row.station_id,
                    station_name=row.station_name,
                    line=line,
                    order=self.order_of(line, row.station_id),
                    latitude=row.latitude,
                    longitude=row.longitude,
                )
                entry["stops"][row.direction_id] = stop_id
                changed[table_key(line, row.station_id)] = entry
        for key, entry in changed.items():
            if entry is not None and not entry["stops"]:
                changed[key] = None
        # Only what actually changed is written (and published).
        changed = {key: entry for key, entry in changed.items() if entry != station_lines.get(key)}
        new_placement = (
            None
            if row is None
            else {"station_id": row.station_id, "direction_id": row.direction_id, "lines": sorted(row.lines)}
        )
        return changed, new_placement


def network_records(network: Network) -> dict[tuple[str, int], dict[str, Any]]:
    """(line, station) -> record, straight from a network's routes (for a network without a stations
    table): every station on a route of the line, its position on the line, and its platform each way
    ('a', 'b': the route's directions, as a static GTFS has no compass directions)."""
    orders = network.line_orders()
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for route in network.routes:
        for route_stop in route.stops:
            station = network.stations[route_stop.station_id]
            entry = records.setdefault(
                (route.line, station.station_id),
                {
                    "station_id": station.station_id,
                    "station_name": station.name,
                    "line": route.line,
                    "order": orders[(route.line, station.station_id)],
                    "stops": {},
                    "latitude": station.latitude,
                    "longitude": station.longitude,
                },
            )
            for direction in DIRECTIONS:
                stop_id = route_stop.stop_id(direction)
                if stop_id is not None:
                    entry["stops"].setdefault(direction, stop_id)
    return records


def output_value(entry: dict[str, Any]) -> bytes:
    value = {
        "station_id": entry["station_id"],
        "station_name": entry["station_name"],
        "line": entry["line"],
        "order": entry["order"],
        "stops": dict(sorted(entry["stops"].items())),
        "latitude": entry["latitude"],
        "longitude": entry["longitude"],
    }
    return json.dumps(value, separators=(",", ":")).encode()


def register(app: faust.App, settings: Settings, raw_partitions: int) -> None:
    """Declare the stations topic and agent on ``app``."""
    # Acked off, so never committed: every start reads the raw topic from the beginning (module docstring).
    raw_topic = contract_input(app, settings.stations_topic, raw_partitions)
    if raw_partitions > 1:
        # Stops of one station are merged by one worker only if they arrive in one partition.
        log.warning(
            "%s has %d partitions: stops of one station may be merged by different workers; "
            "run a single worker or give the topic one partition",
            settings.stations_topic,
            raw_partitions,
        )
    from_static_gtfs = static_gtfs_location(settings) is not None
    # Chicago's rows are merged; another agency's network may not be there yet (the feed saves it).
    transform = None if from_static_gtfs else StationsTransform(load_network(settings).line_orders())
    if from_static_gtfs:

        async def publish_network_stations() -> None:
            # The worker joins its group at once (what `run` waits for before it starts the feed) and
            # publishes the agency's stations once the feed has saved its static GTFS.
            network = await when_ready(lambda: load_network(settings), "stations from the static GTFS")
            records = network_records(network)
            log.info(
                "stations from the static GTFS (%d lines, %d line stations); %s's rows (Chicago's) are left aside",
                len(network.lines),
                len(records),
                settings.stations_topic,
            )
            for (line, station_id), entry in records.items():
                await app.send(
                    settings.topic_stations,
                    key=output_key(line, station_id),
                    value=output_value(entry),
                    key_serializer="raw",
                    value_serializer="raw",
                )

        app.task(publish_network_stations)

    async def process(event: EventT) -> None:
        if transform is None:
            return  # this network's stations are published from its static GTFS
        message = event.message
        try:
            stop_id = parse_stop_key(message.key)
            row = parse_stop_row(message.value)  # None: the row was deleted
            if row is not None and row.stop_id != stop_id:
                raise BadStationRow(f"key stop_id {stop_id} differs from the row's stop_id {row.stop_id}")
        except BadStationRow as error:
            await send_dead_letter(app, settings, message, str(error), CONSUMER_NAME)
            return
        for key, entry in transform.merge(stop_id, row).items():
            line, station_id = key.split(":")
            await app.send(
                settings.topic_stations,
                key=output_key(line, int(station_id)),
                value=None if entry is None else output_value(entry),
                key_serializer="raw",
                value_serializer="raw",
            )

    async def transform_stations(stream: StreamT) -> None:
        async for event in stream.events():
            await process(event)

    app.agent(raw_topic, name="stations-transform")(transform_stations)
