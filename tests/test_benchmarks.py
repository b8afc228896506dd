"""The benchmarks as a user relies on them (pure): `make bench` runs every one with the defaults the
published figures use, and a wrong result (a lost or duplicated count) ends a run with exit 1 instead
of being written to a JSON file nobody reads."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
HELPERS = {"stack"}  # shared code, not a benchmark


@pytest.fixture(autouse=True)
def benchmarks_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `make bench` runs them: from benchmarks/, with the project root on the path."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.syspath_prepend(str(ROOT))


def bench_recipe() -> str:
    makefile = (ROOT / "Makefile").read_text()
    return re.search(r"^bench:.*?(?=^\S)", makefile, flags=re.S | re.M).group(0)  # type: ignore[union-attr]


def test_make_bench_runs_every_benchmark_with_its_defaults() -> None:
    recipe = bench_recipe()
    scripts = {path.stem for path in BENCHMARKS.glob("*.py")} - HELPERS
    listed = set(re.search(r"for script in (.*?); do", recipe, flags=re.S).group(1).replace("\\", " ").split())  # type: ignore[union-attr]
    assert listed == scripts
    # The published figures are the scripts' defaults: make passes no option, and stops at a failure.
    assert re.search(r"\$\$script\.py \|\| exit 1", recipe)


def test_a_wrong_result_exits_1_with_what_was_wrong() -> None:
    from stack import require_correct

    require_correct([])  # nothing wrong: no exit
    with pytest.raises(SystemExit) as exited:
        require_correct(["end to end: 2 stations' counts wrong"])
    # SystemExit with a message: Python prints it and the process exits 1.
    assert isinstance(exited.value.code, str)
    assert exited.value.code.startswith("WRONG RESULT: end to end")


def test_turnstile_counts_off_by_one_event_are_wrong() -> None:
    from turnstile_throughput import count_problems

    produced = Counter({40000: 3, 40010: 2})
    assert count_problems(produced, {40000: 3, 40010: 2}, "end to end") == []
    lost = count_problems(produced, {40000: 3, 40010: 1}, "end to end")
    duplicated = count_problems(produced, {40000: 4, 40010: 2}, "end to end")
    unexpected = count_problems(produced, {40000: 3, 40010: 2, 40020: 1}, "end to end")
    assert lost and "1 missing" in lost[0]
    assert duplicated and "1 too many" in duplicated[0]
    assert unexpected and "1 too many" in unexpected[0]


def test_london_taps_missing_duplicated_or_not_joined_are_wrong() -> None:
    from london_barrier_throughput import check_problems

    clean = {"records": 10, "duplicated_users": 0, "missing_users": 0, "unexpected_users": 0, "not_known": 0}
    assert check_problems("200000 taps", {"station_entries": clean, "station-entries": clean}) == []
    for what in ("duplicated_users", "missing_users", "unexpected_users", "not_known"):
        problems = check_problems("200000 taps", {"station_entries": {**clean, what: 1}})
        assert problems == [f"200000 taps: station_entries: 1 {what.replace('_', ' ')}"]


def test_results_name_the_machine_its_load_and_the_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import stack

    monkeypatch.setattr(stack, "RESULTS", tmp_path)
    written = json.loads(stack.write_results("example", {"figure": 1}).read_text())
    machine = written["machine"]
    assert {"cpus", "ram_gib", "load_average_at_start", "load_average_at_end", "commit"} <= machine.keys()
    assert len(machine["load_average_at_end"]) == 3
    assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?", machine["commit"])


def test_gtfs_out_measures_the_whole_fleet_and_writes_its_figures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gtfs_out
    import stack

    monkeypatch.setattr(stack, "RESULTS", tmp_path)
    monkeypatch.setattr("sys.argv", ["gtfs_out.py", "--repeats", "1"])  # the quick mode
    gtfs_out.main()
    written = json.loads((tmp_path / "gtfs_out.json").read_text())
    assert written["static"]["zip_bytes"] > 0 and written["static"]["build"]["median_ms"] > 0
    realtime = written["realtime"]
    # The simulation's whole peak fleet, every in-service train in the realtime feeds.
    assert realtime["trains"] > 100
    assert realtime["feeds"]["vehicle-positions"]["entities"] == realtime["trains"]
    assert realtime["feeds"]["alerts"]["entities"] == realtime["broken_down"]
    for feed in realtime["feeds"].values():
        assert feed["json_bytes"] > feed["protobuf_bytes"] > 0


@pytest.mark.parametrize("adapter", ["cta-train-tracker", "gtfs-rt"])
def test_feed_latency_serves_its_recording_poll_by_poll_to_the_real_adapter(adapter: str, tmp_path: Path) -> None:
    """The benchmark's server and expectations, against the adapter's real HTTP client (no stack): the
    first poll repeats until the run starts, then each poll moves every train of the fleet once."""
    import threading

    import feed_latency
    from transit_status.config import load_settings
    from transit_status.feeds.polling import LiveSource
    from transit_status.networks import load_network

    # A state directory of its own: the gtfs-rt feed saves the static GTFS it reads there.
    settings = load_settings(state_dir=tmp_path / "state").with_overrides(network="cta")
    recording = feed_latency.write_recording(adapter, load_network(settings), 3, tmp_path / adapter, 3.0)
    moves = feed_latency.expected_moves(settings, recording)
    assert len(moves[1]) == len(moves[2]) > 100  # every train of the fleet moves at every poll
    with feed_latency.serving(recording) as server:
        feed = feed_latency.open_feed(settings.with_overrides(**feed_latency.stack_settings(adapter, server, 3.0)))
        polls = LiveSource(feed.requests, 0.0).polls(threading.Event())
        feed.adapter.on_poll(next(polls))
        assert feed.adapter.on_poll(next(polls)) == []  # the first poll again: nothing moves
        server.go()
        for index in (1, 2):
            shown = {arrival.train_id: arrival.station_id for arrival in feed.adapter.on_poll(next(polls))}
            assert shown == moves[index]
            assert server.poll_answered(index) is not None
        assert server.served_all() and feed.adapter.health.state == "ok"
        # Run out: the last poll repeats (nothing moves), and still counts from when it was first served.
        served = server.poll_answered(2)
        assert feed.adapter.on_poll(next(polls)) == []
        assert server.poll_answered(2) == served


def test_feed_latency_counts_from_the_response_and_reports_a_train_never_shown() -> None:
    from feed_latency import Seen, match

    moves = [{}, {"RL001": 40650, "BL001": 41020}, {"RL001": 40630}]
    answered = {1: (100.0, 1000.0), 2: (103.0, 1003.0)}
    seen = [
        Seen("RL001", 40650, 100.05, 1000.05, 1000_020),
        Seen("BL001", 41020, 100.2, 1000.2, 1000_100),
        Seen("RL001", 40630, 102.9, 1002.9, 1002_900),  # before poll 2 was served: not its move
    ]
    result = match(moves, answered, seen)
    assert [round(ms) for ms in result.per_train_ms] == [50, 200]
    assert [round(ms) for ms in result.per_poll_ms] == [200]  # poll 3 never showed whole
    assert [round(ms) for ms in result.to_produce_ms] == [20, 100]
    assert result.missing == ["poll 3: RL001 at 40630"]


def test_alert_latency_holds_each_train_past_its_due_time_then_moves_it_out_of_service() -> None:
    """The held trains' scenario: on schedule, then no report until past ``arrived + run_s + margin``."""
    import alert_latency
    from transit_status.networks.cta import load_cta_network
    from transit_status.pipeline.schedule import cta_schedule
    from transit_status.simulation.events import TrainStatus

    network = load_cta_network()
    schedule = {(row.station_id, row.direction): row for row in cta_schedule(network) if row.line == "red"}
    stations = network.route("red").station_ids
    start, stagger, extra = 1_712_750_400_000, 73_000, 300_000
    plan = alert_latency.plan(network, schedule, start, 12, stagger, 120, extra)
    assert len({train.train_id for train in plan.held}) == 12
    for n, train in enumerate(plan.held):
        reports = [event for event in plan.reports if event.train_id == train.train_id]
        times = [round(event.at.timestamp() * 1000) for event in reports]
        assert times[0] == start + n * stagger and times == sorted(times)
        # Each report follows the one before by the schedule's run time, until the one it is held at.
        for before, after, at_before, at_after in zip(reports, reports[1:-1], times, times[1:-1], strict=False):
            assert at_after - at_before == round(schedule[(before.station_id, "a")].run_s * 1000)
            assert after.prev_station_id == before.station_id
        held_at = reports[-2]
        assert (held_at.station_id, times[-2]) == (train.station_id, train.arrived_ms)
        assert train.due_ms == train.arrived_ms + round((schedule[(train.station_id, "a")].run_s + 120) * 1000)
        assert stations.index(train.station_id) not in (0, len(stations) - 1)  # a terminal's run_s is a layover
        # Reported again only past its due time, out of service: the alert clears and no other opens.
        last = reports[-1]
        assert times[-1] == train.moves_ms == train.due_ms + extra
        assert last.train_status == TrainStatus.OUT_OF_SERVICE and last.prev_station_id == train.station_id
        assert [event.train_status for event in reports[:-1]] == [TrainStatus.IN_SERVICE] * (len(reports) - 1)


