"""The run-times job on Flink (sql/cta_run_times.sql): which pairs of arrivals are runs, the typical run of a
leg and how it follows a slower service, bad records as dead letters, and the watchdog restoring the job
from its checkpoint. Real Kafka, registry and Flink; arrivals written with the real Avro serializers and
network times of our choosing, on private topics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka.serialization import MessageField

from tests.dashboard.support import Feed, Topics
from tests.helpers import read_all
from tests.pipeline.support import private_job_settings, records_when
from tests.processes import wait_until
from transit_status.config import Settings
from transit_status.networks.cta import load_cta_network
from transit_status.pipeline import watchdog as watchdog_module
from transit_status.pipeline import work
from transit_status.pipeline.sql_jobs import (
    CTA_RUN_TIMES,
    cancel_job,
    cluster_jobs,
    ensure_job,
    latest_checkpoint,
    wait_until_running,
)
from transit_status.pipeline.watchdog import Watchdog
from transit_status.pipeline.work import ExpectedWork, GroupWork

pytestmark = pytest.mark.platform

T0 = 1_712_750_400_000  # 2024-04-10 12:00 UTC
S = 1000
_KEY, _VALUE = MessageField.KEY, MessageField.VALUE


class Arrivals:
    """Arrivals at network times of our choosing (``simulated_at``), through the registry's Avro."""

    def __init__(self, settings: Settings) -> None:
        self.feed = Feed(settings, Topics(settings))
        self.red = load_cta_network().route("red").station_ids
        self.pending: list[tuple[int, bytes, bytes]] = []

    def send(self, train: str, index: int, at_s: float, direction: str = "a", **fields: object) -> None:
        value = {
            "station_id": self.red[index],
            "station_name": f"station {index}",
            "stop_id": None,
            "train_id": train,
            "direction": direction,
            "line": "red",
            "route": "red",
            "train_status": "in_service",
            "prev_station_id": self.red[index - 1] if index else self.red[1],
            "prev_direction": direction,
            "simulated_at": T0 + int(at_s * S),
            "produced_at": T0,
            **fields,
        }
        topic = self.feed.topics.arrivals
        key = self.feed._serialize("arrival_key", topic, _KEY, {"train_id": train})
        value_bytes = self.feed._serialize("arrival_value", topic, _VALUE, value)
        self.pending.append((int(value["simulated_at"]), key, value_bytes))  # type: ignore[call-overload]

    def flush(self) -> None:
        """Everything sent, in network-time order, as a live producer writes it: the job drops an arrival
        more than 30 network seconds behind the newest one it has read (late)."""
        for _, key, value in sorted(self.pending, key=lambda record: record[0]):
            self.feed.producer.produce(self.feed.topics.arrivals, key=key, value=value)
        self.pending.clear()
        self.feed.flush()


def leg(red: tuple[int, ...], a: int, b: int, direction: str = "a") -> str:
    return json.dumps(
        {"line": "red", "direction": direction, "from_station_id": red[a], "to_station_id": red[b]},
        separators=(",", ":"),
    )


def learned(settings: Settings) -> dict[str, list[dict]]:
    """Every value written per leg, in order."""
    history: dict[str, list[dict]] = {}
    for message in read_all(settings, settings.topic_run_times):
        history.setdefault(_canonical(message.key()), []).append(json.loads(message.value()))
    return history


def _canonical(key: bytes) -> str:
    return json.dumps(json.loads(key), separators=(",", ":"))


@pytest.fixture
def settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    # One partition: the arrivals are read in the order written. (Over several partitions, one read a
    # moment after another that is far ahead in network time is late; live, every partition moves on
    # with the network's clock.)
    with private_job_settings(platform.with_overrides(partitions=1), request, CTA_RUN_TIMES) as job_settings:
        yield job_settings


