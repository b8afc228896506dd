"""GTFS and GTFS-realtime out: a valid static feed, and realtime feeds that the official bindings read,
that name only ids of the static feed, whose timestamps never go back, and that our own GTFS-realtime
adapter reads back as the same trains at the same stations."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import gtfs_guru
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from tests.feeds import made_up_agency as agency
from transit_status.feeds.gtfs_out import (
    RealtimeFeeds,
    ServiceAlert,
    TrainState,
    UnknownTrain,
    build_static_gtfs,
    encode,
    to_json,
    trip_calls,
)
from transit_status.feeds.gtfs_rt import TRIP_UPDATES, VEHICLE_POSITIONS, GtfsRealtimeAdapter
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedResponse, Poll
from transit_status.networks import Network
from transit_status.networks.gtfs import read_tables, static_feed

START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
# Warnings MobilityData's rules raise on our feed that are right as they are: station names such as
# "51st" or "O'Hare" are written as the CTA writes them.
ACCEPTED_WARNINGS = {"mixed_case_recommended_field"}
TRAINS = (("RL801", "red", "a"), ("BL201", "blue", "b"), ("GL010", "green-ashland-63rd", "a"))


@pytest.fixture(scope="module")
def static_zip(network: Network) -> bytes:
    return build_static_gtfs(network, valid_from=date(2026, 12, 1))


def table(data: bytes, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_the_static_feed_passes_the_validator_without_errors(static_zip: bytes, tmp_path: Path) -> None:
    path = tmp_path / "static.zip"
    path.write_bytes(static_zip)
    result = gtfs_guru.validate(str(path))
    errors = [(notice.code, notice.message) for notice in result.errors()]
    assert errors == []
    assert {notice.code for notice in result.warnings()} <= ACCEPTED_WARNINGS


def test_the_validator_does_catch_a_broken_feed(static_zip: bytes, tmp_path: Path) -> None:
    # The check above is worth something only if the validator rejects what is wrong.
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(static_zip)) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "stop_times.txt":
                data = data.replace(b",30126,", b",99999,", 1)
            target.writestr(info, data)
    (tmp_path / "broken.zip").write_bytes(broken.getvalue())
    codes = {notice.code for notice in gtfs_guru.validate(str(tmp_path / "broken.zip")).errors()}
    assert "foreign_key_violation" in codes


def test_the_static_feed_holds_every_line_station_and_route_with_its_colour(
    network: Network, static_zip: bytes
) -> None:
    routes = {row["route_id"]: row for row in table(static_zip, "routes.txt")}
    assert {line: f"#{row['route_color'].lower()}" for line, row in routes.items()} == {
        line.line_id: line.colour for line in network.lines
    }
    stops = table(static_zip, "stops.txt")
    stations = {int(row["stop_id"]) for row in stops if row["location_type"] == "1"}
    assert stations == {s.station_id for route in network.routes for s in route.stops}
    trips = {row["trip_id"] for row in table(static_zip, "trips.txt")}
    assert trips == {f"{route.route_id}-{d}" for route in network.routes for d in "ab"}
    frequencies = {row["trip_id"]: row for row in table(static_zip, "frequencies.txt")}
    assert frequencies["red-a"]["headway_secs"] == str(round(network.route("red").headway_s))
    assert {row["shape_id"] for row in table(static_zip, "shapes.txt")} == trips


def test_the_static_feed_reads_back_as_the_same_network(network: Network, static_zip: bytes) -> None:
    again = static_feed(read_tables(static_zip)).network
    assert {s.station_id: s.name for s in again.stations.values()} == {
        s.station_id: network.stations[s.station_id].name for s in again.stations.values()
    }
    assert {line.line_id: line.colour for line in again.lines} == {line.line_id: line.colour for line in network.lines}
    assert again.route("red").station_ids == network.route("red").station_ids
    # Every branch too (Green's Cottage Grove: 40720, 41140), so every station, on every line it is on,
    # in the same position: a consumer of our export rebuilds the page's table exactly.
    assert set(again.stations) == set(network.stations)
    line_stations = {(route.line, station_id) for route in network.routes for station_id in route.station_ids}
    assert {(route.line, station_id) for route in again.routes for station_id in route.station_ids} == line_stations
    assert len(line_stations) == 190 and {("green", 40720), ("green", 41140)} <= line_stations
    assert again.line_orders() == network.line_orders()
    assert {r.route_id for r in again.routes if r.line == "green"} == {"green-ashland-63rd", "green-cottage-grove"}


def test_the_static_zip_is_compressed_and_the_same_network_gives_the_same_bytes(
    network: Network, static_zip: bytes
) -> None:
    with zipfile.ZipFile(io.BytesIO(static_zip)) as archive:
        infos = archive.infolist()
        assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
        assert sum(info.file_size for info in infos) > 3 * len(static_zip)
    assert build_static_gtfs(network, valid_from=date(2026, 12, 1)) == static_zip


def test_the_static_feed_publishes_the_networks_own_agency(network: Network) -> None:
    assert [row["agency_name"] for row in table(build_static_gtfs(network), "agency.txt")] == [
        "Chicago Transit Authority"
    ]
    # Another agency's network (read from its static GTFS) is published as that agency, never as the CTA.
    lakeside = static_feed(read_tables(agency.static_gtfs_zip())).network
    exported = build_static_gtfs(lakeside, valid_from=date(2026, 12, 1))
    (row,) = table(exported, "agency.txt")
    assert (row["agency_name"], row["agency_url"], row["agency_id"]) == (agency.AGENCY, "https://lakeside.test", "LT")
    assert b"Chicago" not in b"".join(
        zipfile.ZipFile(io.BytesIO(exported)).read(name) for name in ("agency.txt", "feed_info.txt")
    )
    # And our export of it reads back as its lines and stations, the branch included.
    again = static_feed(read_tables(exported)).network
    assert {(r.line, s) for r in again.routes for s in r.station_ids} == {
        (r.line, s) for r in lakeside.routes for s in r.station_ids
    }


def states_at(network: Network, minute: int) -> list[TrainState]:
    """Three trains, each at its trip's ``minute``-th call (constructed states, not real trains)."""
    states = []
    for train_id, route_id, direction in TRAINS:
        calls = trip_calls(network.route(route_id), direction)  # type: ignore[arg-type]
        station = network.stations[calls[minute].station_id]
        states.append(
            TrainState(
                train_id, route_id, direction, calls[minute].stop_id, "STOPPED_AT", START,  # type: ignore[arg-type]
                START + timedelta(minutes=minute), station.latitude, station.longitude, 180.0,
                predictions=((calls[minute + 1].stop_id, START + timedelta(minutes=minute + 2)),),
            )
        )  # fmt: skip
    return states