def test_alert_latency_reads_the_simulation_clock_from_its_tightest_pair() -> None:
    from datetime import UTC, datetime

    from alert_latency import clock_offset_ms, epoch_ms

    # simulated = 1000 + 10 x wall; each arrival produced 0-50 ms after the clock showed it.
    trains = [
        {"simulated_at": 1000 + 10 * wall, "produced_at": wall + lag}
        for wall, lag in ((5_000, 50), (6_000, 0), (7_000, 20))
    ]
    assert clock_offset_ms(trains, 10.0) == 1000
    # The arrivals' timestamps as fastavro decodes them (timestamp-millis: datetimes) or as numbers.
    assert epoch_ms(datetime(2024, 4, 10, 12, 0, 0, 250_000, tzinfo=UTC)) == 1_712_750_400_250
    assert epoch_ms(1_712_750_400_250) == 1_712_750_400_250
    with pytest.raises(ValueError):
        clock_offset_ms([], 10.0)


def test_alert_latency_times_each_stage_from_the_missed_arrival_and_reports_what_went_wrong() -> None:
    from alert_latency import HeldTrain, Seen, measure

    speed, offset = 10.0, 0.0  # event ms = 10 x wall ms: wall seconds = event ms / 10,000
    ok = HeldTrain("RL900", 40100, "X", arrived_ms=0, run_s=100.0, due_ms=2_200_000, moves_ms=2_500_000)
    early = HeldTrain("RL901", 40200, "Y", arrived_ms=0, run_s=100.0, due_ms=2_200_000, moves_ms=2_500_000)
    never = HeldTrain("RL902", 40300, "Z", arrived_ms=0, run_s=100.0, due_ms=2_200_000, moves_ms=2_500_000)
    due = 220.0  # wall seconds
    record = {"kind": "held", "train_id": "RL900", "since_ms": 0, "station_id": 40100, "at_ms": 2_205_000}
    kafka = Seen(shown={ok.alert_id: due + 2.0}, records={ok.alert_id: record})
    kafka.records["held:RL900:red:40080:a"] = {**record, "station_id": 40080}  # held where it was not
    api = Seen(shown={ok.alert_id: due + 2.3})
    page = Seen(shown={ok.alert_id: due + 3.5, early.alert_id: due - 1.0}, gone={ok.alert_id: 250.0 + 2.0})
    # The watermark (rebuilt from the arrivals) reaches the slide's end (2,205,000) at wall 221.3 s.
    watermarks = [(220.9, 2_190_000), (221.3, 2_206_000), (222.0, 2_215_000)]
    result = measure([ok, early, never], offset, speed, kafka, api, page, watermarks)
    row = result["alerts"][0]
    assert row["tick_s"] == 0.5 and row["fired_s"] == 1.3  # slide end 5 s of event time late; fired at 221.3
    assert (row["kafka_s"], row["api_s"], row["page_s"], row["page_clear_s"]) == (2.0, 2.3, 3.5, 2.0)
    split = result["split"]
    assert split["watermark (slide end -> window fires)"]["max_s"] == 0.8
    assert split["checkpoint (fires -> readable in kafka)"]["max_s"] == 0.7
    assert split["page poll (api -> page)"]["max_s"] == 1.2
    problems = " | ".join(result["problems"])
    assert "held:RL900:red:40080:a: a held alert where no train was held" in problems
    assert f"{early.alert_id}: shown 1.0 s before" in problems
    assert f"{never.alert_id}: never shown on the page" in problems


def test_jobs_cost_runs_differ_in_exactly_issue_18s_jobs() -> None:
    from jobs_cost import added, jobs_of

    with_cta, with_london = jobs_of("with")
    without_cta, without_london = jobs_of("without")
    left_out = {job.name for job in with_cta + with_london} - {job.name for job in without_cta + without_london}
    assert left_out == {"cta-run-times", "cta-service-health", "london-crowding"}
    assert {job.name for job in without_cta + without_london} == {"turnstile-summary", "london-barriers"}
    assert added({"a": 1.0, "b": 2.0, "gone": 5.0}, {"a": 1.5, "b": 2.0}) == {"a": 0.5, "b": 0.0, "total": -4.5}
