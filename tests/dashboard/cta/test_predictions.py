"""Arrival predictions and their accuracy (dashboard/cta/predictions.py), pure: the real CTA network, times
passed in. A train's predicted arrival is its report time plus the learned run times along its way; an
overdue train is due, not early; what was on the board 1, 3 and 5 minutes before an arrival is scored
against it, breakdowns apart; the network's clock comes from the arrivals; the run-times contract; and the
board's HTTP endpoint (unknown station 404, malformed 422)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from transit_status.avro.wire import BadRecord
from transit_status.dashboard.app import create_app
from transit_status.dashboard.cta.predictions import (
    Accuracy,
    NetworkClock,
    Predictor,
    Report,
    RunTime,
    RunTimes,
    Sample,
    Unpredicted,
    minutes_text,
    quantile,
)
from transit_status.dashboard.cta.run_times import run_time_change
from transit_status.dashboard.cta.state import Train, TrainArrival
from transit_status.dashboard.state import Received
from transit_status.networks import Network
from transit_status.platform.ports import isolated_settings
from transit_status.wallclock import now_ms

T0 = 1_712_750_400_000  # 2024-04-10 12:00 UTC, in ms
RUN_S = 90.0


def red_way(network: Network) -> tuple[int, ...]:
    return network.route("red").station_ids  # Howard ... 95th/Dan Ryan ('a')


def learned(network: Network, seconds: float = RUN_S, upto: int | None = None) -> RunTimes:
    """Every red 'a' leg (or the first ``upto``) learned at ``seconds``."""
    way = red_way(network)
    legs = list(itertools.pairwise(way))[:upto]
    return RunTimes(RunTime("red", "a", a, b, seconds, 5, T0) for a, b in legs)


def report(network: Network, index: int, at_ms: int, status: str = "in_service", **changes: object) -> Report:
    fields: dict[str, object] = {
        "train_id": "RL001",
        "line": "red",
        "route": "red",
        "station_id": red_way(network)[index],
        "direction": "a",
        "status": status,
        "at_ms": at_ms,
    }
    return Report(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_train_is_predicted_at_each_station_ahead_by_adding_up_the_run_times(network: Network) -> None:
    way = red_way(network)
    predictor = Predictor(network, learned(network))
    predictor.report(report(network, 2, T0))
    forecast = predictor.latest("RL001")
    assert forecast is not None
    assert forecast.arrival_ms(way[3], T0) == T0 + 90_000
    assert forecast.arrival_ms(way[7], T0 + 30_000) == T0 + 5 * 90_000
    assert forecast.arrival_ms(way[2], T0) is None  # where it is, and behind it: not ahead
    assert forecast.arrival_ms(way[1], T0) is None
    assert forecast.destination == "95th/Dan Ryan"

    board = predictor.board(way[7], T0 + 60_000)
    southbound = next(p for p in board if p["direction"] == "a")
    [row] = southbound["trains"]
    assert row["train_id"] == "RL001" and row["destination"] == "95th/Dan Ryan"
    assert row["seconds"] == 390.0 and row["minutes"] == "6 min" and row["stops_away"] == 5
    assert southbound["platform"].endswith("(95th-bound)")
    assert next(p for p in board if p["direction"] == "b")["trains"] == []


def test_nothing_is_predicted_beyond_a_leg_not_learned_yet_nor_from_a_first_sighting(network: Network) -> None:
    way = red_way(network)
    predictor = Predictor(network, learned(network, upto=4))  # legs 0-1 ... 3-4
    predictor.report(report(network, 1, T0))
    forecast = predictor.latest("RL001")
    assert forecast is not None
    assert [station for station, _ in forecast.ahead] == [way[2], way[3], way[4]]
    predictor.report(report(network, 0, T0, train_id="RL002", first=True))  # seen mid-leg: not an arrival
    assert not predictor.latest("RL002").predicts  # type: ignore[union-attr]
    predictor.report(report(network, len(way) - 1, T0, train_id="RL003"))  # at the terminal
    assert not predictor.latest("RL003").predicts  # type: ignore[union-attr]


def test_an_overdue_train_is_due_at_its_next_station_and_moves_everything_beyond_on(network: Network) -> None:
    way = red_way(network)
    predictor = Predictor(network, learned(network))
    predictor.report(report(network, 2, T0))
    forecast = predictor.latest("RL001")
    assert forecast is not None
    late = T0 + 150_000  # 60 s past its predicted arrival at the next station
    assert forecast.arrival_ms(way[3], late) == late
    assert forecast.arrival_ms(way[4], late) == late + 90_000
    assert minutes_text(0) == "Due" and minutes_text(29) == "Due" and minutes_text(95) == "2 min"


def test_each_arrival_is_scored_against_what_was_predicted_1_3_and_5_minutes_before(network: Network) -> None:
    predictor = Predictor(network, learned(network))
    predictor.report(report(network, 0, T0))
    # At way[4] the train is 40 s late: predicted T0 + 360 s, arrived T0 + 400 s. Reports at way[1..3] on time.
    for index in (1, 2, 3):
        predictor.report(report(network, index, T0 + index * 90_000))
    outcomes = predictor.report(report(network, 4, T0 + 400_000))
    samples = {o.horizon_s: o for o in outcomes if isinstance(o, Sample)}
    assert set(samples) == {60, 180, 300}
    # 1 min before (T0+340 s) the board had the report at way[3] (T0+270 s): predicted T0+360 s.
    assert samples[60].error_s == -40.0 and samples[60].predicted_ms == T0 + 360_000
    assert samples[180].error_s == -40.0  # asked at T0+220 s: report at way[2]
    assert samples[300].error_s == -40.0  # asked at T0+100 s: report at way[1]
    assert not any(sample.disrupted for sample in samples.values())


def test_a_breakdown_between_the_prediction_and_the_arrival_is_counted_apart(network: Network) -> None:
    predictor = Predictor(network, learned(network))
    predictor.report(report(network, 0, T0))
    predictor.report(report(network, 1, T0 + 90_000, status="broken_down"))  # held 10 minutes
    outcomes = predictor.report(report(network, 2, T0 + 780_000))
    samples = [o for o in outcomes if isinstance(o, Sample)]
    assert samples and all(sample.disrupted for sample in samples)
    accuracy = Accuracy()
    accuracy.add(outcomes)
    [one_minute] = [row for row in accuracy.summary() if row["horizon_s"] == 60]
    assert one_minute["normal"]["samples"] == 0 and one_minute["breakdowns"]["samples"] == 1
    # Asked 1 minute before: it was overdue, so shown as due then (T0+720 s), 60 s before it came.
    assert one_minute["breakdowns"]["p50_s"] == 60.0


def test_no_prediction_across_a_turnaround_is_counted_as_unpredicted_not_as_an_error(network: Network) -> None:
    way = red_way(network)
    predictor = Predictor(network, learned(network))
    last = len(way) - 1
    predictor.report(report(network, last, T0))  # arrives at 95th ('a')
    outcomes = predictor.report(report(network, last - 1, T0 + 600_000, direction="b"))  # back north
    assert outcomes and all(isinstance(o, Unpredicted) for o in outcomes)


def test_run_times_learned_later_show_from_then_on_and_earlier_predictions_stay_as_they_were(
    network: Network,
) -> None:
    way = red_way(network)
    run_times = RunTimes()
    predictor = Predictor(network, run_times)
    predictor.report(report(network, 0, T0))
    assert not predictor.latest("RL001").predicts  # type: ignore[union-attr]
    for run_time in learned(network).all():
        run_times.put(run_time)
    assert predictor.refresh(T0 + 20_000) == 1
    assert predictor.latest("RL001").arrival_ms(way[3], T0 + 20_000) == T0 + 270_000  # type: ignore[union-attr]
    # Arrives at way[1] on time: 1 minute before (T0+30 s) the board showed the refreshed forecast.
    at_1 = {o.horizon_s: o for o in predictor.report(report(network, 1, T0 + 90_000))}
    assert isinstance(at_1[60], Sample) and at_1[60].error_s == 0.0
    assert set(at_1) == {60}  # 3 and 5 minutes before, the train was not known: nothing shown, nothing missed
    # At way[2]: 3 minutes before (T0) the board had nothing for it yet, and that is what is scored.
    at_2 = {o.horizon_s: o for o in predictor.report(report(network, 2, T0 + 180_000))}
    assert isinstance(at_2[60], Sample) and at_2[60].error_s == 0.0
    assert isinstance(at_2[180], Unpredicted)


def test_the_networks_clock_is_the_tightest_bound_the_recent_arrivals_give(network: Network) -> None:
    clock = NetworkClock(rate=10.0)
    assert clock.now(1_000) is None
    clock.observe(network_ms=50_000, produced_ms=1_000)  # produced a little after its network time
    clock.observe(network_ms=59_000, produced_ms=1_050)  # produced 50 ms later: the tighter bound
    assert clock.now(2_000) == 59_000 + 10 * 950
    clock.observe(network_ms=60_000, produced_ms=1_200)  # looser than the one before
    assert clock.now(2_000) == 59_000 + 10 * 950
    clock.observe(network_ms=400_000, produced_ms=40_000)  # 30 s later the old anchors are gone
    assert clock.now(40_000) == 400_000


def test_quantiles_are_linear_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0], 0.9) == 3.0
    assert quantile([0.0, 10.0], 0.5) == 5.0
    assert quantile(list(range(11)), 0.9) == pytest.approx(9.0)


def test_run_time_records_follow_the_contract() -> None:
    key = json.dumps({"line": "red", "direction": "a", "from_station_id": 40900, "to_station_id": 41190}).encode()
    value = json.dumps(
        {"line": "red", "direction": "a", "from_station_id": 40900, "to_station_id": 41190, "run_seconds": 92.5,
         "samples": 5, "min_seconds": 90.0, "max_seconds": 99.0, "learned_at": T0}
    ).encode()  # fmt: skip
    change = run_time_change(key, value)
    assert isinstance(change, RunTime) and change.run_seconds == 92.5 and change.key == ("red", "a", 40900, 41190)
    assert run_time_change(key, None) == ("red", "a", 40900, 41190)  # a tombstone forgets the leg
    other = key.replace(b"41190", b"41200")
    with pytest.raises(BadRecord, match="key does not match"):
        run_time_change(other, value)
    with pytest.raises(BadRecord, match="direction"):
        run_time_change(key.replace(b'"a"', b'"x"'), None)
    with pytest.raises(BadRecord, match="run_seconds"):
        run_time_change(key, value.replace(b"92.5", b'"fast"'))
    with pytest.raises(BadRecord, match="key is null"):
        run_time_change(None, value)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(isolated_settings(tmp_path), start_consumer=False)) as test_client:
        yield test_client


def test_the_board_endpoint_answers_per_station_and_refuses_unknown_and_malformed_ids(
    client: TestClient, network: Network
) -> None:
    way = red_way(network)
    predictions = client.app.state.chicago.predictions  # type: ignore[attr-defined]
    for run_time in learned(network).all():
        predictions.predictor.run_times.put(run_time)
    # Network time 10x the wall clock (the default speed): the train was reported 'now' in network time.
    wall = now_ms()
    train = Train("RL001", "red", "red", way[0], "Howard", "a", "in_service", T0, wall, prev_station_id=41200)
    predictions.feed([Received("arrivals", TrainArrival(train), wall, wall)])

    body = client.get(f"/api/stations/{way[3]}/arrivals").json()
    assert body["station_name"] == network.stations[way[3]].name
    assert body["rate"] == 10.0 and "simulated" in body["time_basis"]
    [row] = next(p for p in body["platforms"] if p["direction"] == "a")["trains"]
    assert row["train_id"] == "RL001" and row["predicted_at"] == T0 + 270_000
    assert 260 <= row["seconds"] <= 270  # a few wall milliseconds (x10) have passed since the report

    missing = client.get("/api/stations/99999/arrivals")
    assert missing.status_code == 404 and "no station 99999" in missing.json()["detail"]
    assert client.get("/api/stations/howard/arrivals").status_code == 422
    assert client.get("/api/stations/-5/arrivals").status_code == 422
    summary = client.get("/api/predictions").json()
    assert summary["run_times_learned"] == len(way) - 1
    assert [row["horizon_s"] for row in summary["accuracy"]] == [60, 180, 300]
    metrics = client.get("/metrics").text
    assert "transit_prediction_run_times_learned" in metrics and "transit_prediction_error_seconds" in metrics


def test_trains_not_reported_for_long_are_forgotten_not_held_forever(network: Network) -> None:
    predictor = Predictor(network, learned(network))
    for number in range(50):  # e.g. a real feed's vehicles of a day: each seen once, then gone
        predictor.report(report(network, 2, T0 + number * 1_000, train_id=f"GONE{number}"))
    assert predictor.trains() == 50
    later = T0 + 2 * 3_600_000
    predictor.report(report(network, 2, later))
    assert predictor.trains() == 1 and predictor.latest("GONE0") is None
    assert predictor.latest("RL001") is not None


def test_a_network_clock_that_goes_back_starts_each_train_afresh(network: Network) -> None:
    # A restarted simulation runs its clock from the wall clock again: hours behind the last run's.
    way = red_way(network)
    predictor = Predictor(network, learned(network))
    predictor.report(report(network, 2, T0 + 6 * 3_600_000))
    assert predictor.report(report(network, 1, T0 + 6 * 3_600_000 - 60_000)) == []  # a replayed report: ignored
    predictor.report(report(network, 4, T0))  # the new run's report
    forecast = predictor.latest("RL001")
    assert forecast is not None and forecast.report.at_ms == T0
    [southbound] = [p for p in predictor.board(way[5], T0 + 10_000) if p["direction"] == "a"]
    assert [row["train_id"] for row in southbound["trains"]] == ["RL001"]


def test_a_train_seen_afresh_on_a_clock_that_goes_on_is_not_scored_against_the_last_run(network: Network) -> None:
    # A restarted simulation resumes the last run's clock and places its trains anew: the same train
    # seen afresh (no previous station) somewhere else a little later.
    predictor = Predictor(network, learned(network))
    predictor.report(report(network, 2, T0))  # the last run: station 11 predicted at T0 + 13.5 min
    predictor.report(report(network, 9, T0 + 200_000, first=True))  # the new run's first sighting
    predictor.report(report(network, 10, T0 + 290_000))
    outcomes = predictor.report(report(network, 11, T0 + 380_000))
    # 1 minute before: the new run's forecast, on time; 3 minutes before: only a sighting (nothing
    # predicted); 5 minutes before, only the last run's forecast was there: not this train's run, not scored.
    assert [(o.horizon_s, o.error_s) for o in outcomes if isinstance(o, Sample)] == [(60, 0.0)]
    assert [o.horizon_s for o in outcomes if isinstance(o, Unpredicted)] == [180]