def test_realtime_feeds_parse_with_the_official_bindings_and_name_only_static_ids(
    network: Network, static_zip: bytes
) -> None:
    feeds = RealtimeFeeds(network)
    trips = {row["trip_id"] for row in table(static_zip, "trips.txt")}
    stops = {row["stop_id"] for row in table(static_zip, "stops.txt")}
    routes = {row["route_id"] for row in table(static_zip, "routes.txt")}
    alert = ServiceAlert("a1", "Red Line delays", "A train is stuck at Clark/Division", ("red",), (40630,), START)
    built = [
        feeds.vehicle_positions(states_at(network, 3), START),
        feeds.trip_updates(states_at(network, 3), START),
        feeds.alerts([alert], START),
    ]
    for message in built:
        parsed = rt.FeedMessage()
        parsed.ParseFromString(encode(message))
        assert parsed.header.gtfs_realtime_version == "2.0"
        for entity in parsed.entity:
            if entity.HasField("vehicle"):
                assert entity.vehicle.trip.trip_id in trips and entity.vehicle.stop_id in stops
                assert entity.vehicle.trip.start_time == "08:00:00"  # Chicago time of the run's start
            if entity.HasField("trip_update"):
                assert entity.trip_update.trip.trip_id in trips
                assert {call.stop_id for call in entity.trip_update.stop_time_update} <= stops
            if entity.HasField("alert"):
                informed = entity.alert.informed_entity
                assert {e.route_id for e in informed if e.route_id} <= routes
                assert {e.stop_id for e in informed if e.stop_id} <= stops
        assert json.loads(to_json(message))["header"]["gtfs_realtime_version"] == "2.0"
    assert len(built[0].entity) == 3 and len(built[2].entity) == 1


