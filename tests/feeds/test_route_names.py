"""The arrival contract's `route` is "the branch the train runs on, e.g. 'Green Ashland/63rd'": the route's
name as the source's network names it, never its id, whichever source produced the arrival. The page
shows it as it is, so the simulation and the Train Tracker must give the same value for the same branch.

The Train Tracker and GTFS-realtime bodies are CONSTRUCTED from the documented formats (recordings/README.md).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from transit_status.feeds.cta import TrainTrackerAdapter
from transit_status.feeds.gtfs_out import RealtimeFeeds, TrainState, build_static_gtfs, encode, trip_calls
from transit_status.feeds.gtfs_rt import VEHICLE_POSITIONS, GtfsRealtimeAdapter
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedResponse, Poll
from transit_status.networks import Network
from transit_status.networks.gtfs import read_tables, static_feed
from transit_status.simulation import ArrivalEvent, SimulationEngine

BRANCH = "green-ashland-63rd"
START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def simulated(network: Network) -> dict[str, set[str]]:
    """Route id -> the `route` values the simulation's arrivals on it carry (its train ids say which)."""
    engine = SimulationEngine(network, start=datetime(2024, 4, 10, 7, 30), seed=7)
    route_of = {train_id: plan.route.route_id for plan in engine.route_plans for train_id in plan.train_ids}
    values: dict[str, set[str]] = {}
    for event in engine.step(600):
        if isinstance(event, ArrivalEvent):
            values.setdefault(route_of[event.train_id], set()).add(event.route)
    return values


def train_tracker_arrival(network: Network) -> ArrivalEvent:
    """A Green Line run bound for Ashland/63rd, seen at two stations in a row: one arrival."""
    route = network.route(BRANCH)
    first, second = route.stops[3], route.stops[4]
    terminal = route.stops[-1].stop_id("a")

    def body(minute: int, stop: object) -> bytes:
        train = {"rn": "001", "destSt": str(terminal), "destNm": "Ashland/63rd", "trDr": "5",
                 "nextStaId": str(stop.station_id), "nextStpId": str(stop.stop_id("a")),  # type: ignore[attr-defined]
                 "nextStaNm": "x", "isApp": "0", "isDly": "0"}  # fmt: skip
        tmst = f"2026-12-01T08:0{minute}:00"
        return json.dumps({"ctatt": {"tmst": tmst, "errCd": "0", "route": [{"@name": "g", "train": [train]}]}}).encode()

    adapter = TrainTrackerAdapter(network, FeedHealth("cta-train-tracker"))
    arrivals = []
    for number, (minute, stop) in enumerate([(0, first), (1, second)], 1):
        at = START + timedelta(minutes=minute)
        arrivals += adapter.on_poll(
            Poll(number, at, {"positions": FeedResponse("positions", at, 200, body(minute, stop))})
        )
    (arrival,) = arrivals
    assert arrival.station_id == first.station_id
    return arrival


def test_every_source_names_a_route_by_its_name_and_the_same_branch_the_same_way(network: Network) -> None:
    names = {route.route_id: route.name for route in network.routes}
    simulation = simulated(network)
    assert simulation == {route_id: {name} for route_id, name in names.items()}  # names, never the ids

    cta = train_tracker_arrival(network)
    assert cta.route == names[BRANCH] == "Green Ashland/63rd"  # as the simulation names that branch

    # Any agency's GTFS-realtime (here: our own export of the CTA network): its network is the static
    # GTFS's, whose lines are the agency's routes (a network route per branch), named by route_long_name,
    # not by route_id.
    static = static_feed(read_tables(build_static_gtfs(network, valid_from=date(2026, 12, 1))))
    calls = trip_calls(network.route(BRANCH), "a")
    feeds = RealtimeFeeds(network)
    adapter = GtfsRealtimeAdapter(static, FeedHealth("gtfs-rt"))
    state = TrainState("GL001", BRANCH, "a", calls[3].stop_id, "STOPPED_AT", START, START)
    body = encode(feeds.vehicle_positions([state], START))
    (arrival,) = adapter.on_poll(Poll(1, START, {VEHICLE_POSITIONS: FeedResponse(VEHICLE_POSITIONS, START, 200, body)}))
    gtfs_names = {route.line: route.name for route in static.network.routes}
    assert arrival.route == gtfs_names[arrival.line] == "Green Line"
    assert arrival.route not in {route.route_id for route in static.network.routes} | set(gtfs_names)  # not an id
