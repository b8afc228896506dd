"""The GTFS-realtime adapter's run and train identity, and what it remembers: a trip's run on another day
is another run even when the feed leaves its start date out; trains are their vehicle ids, not their
(often repeated) labels; vehicles and runs not seen for a while are forgotten.

The static GTFS is the made-up tram of tests/networks/test_gtfs.py (Europe/Paris); the realtime
messages are CONSTRUCTED with the official bindings (recordings/README.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.transit import gtfs_realtime_pb2 as rt

from tests.networks.test_gtfs import FILES, zipped
from transit_status.feeds import gtfs_rt
from transit_status.feeds.gtfs_rt import TRIP_UPDATES, VEHICLE_POSITIONS, GtfsRealtimeAdapter
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedResponse, Poll
from transit_status.networks.gtfs import read_tables, static_feed
from transit_status.simulation.events import ArrivalEvent

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
# The tram's trips: t-south calls at STA-north:1 (1), mid (2), STA-south:1 (3); t-north the other way.


def adapter() -> GtfsRealtimeAdapter:
    return GtfsRealtimeAdapter(static_feed(read_tables(zipped(FILES))), FeedHealth("gtfs-rt"))


def message(at: datetime) -> rt.FeedMessage:
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = int(at.timestamp())
    return feed


def stopped(
    feed: rt.FeedMessage,
    trip: str,
    stop: str,
    sequence: int,
    vehicle_id: str = "",
    label: str = "",
    entity: str = "e",
    start_date: str = "",
) -> None:
    vehicle = feed.entity.add(id=entity).vehicle
    vehicle.trip.trip_id = trip
    if start_date:
        vehicle.trip.start_date = start_date
    vehicle.vehicle.id, vehicle.vehicle.label = vehicle_id, label
    vehicle.stop_id, vehicle.current_stop_sequence = stop, sequence
    vehicle.current_status = rt.VehiclePosition.STOPPED_AT


def poll(feed: rt.FeedMessage, number: int = 1, name: str = VEHICLE_POSITIONS) -> Poll:
    at = datetime.fromtimestamp(feed.header.timestamp, UTC)
    return Poll(number, at, {name: FeedResponse(name, at, 200, feed.SerializeToString())})


def seen(arrivals: list[ArrivalEvent]) -> list[tuple[str, str]]:
    return [(a.train_id, a.station_name) for a in arrivals]


def test_an_undated_run_of_a_trip_on_the_next_day_is_reported_from_its_first_stop() -> None:
    reader = adapter()
    today = message(T0)
    stopped(today, "t-south", "STA-south:1", 3, vehicle_id="V1")  # scheduled trip: no start_date
    assert seen(reader.on_poll(poll(today))) == [("V1", "South")]
    tomorrow = message(T0 + timedelta(days=1))
    stopped(tomorrow, "t-south", "STA-north:1", 1, vehicle_id="V1")
    # Before: the same run as yesterday's, whose stop 3 was reported: nothing until it passed stop 3.
    assert seen(reader.on_poll(poll(tomorrow, 2))) == [("V1", "North")]


def test_an_undated_run_takes_its_date_in_the_agencys_time_zone() -> None:
    reader = adapter()
    # 22:50 UTC on 1 December is 23:50 in Paris; 23:30 UTC is 00:30 on 2 December there.
    dated = message(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    stopped(dated, "t-south", "STA-south:1", 3, vehicle_id="V1", start_date="20261202")
    assert seen(reader.on_poll(poll(dated))) == [("V1", "South")]
    undated = message(datetime(2026, 12, 1, 23, 31, tzinfo=UTC))
    stopped(undated, "t-south", "STA-south:1", 3, vehicle_id="V1")
    assert reader.on_poll(poll(undated, 2)) == []  # the same run (Paris's 2 December), reported once


def test_an_undated_run_keeps_its_date_while_it_is_seen_across_midnight() -> None:
    reader = adapter()
    before = message(datetime(2026, 12, 1, 22, 55, tzinfo=UTC))  # 23:55 in Paris
    stopped(before, "t-south", "STA-north:1", 1, vehicle_id="V1")
    after = message(datetime(2026, 12, 1, 23, 5, tzinfo=UTC))  # 00:05: the same run, not a new one
    stopped(after, "t-south", "mid", 2, vehicle_id="V1")
    assert seen(reader.on_poll(poll(before)) + reader.on_poll(poll(after, 2))) == [("V1", "North"), ("V1", "Middle")]
    again = message(datetime(2026, 12, 1, 23, 6, tzinfo=UTC))
    stopped(again, "t-south", "STA-north:1", 1, vehicle_id="V1")
    assert reader.on_poll(poll(again, 3)) == []  # still the run that passed stop 1


def test_trains_are_their_vehicle_ids_not_their_labels_which_repeat() -> None:
    reader = adapter()
    feed = message(T0)
    stopped(feed, "t-south", "STA-north:1", 1, vehicle_id="V1", label="1", entity="a")
    stopped(feed, "t-north", "STA-south:2", 1, vehicle_id="V2", label="1", entity="b")
    stopped(feed, "t-south", "mid", 2, label="7", entity="c")  # no id: its label
    stopped(feed, "t-north", "mid", 2, entity="d")  # neither: the entity's id
    trains = [a.train_id for a in reader.on_poll(poll(feed))]
    assert trains == ["V1", "V2", "7", "d"]


def test_a_trip_updates_train_is_its_vehicle_id_too() -> None:
    reader = adapter()
    feeds = []
    for minute, ahead in ((0, 1), (5, 3)):
        feed = message(T0 + timedelta(minutes=minute))
        update = feed.entity.add(id="u").trip_update
        update.trip.trip_id = "t-south"
        update.vehicle.id, update.vehicle.label = "V9", "9"
        update.stop_time_update.add(stop_sequence=ahead, stop_id="STA-south:1" if ahead == 3 else "STA-north:1")
        feeds.append(feed)
    arrivals = reader.on_poll(poll(feeds[0], 1, TRIP_UPDATES)) + reader.on_poll(poll(feeds[1], 2, TRIP_UPDATES))
    assert seen(arrivals) == [("V9", "North"), ("V9", "Middle")]


def test_vehicles_and_runs_not_seen_for_a_while_are_forgotten() -> None:
    reader = adapter()
    forget_after = gtfs_rt.FORGET_AFTER
    polls = int(3 * forget_after / timedelta(minutes=1))
    for minute in range(polls):
        feed = message(T0 + timedelta(minutes=minute))
        # A feed whose entity ids change every poll and whose vehicles carry no id: a new key each time.
        stopped(feed, "t-south", "mid", 2, entity=f"entity-{minute}")
        # A frequency-based trip: a new run (start time) every minute, never seen again.
        update = feed.entity.add(id=f"update-{minute}").trip_update
        update.trip.trip_id, update.trip.start_time = "t-north", f"{10 + minute // 60:02d}:{minute % 60:02d}:00"
        update.stop_time_update.add(stop_sequence=2, stop_id="mid")
        reader.on_poll(
            Poll(
                minute,
                T0 + timedelta(minutes=minute),
                {
                    VEHICLE_POSITIONS: FeedResponse(VEHICLE_POSITIONS, T0, 200, feed.SerializeToString()),
                    TRIP_UPDATES: FeedResponse(TRIP_UPDATES, T0, 200, feed.SerializeToString()),
                },
            )
        )
    within = forget_after / timedelta(minutes=1) + 1  # an hour of polls, a minute apart
    assert len(reader.vehicles) <= within < polls
    assert len(reader.next_sequence) <= within and len(reader.last_arrival) <= within
    assert within <= gtfs_rt.MAX_RUNS  # the hard bound is not what keeps them few here
