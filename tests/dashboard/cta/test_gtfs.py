"""GTFS and GTFS-realtime out over HTTP (dashboard/cta/gtfs.py), on a dashboard whose state is filled
directly: the static zip, and realtime feeds that the official bindings parse, that name only the
static feed's trips and stops, that put each train at the station the page shows, and whose header
timestamps never go back. A malformed query is a 400 with its reason."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.transit import gtfs_realtime_pb2 as rt

from transit_status.dashboard.app import create_app
from transit_status.dashboard.cta.gtfs import WARNED_TRAINS, GtfsOut, gtfs_router
from transit_status.dashboard.cta.state import Train, TrainArrival
from transit_status.dashboard.hub import LiveHub
from transit_status.dashboard.state import Received
from transit_status.networks import Network
from transit_status.platform.ports import isolated_settings
from transit_status.simulation import ArrivalEvent, SimulationEngine
from transit_status.wallclock import now_ms

START = datetime(2024, 4, 10, 7, 30)  # a Wednesday in Chicago: rush hour, the Purple Express runs
FEEDS = ("vehicle-positions", "trip-updates", "alerts")


def as_train(event: ArrivalEvent, status: str | None = None) -> Train:
    return Train(
        train_id=event.train_id,
        line=event.line,
        route=event.route,
        station_id=event.station_id,
        station_name=event.station_name,
        direction=event.direction,
        train_status=status or str(event.train_status),
        simulated_at=int(event.at.timestamp() * 1000),
        produced_at=now_ms(),
        stop_id=event.stop_id,
    )


def simulated_trains(network: Network, minutes: int = 40) -> list[Train]:
    """Every train's latest arrival after ``minutes`` of a simulated rush hour (all routes, both ways,
    terminals included), as the dashboard holds them."""
    engine = SimulationEngine(network, start=START, seed=7)
    latest: dict[str, Train] = {}
    for event in engine.step(minutes * 60):
        if isinstance(event, ArrivalEvent):
            latest[event.train_id] = as_train(event)
    return list(latest.values())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(isolated_settings(tmp_path), start_consumer=False)
    with TestClient(app) as test_client:
        yield test_client


def show(client: TestClient, trains: list[Train]) -> None:
    """Put ``trains`` on the page's state as the consumer would."""
    hub = client.app.state.chicago.hub  # type: ignore[attr-defined]
    now = now_ms()
    hub.apply([Received("arrivals", TrainArrival(train), now, now) for train in trains])


def feed(client: TestClient, name: str) -> rt.FeedMessage:
    response = client.get(f"/gtfs-rt/{name}.pb")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    message = rt.FeedMessage()
    message.ParseFromString(response.content)
    return message


