"""The whole CTA pipeline on the real platform: simulation → producers → Kafka → Faust and Flink → dashboard.

The simulation runs in this process for a number of simulated minutes (as fast as it can); the
Faust worker and the dashboard are real subprocesses, exactly as `transit-status run` starts them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from tests.helpers import consume, read_all
from tests.processes import ServiceProcess, wait_until
from transit_status.config import Settings
from transit_status.networks import load_network
from transit_status.pipeline.connectors import ensure_stations_connector
from transit_status.pipeline.sql_jobs import TURNSTILE_SUMMARY, cancel_job, ensure_job, wait_until_running
from transit_status.platform.ports import free_ports, private_topics
from transit_status.platform.service import consumer_group_stable
from transit_status.producers.kafka import EventProducer
from transit_status.producers.runner import SimulationRunner
from transit_status.producers.weather import RestProxyWeatherStation
from transit_status.simulation import SimulationEngine, WeatherReading
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

START = datetime(2024, 4, 10, 7, 30)  # a Wednesday, Chicago time: rush hour, Purple Express running
SEED = 7


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 90.0) -> Any:
    """``wait_until`` that treats an HTTP error or a bad answer as 'not yet' (a process is restarting)."""

    def answered() -> Any:
        try:
            return check()
        except (httpx.HTTPError, ValueError) as error:
            return Mismatch.error(repr(error))

    return wait_until(answered, timeout_s, what, every_s=0.5)


@dataclass
class Pipeline:
    settings: Settings
    streams: ServiceProcess
    dashboard: ServiceProcess
    runner: SimulationRunner
    producer: EventProducer

    def api(self, path: str) -> Any:
        response = httpx.get(f"{self.settings.dashboard_url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()

    def run_minutes(self, minutes: int) -> None:
        self.runner.run_for(timedelta(minutes=minutes))
        assert self.producer.flush(30) == 0
        assert not self.producer.stats.failed, self.producer.stats.failed

    def expected_counts(self) -> dict[str, int]:
        return {str(station): count for station, count in sorted(self.producer.stats.turnstiles_by_station.items())}

    def expected_trains(self) -> dict[str, tuple[int, str, str]]:
        return {
            position.train_id: (position.station_id, position.direction, str(position.status))
            for position in self.runner.engine.snapshot().trains
        }

    def dashboard_trains(self) -> dict[str, tuple[int, str, str]]:
        return {t["train_id"]: (t["station_id"], t["direction"], t["train_status"]) for t in self.api("/api/trains")}

    def wait_until_caught_up(self, timeout_s: float = 120.0) -> None:
        expected_counts, expected_trains = self.expected_counts(), self.expected_trains()
        wait_for("the dashboard's turnstile counts to equal what was produced",
                 lambda: Mismatch.of(self.api("/api/turnstiles"), expected_counts), timeout_s)  # fmt: skip
        wait_for("the dashboard's trains to equal the simulation's",
                 lambda: Mismatch.of(self.dashboard_trains(), expected_trains), timeout_s)  # fmt: skip


@dataclass
class Mismatch:
    """Falsy while two mappings differ; its repr says how (for the timeout message)."""

    missing: int
    extra: int
    different: list[tuple[Any, Any, Any]]

    def __bool__(self) -> bool:
        return False

    @staticmethod
    def error(reason: str) -> Mismatch:
        return Mismatch(0, 0, [("error", reason, None)])

    @staticmethod
    def of(actual: dict[Any, Any], expected: dict[Any, Any]) -> bool | Mismatch:
        if actual == expected:
            return True
        different = [(key, actual[key], expected[key]) for key in actual.keys() & expected.keys()
                     if actual[key] != expected[key]]  # fmt: skip
        return Mismatch(len(expected.keys() - actual.keys()), len(actual.keys() - expected.keys()), different[:5])


@pytest.fixture(scope="module")
def pipeline(platform: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    (dashboard_port,) = free_ports(1)
    # The raw stations topic stays Connect's: the pipeline reads the stations table through it.
    settings = private_topics(
        platform, f"e2e-{uuid.uuid4().hex[:8]}", shared_raw_stations=True, dashboard_port=dashboard_port
    )
    ensure_topics(settings)
    ensure_stations_connector(settings)
    # The turnstile summary comes from Flink, submitted through the SQL Gateway as `run` does.
    summary_job = ensure_job(settings, TURNSTILE_SUMMARY)
    logs = tmp_path_factory.mktemp("pipeline-logs")
    streams = ServiceProcess("streams", settings, logs / "streams.log")
    dashboard = ServiceProcess("dashboard", settings, logs / "dashboard.log")
    streams.start()
    dashboard.start()
    engine = SimulationEngine(load_network(settings), start=START, seed=SEED)
    try:
        wait_for("the Faust worker to join its group", lambda: consumer_group_stable(settings, settings.faust_app_id))
        wait_for("the dashboard to answer", lambda: httpx.get(f"{settings.dashboard_url}/healthz", timeout=2))
        wait_until_running(settings, summary_job.name, timeout_s=120)
        with EventProducer(settings) as producer, RestProxyWeatherStation(settings) as weather:
            yield Pipeline(settings, streams, dashboard, SimulationRunner(engine, producer, weather), producer)
    finally:
        dashboard.stop()
        streams.stop()
        cancel_job(settings, summary_job.job_id)
        for child in (streams, dashboard):
            print(f"---- {child.service} log (tail)\n" + "\n".join(child.log().splitlines()[-30:]))


def test_dashboard_state_equals_the_simulation(pipeline: Pipeline) -> None:
    pipeline.run_minutes(20)
    pipeline.wait_until_caught_up()

    weather = pipeline.api("/api/weather")
    last: WeatherReading | None = pipeline.runner.last_weather
    assert last is not None and weather["available"] is True
    assert weather["status"] == str(last.status)
    assert weather["temperature"] == pytest.approx(last.temperature_f, abs=0.01)  # Avro float is 32-bit

    # The status table shows every line's stations in order, with the trains and entries.
    table = pipeline.api("/api/table")
    assert {row["line"] for row in table} == {"red", "blue", "brown", "green", "orange", "pink", "purple", "yellow"}
    for line in {row["line"] for row in table}:
        orders = [row["order"] for row in table if row["line"] == line]
        assert orders == sorted(orders)
    rows = {(row["line"], row["station_id"]): row for row in table}
    for train in pipeline.api("/api/trains"):
        row = rows[(train["line"], train["station_id"])]
        assert train["train_id"] in row[f"trains_{train['direction']}"], train


def test_dashboard_restart_brings_back_the_same_state(pipeline: Pipeline) -> None:
    pipeline.run_minutes(3)
    pipeline.wait_until_caught_up()
    before = {path: pipeline.api(path) for path in ("/api/trains", "/api/turnstiles", "/api/weather", "/api/table")}

    pipeline.dashboard.stop()
    began = time.monotonic()
    pipeline.dashboard.start()
    after = wait_for(
        "the restarted dashboard to rebuild its state",
        lambda: (state := {path: pipeline.api(path) for path in before}) == before and state,
        timeout_s=60,
    )
    assert after == before
    print(f"dashboard state rebuilt in {time.monotonic() - began:.1f} s")


def test_malformed_records_go_to_the_dead_letter_topic_and_the_pipeline_keeps_going(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    garbage = Producer({"bootstrap.servers": settings.bootstrap_servers})
    garbage.produce(settings.topic_turnstiles, key=b"not avro", value=b"\x00\x00\x00\x00\x01definitely not avro")
    garbage.produce(settings.topic_arrivals, key=b"not avro", value=b"{not even json")
    assert garbage.flush(10) == 0

    letters = consume(settings, settings.topic_dead_letters, expected=2, timeout_s=60)
    sources = {dict(m.headers() or [])["dlq.topic"].decode() for m in letters}
    assert sources == {settings.topic_turnstiles, settings.topic_arrivals}
    kept = {m.value() for m in letters}
    assert b"\x00\x00\x00\x00\x01definitely not avro" in kept and b"{not even json" in kept
    for message in letters:
        headers = {key: value.decode() for key, value in message.headers() or []}
        assert headers["dlq.error"] and headers["dlq.consumer"] and headers["dlq.offset"].isdigit()

    # Later good records are still processed exactly.
    pipeline.run_minutes(2)
    pipeline.wait_until_caught_up()
    assert pipeline.streams.alive() and pipeline.dashboard.alive()


def test_summary_topic_holds_exact_counts(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    pipeline.run_minutes(2)
    expected = pipeline.expected_counts()
    assert expected
    wait_for("the dashboard to catch up", lambda: Mismatch.of(pipeline.api("/api/turnstiles"), expected))
    latest: dict[str, int] = {}
    for message in read_all(settings, settings.topic_turnstile_summary):
        latest[str(json.loads(message.key())["station_id"])] = json.loads(message.value())["count"]
    assert latest == expected
