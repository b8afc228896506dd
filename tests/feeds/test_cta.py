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
from transit_status.feeds.polling import FeedProblem
from transit_status.feeds.recording import ReplaySource, read_recording
from transit_status.networks import Network
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