def static_table(client: TestClient, name: str) -> list[dict[str, str]]:
    response = client.get("/gtfs/static.zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_the_static_feed_is_served_once_built_and_holds_every_line(client: TestClient, network: Network) -> None:
    first, second = client.get("/gtfs/static.zip"), client.get("/gtfs/static.zip")
    assert first.content == second.content  # built once
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        assert {"agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "frequencies.txt",
                "shapes.txt", "calendar.txt"} <= set(archive.namelist())  # fmt: skip
    assert {row["route_id"] for row in static_table(client, "routes.txt")} == {line.line_id for line in network.lines}
    # Named after no agency: the same endpoint serves another agency's network (its agency.txt says whose).
    assert first.headers["content-disposition"] == 'attachment; filename="gtfs-static.zip"'
    assert [row["agency_name"] for row in static_table(client, "agency.txt")] == ["Chicago Transit Authority"]


def test_every_train_is_a_vehicle_at_the_station_the_page_shows_naming_only_static_ids(
    client: TestClient, network: Network
) -> None:
    trains = simulated_trains(network)
    assert {train.route for train in trains} == {route.name for route in network.routes}  # every route is tried
    show(client, trains)
    trips = {row["trip_id"] for row in static_table(client, "trips.txt")}
    stops = {row["stop_id"]: row for row in static_table(client, "stops.txt")}
    routes = {row["route_id"] for row in static_table(client, "routes.txt")}

    vehicles = feed(client, "vehicle-positions")
    shown = {train.train_id: train for train in trains if train.train_status != "out_of_service"}
    at = {}
    for entity in vehicles.entity:
        vehicle = entity.vehicle
        assert vehicle.trip.trip_id in trips and vehicle.trip.route_id in routes
        assert vehicle.stop_id in stops
        assert vehicle.current_status == rt.VehiclePosition.STOPPED_AT
        at[vehicle.vehicle.id] = int(stops[vehicle.stop_id]["parent_station"])
    assert at == {train_id: train.station_id for train_id, train in shown.items()}

    updates = feed(client, "trip-updates")
    assert {entity.trip_update.vehicle.id for entity in updates.entity} == set(shown)
    for entity in updates.entity:
        assert entity.trip_update.trip.trip_id in trips
        calls = entity.trip_update.stop_time_update
        assert {call.stop_id for call in calls} <= set(stops)
        times = [call.arrival.time for call in calls]
        assert times == sorted(times)  # the stops ahead, in order


def test_a_broken_down_train_is_an_alert_on_its_line_and_station(client: TestClient, network: Network) -> None:
    train = simulated_trains(network, minutes=10)[0]
    show(client, [replace(train, train_status="broken_down")])
    stops = {row["stop_id"] for row in static_table(client, "stops.txt")}
    alerts = feed(client, "alerts")
    assert len(alerts.entity) == 1
    alert = alerts.entity[0].alert
    assert train.train_id in alert.header_text.translation[0].text
    informed = {(e.route_id, e.stop_id) for e in alert.informed_entity}
    assert informed == {(train.line, ""), ("", str(train.station_id))}
    assert str(train.station_id) in stops
    assert alert.effect == rt.Alert.SIGNIFICANT_DELAYS
    assert len(feed(client, "vehicle-positions").entity) == 1  # still a vehicle: it is there, stopped


def test_a_train_the_static_feed_cannot_name_is_left_out_not_placed_elsewhere(
    client: TestClient, network: Network
) -> None:
    good = simulated_trains(network, minutes=10)[0]
    unknown = Train("RL999", "red", "Red", 49999, "Nowhere", "a", "in_service", good.simulated_at, 0, 39999)
    retired = Train("RL998", "red", "Red", good.station_id, "x", "a", "out_of_service", good.simulated_at, 0)
    show(client, [good, unknown, retired])
    assert [entity.vehicle.vehicle.id for entity in feed(client, "vehicle-positions").entity] == [good.train_id]
    assert [entity.trip_update.vehicle.id for entity in feed(client, "trip-updates").entity] == [good.train_id]


def test_header_timestamps_are_the_wall_clock_and_are_never_older_than_a_vehicle(
    client: TestClient, network: Network
) -> None:
    trains = simulated_trains(network, minutes=10)
    # The simulation's clock may run ahead of the wall clock: a train an hour in the future.
    show(client, [replace(trains[0], simulated_at=now_ms() + 3_600_000), *trains[1:]])
    before = now_ms() // 1000
    message = feed(client, "vehicle-positions")
    # The wall clock when the feed was built, not the train's hour ahead.
    assert before <= message.header.timestamp <= now_ms() // 1000
    assert all(message.header.timestamp >= entity.vehicle.timestamp for entity in message.entity)
    for name in FEEDS:
        assert feed(client, name).header.gtfs_realtime_version == "2.0"


def test_the_dashboards_headers_never_go_back_across_requests_when_its_wall_clock_steps_back(
    network: Network,
) -> None:
    # Requests within one second cannot show it; a clock that steps back (NTP) can: the dashboard keeps
    # one feed builder for all its requests, whatever their format, so each header is at least the last.
    state = BusyState(simulated_trains(network, minutes=10)[:3])
    state.release.set()
    out = GtfsOut(network, LiveHub(state))  # type: ignore[arg-type]
    readings = iter([1_800_000_030.0, 1_800_000_010.0, 1_800_000_040.0, 1_800_000_005.0])
    out.realtime.clock = lambda: next(readings)
    stamps = [
        rt.FeedMessage.FromString(out.render("vehicle-positions", "pb")).header.timestamp,
        rt.FeedMessage.FromString(out.render("vehicle-positions", "pb")).header.timestamp,
        json.loads(out.render("vehicle-positions", "json"))["header"]["timestamp"],
        rt.FeedMessage.FromString(out.render("vehicle-positions", "pb")).header.timestamp,
    ]
    assert [int(stamp) for stamp in stamps] == [1_800_000_030, 1_800_000_030, 1_800_000_040, 1_800_000_040]


@pytest.mark.parametrize("name", FEEDS)
def test_format_json_is_the_same_feed_for_people(client: TestClient, network: Network, name: str) -> None:
    trains = simulated_trains(network, minutes=10)
    show(client, [trains[0], replace(trains[1], train_status="broken_down")])
    as_json = client.get(f"/gtfs-rt/{name}.pb", params={"format": "json"})
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    body = json.loads(as_json.text)
    assert body["header"]["gtfs_realtime_version"] == "2.0"
    assert [entity["id"] for entity in body.get("entity", [])] == [entity.id for entity in feed(client, name).entity]


@pytest.mark.parametrize("query", ["format=xml", "format=", "format=" + "x" * 500])
def test_a_malformed_query_is_a_400_with_its_reason(client: TestClient, query: str) -> None:
    response = client.get(f"/gtfs-rt/trip-updates.pb?{query}")
    assert response.status_code == 400
    assert "format must be pb or json" in response.json()["detail"]
    assert len(response.text) < 300  # the value is not echoed at length


def test_the_simulated_at_of_a_train_becomes_its_trip_start_by_the_timetable(
    client: TestClient, network: Network
) -> None:
    trains = simulated_trains(network, minutes=20)
    # Named by the route's name, as every source does (the green branches share the trunk's stations).
    train = next(t for t in trains if t.route == "Green Ashland/63rd")
    show(client, [train])
    vehicle = feed(client, "vehicle-positions").entity[0].vehicle
    stop_times = [row for row in static_table(client, "stop_times.txt") if row["trip_id"] == vehicle.trip.trip_id]
    offset = next(row["arrival_time"] for row in stop_times if row["stop_id"] == vehicle.stop_id)
    hours, minutes, seconds = (int(part) for part in offset.split(":"))
    local = datetime.fromtimestamp(train.simulated_at / 1000).astimezone(ZoneInfo(network.timezone))
    started = local - timedelta(hours=hours, minutes=minutes, seconds=seconds)
    assert vehicle.trip.trip_id == f"green-ashland-63rd-{train.direction}"
    assert vehicle.trip.start_time == started.strftime("%H:%M:%S")
    assert vehicle.trip.start_date == started.strftime("%Y%m%d")


class BusyState:
    """A page state whose trains take until ``release`` to read (the consumer applying a large batch)."""

    def __init__(self, trains: list[Train]) -> None:
        self.trains_list = trains
        self.reading = threading.Event()
        self.release = threading.Event()

    def trains(self) -> list[Train]:
        self.reading.set()
        self.release.wait(20)
        return self.trains_list


def test_a_realtime_feed_being_built_never_holds_up_the_dashboards_other_requests(network: Network) -> None:
    state = BusyState(simulated_trains(network, minutes=10))
    app = FastAPI()
    app.include_router(gtfs_router(network, LiveHub(state)))  # type: ignore[arg-type]
    answers: dict[str, int] = {}
    with TestClient(app) as client:

        def get(url: str) -> None:
            answers[url] = client.get(url).status_code

        slow = threading.Thread(target=get, args=("/gtfs-rt/vehicle-positions.pb",))
        quick = threading.Thread(target=get, args=("/gtfs-rt/alerts.pb?format=xml",))
        try:
            slow.start()
            assert state.reading.wait(10)  # the feed is being built
            quick.start()
            quick.join(10)
            assert answers.get("/gtfs-rt/alerts.pb?format=xml") == 400  # answered meanwhile: the loop is free
            assert slow.is_alive()
        finally:
            state.release.set()
            slow.join(10)
            quick.join(10)
    assert answers["/gtfs-rt/vehicle-positions.pb"] == 200


def test_the_trains_left_out_of_the_feeds_are_logged_once_and_remembered_within_a_bound(
    network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    good = simulated_trains(network, minutes=10)[0]
    state = BusyState([])
    state.release.set()
    out = GtfsOut(network, LiveHub(state))  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING)

    def unknown(number: int) -> Train:
        return Train(f"XX{number}", "red", "Red", 49999, "Nowhere", "a", "in_service", good.simulated_at, 0, 39999)

    state.trains_list = [unknown(1)]
    out.feed("vehicle-positions")
    out.feed("vehicle-positions")
    assert sum("XX1" in record.getMessage() for record in caplog.records) == 1  # once, not on every request
    # A real feed's run numbers come and go for months: what is remembered stays bounded.
    for batch in range(5):
        state.trains_list = [unknown(batch * WARNED_TRAINS + i) for i in range(WARNED_TRAINS)]
        out.feed("vehicle-positions")
    assert len(out._warned) <= WARNED_TRAINS