def test_runs_are_learned_and_holds_turnarounds_first_sightings_and_bad_records_are_not(settings: Settings) -> None:
    submission = ensure_job(settings, CTA_RUN_TIMES)
    wait_until_running(settings, submission.name, timeout_s=120)
    arrivals = Arrivals(settings)
    red = arrivals.red
    # RL001: first seen at 0 (mid-leg), then 1 -> 2 in 90 s; held (broken down) at 2; then 3 -> 4 in 90 s.
    arrivals.send("RL001", 0, 0, prev_station_id=None, prev_direction=None)
    arrivals.send("RL001", 1, 40)
    arrivals.send("RL001", 2, 130, train_status="broken_down")
    arrivals.send("RL001", 3, 800)
    arrivals.send("RL001", 4, 890)
    # RL002 turns without a report at the terminal: 'a' at station -2, then 'b' at -3 (the layover), then -4.
    arrivals.send("RL002", len(red) - 2, 0)
    arrivals.send("RL002", len(red) - 3, 500, direction="b")
    arrivals.send("RL002", len(red) - 4, 580, direction="b")
    # RL003: a report lost for 40 minutes between 7 and 8.
    arrivals.send("RL003", 7, 0)
    arrivals.send("RL003", 8, 2400)
    # RL004 at 11, then its producer restarted: first seen again at 12 (placed anew, the clock going on).
    arrivals.send("RL004", 11, 0)
    arrivals.send("RL004", 12, 60, prev_station_id=None, prev_direction=None)
    # Five trains run 5 -> 6 in 90, 100, 110, 120 and 500 s (the last one held, unreported); then five in
    # 200 s: the service has slowed.
    for n, run_s in enumerate((90, 100, 110, 120, 500, 200, 200, 200, 200, 200)):
        train, start = f"RL1{n:02d}", 1000 + n * 300
        arrivals.send(train, 5, start)
        arrivals.send(train, 6, start + run_s)
    # Bad records: not Avro; key and value of different trains; a direction that is neither a nor b.
    topic = arrivals.feed.topics.arrivals
    good_key = arrivals.feed._serialize("arrival_key", topic, _KEY, {"train_id": "RL900"})
    arrivals.feed.raw(topic, good_key, b"not avro at all")
    arrivals.send("RL900", 9, 0, train_id="RL901")
    arrivals.send("RL902", 9, 0, direction="x")
    # Event time moves on past everything above (the job waits 30 network seconds for late arrivals).
    arrivals.send("RL999", 10, 10_000)
    arrivals.flush()

    final = leg(red, 5, 6)
    history = wait_until(
        lambda: (found := learned(settings)) and len(found.get(final, [])) == 10 and found,
        90,
        "ten runs of one leg learned",
    )
    typical = [value["run_seconds"] for value in history[final]]
    # Plain mean of 1-3 runs; then the mean without the fastest and slowest of the last 5.
    assert typical[:5] == pytest.approx([90, 95, 100, 105, 110])
    assert typical[5:] == pytest.approx([(1030 - 100 - 500) / 3, (1130 - 110 - 500) / 3, 200, 200, 200])
    latest = history[final][-1]
    assert latest | {"run_seconds": 0} == {
        "line": "red", "direction": "a", "from_station_id": red[5], "to_station_id": red[6], "run_seconds": 0,
        "samples": 5, "min_seconds": 200.0, "max_seconds": 200.0, "learned_at": T0 + (1000 + 9 * 300 + 200) * S,
    }  # fmt: skip

    assert history[leg(red, 1, 2)][-1]["run_seconds"] == 90.0
    assert history[leg(red, 3, 4)][-1]["run_seconds"] == 90.0
    assert history[leg(red, len(red) - 3, len(red) - 4, "b")][-1]["run_seconds"] == 80.0
    not_runs = {
        leg(red, 0, 1): "from a first sighting",
        leg(red, 2, 3): "from a hold",
        leg(red, len(red) - 2, len(red) - 3, "b"): "across a turnaround",
        leg(red, 7, 8): "across 40 minutes of lost reports",
        leg(red, 11, 12): "to a first sighting (a restarted producer's)",
    }
    assert [why for key, why in not_runs.items() if key in history] == []

    letters = records_when(settings, settings.topic_dead_letters, 3, timeout_s=60)
    errors = sorted(dict(letter.headers())["dlq.error"].decode() for letter in letters)
    assert {dict(letter.headers())["dlq.consumer"] for letter in letters} == {b"flink.cta-run-times"}
    assert any("not Confluent Avro" in error for error in errors)
    assert any("differs from value train_id" in error for error in errors)
    assert any("direction must be a or b" in error for error in errors)


def test_the_watchdog_restores_the_job_from_its_checkpoint(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    name = CTA_RUN_TIMES.job_name(settings)
    # The watchdog watches this job and its source group only: the rest of Chicago's work (the turnstile
    # job, the stations connector) would start beside it for nothing. That the job is in Chicago's
    # expected work is test_work.py's (pure) check.
    only_this = ExpectedWork((CTA_RUN_TIMES,), (), (GroupWork(name, (settings.topic_arrivals,)),))
    monkeypatch.setattr(work, "expected_work", lambda _settings: only_this)
    monkeypatch.setattr(watchdog_module, "expected_work", lambda _settings: only_this)
    watchdog = Watchdog(settings)

    def running() -> str | None:
        return next((j["jid"] for j in cluster_jobs(settings) if j["name"] == name and j["state"] == "RUNNING"), None)

    def job_state() -> str:
        return next(item.state for item in watchdog.check() if item.kind == "job" and item.name == name)

    assert job_state() == "missing"  # and the check submitted it
    first = wait_until(running, 120, "the job submitted by the watchdog")
    wait_until(lambda: latest_checkpoint(settings, CTA_RUN_TIMES), 60, "a completed checkpoint")
    cancel_job(settings, first)
    wait_until(lambda: running() is None, 60, "the job gone")
    again = wait_until(
        lambda: job_state() and (jid := running()) and jid != first and jid, 120, "the job restored by the watchdog"
    )
    assert again != first
    assert any(name == action["item"] and "from checkpoint" in action["action"] for action in watchdog._actions)
    wait_until(lambda: job_state() == "running", 60, "the watchdog to see it running")
    watchdog.reader.close()
