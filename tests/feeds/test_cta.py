"""The Train Tracker adapter on recordings: arrivals in the simulation's contract, unknown ids counted.

The recording used here is CONSTRUCTED from the documented Locations API format
(recordings/make_constructed.py, recordings/README.md); it is not a capture of the CTA's feed.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transit_status.feeds.cta import TrainTrackerAdapter, parse_positions
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedProblem, FeedResponse, Poll
from transit_status.feeds.recording import ReplaySource, read_recording
from transit_status.networks import Network
from transit_status.networks.model import RouteStop
from transit_status.simulation.events import ArrivalEvent

RECORDINGS = Path(__file__).parent / "recordings"
CONSTRUCTED = RECORDINGS / "cta-train-tracker-constructed"


def replay(network: Network, directory: Path = CONSTRUCTED) -> tuple[list[ArrivalEvent], FeedHealth]:
    health = FeedHealth("cta-train-tracker")
    adapter = TrainTrackerAdapter(network, health)
    arrivals: list[ArrivalEvent] = []
    for poll in ReplaySource(read_recording(directory), speed=0).polls(threading.Event()):
        arrivals += adapter.on_poll(poll)
    return arrivals, health


def test_a_recorded_sequence_gives_each_run_its_arrivals_in_order(network: Network) -> None:
    arrivals, health = replay(network)
    seen = [(a.train_id, a.station_id, a.stop_id, a.direction, a.prev_station_id) for a in arrivals]
    assert seen == [
        ("RL831", 40650, 30126, "a", None),  # North/Clybourn, 95th-bound platform: Red's 'a'
        ("RL835", 40900, 30173, "b", None),  # left the response heading for its terminal: reached Howard
        ("RL831", 40630, 30122, "a", 40650),  # Clark/Division, after North/Clybourn
        ("BL123", 41020, 30197, "b", None),  # Logan Square, O'Hare-bound: Blue's 'b'
    ]
    first = arrivals[0]
    assert (first.line, first.route, first.station_name) == ("red", "Red", "North/Clybourn")
    # The prediction (08:00:40 Chicago) lies between the two responses: that is when it arrived.
    assert first.at == datetime(2026, 12, 1, 14, 0, 40, tzinfo=UTC)
    assert health.state == "ok"


def test_unknown_station_and_stop_ids_are_counted_not_guessed(
    network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    arrivals, health = replay(network)
    assert 49999 not in {a.station_id for a in arrivals}
    assert health.unknown_ids["station:49999"] == 2  # seen in two responses
    assert health.unknown_ids["stop:39999"] == 2
    assert sum("unknown station id 49999" in record.message for record in caplog.records) == 1  # logged once


def test_a_lone_route_and_a_lone_train_may_come_as_objects_and_xml_times_parse() -> None:
    body = {
        "ctatt": {
            "tmst": "20130610 15:00:21",
            "errCd": "0",
            "errNm": None,
            "route": {"@name": "red", "train": {"rn": "804", "nextStaId": "41400", "nextStpId": "30269"}},
        }
    }
    positions = parse_positions(json.dumps(body).encode())
    assert [(t.line, t.run, t.next_station_id) for t in positions.trains] == [("red", "804", 41400)]
    assert positions.generated_at == datetime(2013, 6, 10, 20, 0, 21, tzinfo=UTC)  # CDT is UTC-5


@pytest.mark.parametrize(
    ("code", "retry"),
    [("101", False), ("102", False), ("106", False), ("900", True), ("42", True)],
)
def test_api_error_codes_say_whether_a_retry_can_help(code: str, retry: bool) -> None:
    body = json.dumps({"ctatt": {"tmst": "2026-12-01T08:00:00", "errCd": code, "errNm": "the API's message"}})
    with pytest.raises(FeedProblem) as problem:
        parse_positions(body.encode())
    assert f"Train Tracker error {code}: the API's message" in str(problem.value)
    assert problem.value.retry is retry


def test_a_train_without_its_run_or_next_station_is_left_out_and_counted(network: Network) -> None:
    health = FeedHealth("cta-train-tracker")
    body = {
        "ctatt": {
            "tmst": "2026-12-01T08:00:00",
            "errCd": "0",
            "route": [
                {"@name": "red", "train": [{"rn": "801"}, {"nextStaId": "40650"}, {"rn": "802", "nextStaId": "40650"}]}
            ],
        }
    }
    positions = parse_positions(json.dumps(body).encode())
    assert [t.run for t in positions.trains] == ["802"]
    TrainTrackerAdapter(network, health).update(positions)
    assert health.counts["incomplete_trains"] == 2


def red_body(minute: int, stop: RouteStop, arrives: str | None = None) -> bytes:
    """A Locations API response (CONSTRUCTED) with Red run 801 bound for 95th, next at ``stop``."""
    train = {"rn": "801", "destSt": "30089", "destNm": "95th/Dan Ryan", "trDr": "5",
             "nextStaId": str(stop.station_id), "nextStpId": str(stop.stop_id("a")), "nextStaNm": "x",
             "isApp": "0", "isDly": "0", **({"arrT": arrives} if arrives else {})}  # fmt: skip
    tmst = f"2026-12-01T08:{minute:02d}:00"
    return json.dumps({"ctatt": {"tmst": tmst, "errCd": "0", "route": [{"@name": "red", "train": [train]}]}}).encode()


def positions(adapter: TrainTrackerAdapter, number: int, body: bytes) -> list[ArrivalEvent]:
    at = datetime(2026, 12, 1, 14, number, tzinfo=UTC)
    return adapter.on_poll(Poll(number, at, {"positions": FeedResponse("positions", at, 200, body)}))


def test_stations_passed_between_two_polls_are_each_reported_in_order_at_times_between_them(
    network: Network,
) -> None:
    stops = network.route("red").stops  # Howard first: 'a' runs towards 95th
    assert network.stops[30089].station_id == stops[-1].station_id  # 95th/Dan Ryan, the destination
    adapter = TrainTrackerAdapter(network, FeedHealth("cta-train-tracker"))
    assert positions(adapter, 1, red_body(0, stops[3], arrives="2026-12-01T08:01:00")) == []
    # Polls failed for six minutes: the run is now heading for the 8th station, past the 4th to the 7th.
    arrivals = positions(adapter, 2, red_body(6, stops[7]))
    assert [(a.station_id, a.stop_id, a.direction) for a in arrivals] == [
        (stop.station_id, stop.stop_id("a"), "a") for stop in stops[3:7]
    ]
    assert [a.prev_station_id for a in arrivals] == [None, *(stop.station_id for stop in stops[3:6])]
    # The first at its predicted time (08:01 Chicago), the others spread up to the newer response (08:06).
    assert [a.at.strftime("%H:%M:%S") for a in arrivals] == ["14:01:00", "14:02:15", "14:03:30", "14:04:45"]
    assert adapter.health.counts["unknown_paths"] == 0


def test_without_a_prediction_the_passed_stations_are_spread_up_to_the_newer_response(network: Network) -> None:
    stops = network.route("red").stops
    adapter = TrainTrackerAdapter(network, FeedHealth("cta-train-tracker"))
    positions(adapter, 1, red_body(0, stops[3]))
    arrivals = positions(adapter, 2, red_body(4, stops[5]))
    assert [(a.station_id, a.at.strftime("%H:%M")) for a in arrivals] == [
        (stops[3].station_id, "14:02"),
        (stops[4].station_id, "14:04"),  # the last passed one at the newer response's time, never later
    ]


def test_a_next_station_that_is_not_ahead_along_the_route_is_counted_not_guessed(network: Network) -> None:
    stops = network.route("red").stops
    adapter = TrainTrackerAdapter(network, FeedHealth("cta-train-tracker"))
    positions(adapter, 1, red_body(0, stops[6]))
    arrivals = positions(adapter, 2, red_body(2, stops[2]))  # behind it: no path along the route
    assert [a.station_id for a in arrivals] == [stops[6].station_id]  # only the station that was next
    assert adapter.health.counts["unknown_paths"] == 1