def test_a_train_on_a_platform_its_route_lacks_is_refused(network: Network) -> None:
    state = TrainState("RL801", "red", "a", 30197, "STOPPED_AT", START, START)  # a Blue Line platform
    with pytest.raises(UnknownTrain, match="platform 30197 is not on red"):
        RealtimeFeeds(network).vehicle_positions([state], START)


def test_header_timestamps_never_go_back(network: Network) -> None:
    feeds = RealtimeFeeds(network)
    stamps = [
        feeds.vehicle_positions([], moment).header.timestamp
        for moment in (
            START,
            START + timedelta(seconds=30),
            START + timedelta(seconds=10),
            START + timedelta(seconds=40),
        )
    ]
    assert stamps == sorted(stamps)
    assert stamps[2] == stamps[1]  # a clock that stepped back publishes the last time again, not an older one


def test_the_header_is_the_wall_clock_when_built_and_no_entity_claims_a_later_time(network: Network) -> None:
    wall = [START.timestamp()]
    feeds = RealtimeFeeds(network, clock=lambda: wall[0])
    header = int(START.timestamp())
    # The simulation's clock runs ahead of the wall clock: these trains report an hour from now.
    hour = timedelta(hours=1)
    ahead = [
        replace(state, at=state.at + hour, predictions=tuple((stop, when + hour) for stop, when in state.predictions))
        for state in states_at(network, 3)
    ]
    positions = feeds.vehicle_positions(ahead)
    assert positions.header.timestamp == header  # the wall clock, not the trains' time
    assert [entity.vehicle.timestamp for entity in positions.entity] == [header] * len(ahead)
    updates = feeds.trip_updates(ahead)
    for entity in updates.entity:
        assert entity.trip_update.timestamp == header
        # STOPPED_AT now, the next stop 2 minutes later by the train's clock: both kept relative to the header.
        assert [call.arrival.time - header for call in entity.trip_update.stop_time_update] == [0, 120]
    alert = ServiceAlert("a1", "Red Line delays", start=START + hour)
    assert feeds.alerts([alert]).entity[0].alert.active_period[0].start == header  # active now, not in an hour

    # A train behind the wall clock keeps its own time; the header follows the wall clock, never back.
    wall[0] += 600
    assert feeds.vehicle_positions(states_at(network, 3)).entity[0].vehicle.timestamp == header + 180
    wall[0] -= 300
    assert feeds.vehicle_positions([]).header.timestamp == header + 600


def test_our_realtime_output_read_back_shows_the_same_trains_at_the_same_stations(
    network: Network, static_zip: bytes
) -> None:
    feeds = RealtimeFeeds(network)
    adapter = GtfsRealtimeAdapter(static_feed(read_tables(static_zip)), FeedHealth("gtfs-rt"))
    arrivals = []
    for number, minute in enumerate((3, 5), 1):
        now = START + timedelta(minutes=minute)
        states = states_at(network, minute)
        responses = {
            VEHICLE_POSITIONS: FeedResponse(VEHICLE_POSITIONS, now, 200, encode(feeds.vehicle_positions(states, now))),
            TRIP_UPDATES: FeedResponse(TRIP_UPDATES, now, 200, encode(feeds.trip_updates(states, now))),
        }
        got = adapter.on_poll(Poll(number, now, responses))
        arrivals += got
        # At each poll, each train's newest arrival is where it stands.
        newest = {a.train_id: a.station_id for a in got}
        expected = {s.train_id: network.stops[s.stop_id].station_id for s in states}
        assert newest == expected
    # Between the polls each train passed its 4th call: reported too, once, in order.
    by_train: dict[str, list[int]] = {}
    for arrival in arrivals:
        by_train.setdefault(arrival.train_id, []).append(arrival.station_id)
    for train_id, route_id, direction in (("RL801", "red", "a"), ("BL201", "blue", "b")):
        calls = trip_calls(network.route(route_id), direction)  # type: ignore[arg-type]
        assert by_train[train_id] == [calls[3].station_id, calls[4].station_id, calls[5].station_id]
    assert adapter.health.state == "ok"
    assert not adapter.health.unknown_ids
