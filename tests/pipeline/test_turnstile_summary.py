"""The turnstile summary on Flink: exact counts across kill -9, dead letters, idempotent submission, the SQL shell.

Real processes throughout: the session's platform runs Flink's JobManager, TaskManager and SQL Gateway;
each test submits the job for its own private topics through the gateway's REST API.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.support import private_job_settings, records_when
from tests.processes import wait_until
from tests.streams.support import TurnstileProducer, latest_json_by_key
from transit_status.config import Settings
from transit_status.pipeline.sql_jobs import (
    TURNSTILE_SUMMARY,
    Submission,
    cluster_jobs,
    ensure_job,
    wait_until_running,
)
from transit_status.platform.supervisor import Platform

pytestmark = pytest.mark.platform

EVENTS = 20_000
STATIONS = 150
PRODUCE_RATE = 2_000  # events/s: Flink is killed while entries are still arriving
FLINK = ("flink-jobmanager", "flink-taskmanager", "sql-gateway")


def turnstile_events(count: int, stations: int, seed: int = 7) -> list[tuple[int, str]]:
    """Entries over many stations, busy and quiet ones (a skewed, reproducible mix)."""
    rng = random.Random(seed)
    ids = [40000 + 10 * i for i in range(stations)]
    weights = [1 / (rank + 1) for rank in range(stations)]
    return [(station_id, f"Station {station_id}") for station_id in rng.choices(ids, weights, k=count)]


def counted(settings: Settings) -> dict[int, int]:
    """The latest committed summary per station (read_committed)."""
    latest = latest_json_by_key(settings, settings.topic_turnstile_summary)
    return {value["station_id"]: value["count"] for value in latest.values()}


def total_at_least(settings: Settings, minimum: int) -> int:
    total = sum(counted(settings).values())
    return total if total >= minimum else 0


def produce_steadily(producer: TurnstileProducer, wave: list[tuple[int, str]]) -> threading.Thread:
    def feed() -> None:
        batch = PRODUCE_RATE // 10
        for start in range(0, len(wave), batch):
            began = time.monotonic()
            producer.produce(wave[start : start + batch])
            time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def kill_9(supervisor: Platform, *names: str) -> None:
    for name in names:
        record = supervisor.running()[name]
        os.kill(record.pid, signal.SIGKILL)
    wait_until(lambda: not set(names) & set(supervisor.running()), 30, f"{', '.join(names)} to be gone")


@pytest.fixture
def job_settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    with private_job_settings(platform, request, TURNSTILE_SUMMARY) as settings:
        yield settings


def submit(settings: Settings) -> Submission:
    submission = ensure_job(settings, TURNSTILE_SUMMARY)
    wait_until_running(settings, submission.name, timeout_s=120)
    return submission


def test_submission_is_idempotent(job_settings: Settings) -> None:
    first = submit(job_settings)
    second = ensure_job(job_settings, TURNSTILE_SUMMARY)
    assert first.submitted and first.restored_from is None
    assert not second.submitted and second.job_id == first.job_id
    active = [job for job in cluster_jobs(job_settings) if job["name"] == first.name and job["state"] == "RUNNING"]
    assert len(active) == 1


def test_bad_records_go_to_dead_letters_and_counting_goes_on(job_settings: Settings) -> None:
    submit(job_settings)
    producer = TurnstileProducer(job_settings)
    producer.produce([(40010, "Clark/Lake")] * 50)
    good_key, good_value = producer.serialize(40010, "Clark/Lake", 0)
    other_key, _ = producer.serialize(40020, "Other", 0)
    bad = [
        (good_key, b"not avro at all"),  # no magic byte
        (good_key, b"\x00\x00\x0f\x42\x40" + good_value[5:]),  # a schema id the registry does not know
        (good_key, good_value[:8]),  # cut short: does not match its schema
        (other_key, good_value),  # key and value name different stations
    ]
    for key, value in bad:
        producer.send(key, value)
    producer.flush()
    producer.produce([(40010, "Clark/Lake")] * 50)

    wait_until(lambda: counted(job_settings).get(40010) == 100, 90, "all 100 good entries to be counted")
    letters = records_when(job_settings, job_settings.topic_dead_letters, len(bad), timeout_s=60)
    # Records from different partitions (keys) reach the dead-letter topic in no particular order.
    assert sorted((letter.key(), letter.value()) for letter in letters) == sorted(bad)
    for letter in letters:
        headers = dict(letter.headers())
        assert headers["dlq.topic"] == job_settings.topic_turnstiles.encode()
        assert int(headers["dlq.offset"]) >= 0 and int(headers["dlq.partition"]) >= 0
        assert headers["dlq.consumer"] == b"flink.turnstile-summary"
        assert headers["dlq.error"]
    error_of = {(letter.key(), letter.value()): dict(letter.headers())["dlq.error"].decode() for letter in letters}
    errors = [error_of[record] for record in bad]
    assert "not Confluent Avro" in errors[0]
    assert "not in the Schema Registry" in errors[1]
    assert "does not match its schema" in errors[2]
    assert "differs from value station_id" in errors[3]
    assert counted(job_settings) == {40010: 100}


@pytest.mark.restarts_platform
def test_counts_are_exact_across_kill_9_of_the_taskmanager_and_of_all_of_flink(
    job_settings: Settings, platform_supervisor: Platform
) -> None:
    events = turnstile_events(EVENTS, STATIONS)
    expected = Counter(station_id for station_id, _ in events)
    first_wave, second_wave = events[: EVENTS // 2], events[EVENTS // 2 :]
    producer = TurnstileProducer(job_settings)
    submit(job_settings)

    # kill -9 of the TaskManager mid-run: the JobManager restarts the job from its last checkpoint
    # once the supervisor has started a new TaskManager.
    feeding = produce_steadily(producer, first_wave)
    at_kill = wait_until(lambda: total_at_least(job_settings, len(first_wave) // 4), 120, "some entries counted")
    kill_9(platform_supervisor, "flink-taskmanager")
    assert at_kill < len(first_wave), "the TaskManager must be killed mid-run"
    platform_supervisor.up()
    feeding.join(timeout=60)

    # kill -9 of all of Flink mid-run: the job is gone with the JobManager; submitting it again
    # resumes it from its newest retained checkpoint.
    feeding = produce_steadily(producer, second_wave)
    wait_until(lambda: total_at_least(job_settings, len(first_wave) + len(second_wave) // 4), 120, "more counted")
    kill_9(platform_supervisor, *FLINK)
    platform_supervisor.up()
    resumed = submit(job_settings)
    assert resumed.submitted and resumed.restored_from is not None, resumed
    feeding.join(timeout=60)
    assert not feeding.is_alive()

    final = wait_until(
        lambda: (lambda counts: counts if sum(counts.values()) >= EVENTS else None)(counted(job_settings)),
        180,
        "the summary to include every entry",
    )
    time.sleep(5)  # a few more checkpoints: the totals are final, not a moment in a double count
    assert counted(job_settings) == final
    assert final == dict(expected)


def test_sql_file_runs_in_the_shell(job_settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "tables.sql"
    script.write_text("SHOW TABLES;\n")
    env = {**os.environ, **job_settings.as_env()}
    result = subprocess.run(
        [sys.executable, "-m", "transit_status", "sql", "-f", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for table in ("turnstile_summary", "turnstile_entries_raw", "dead_letters"):
        assert table in result.stdout
