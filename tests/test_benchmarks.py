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
