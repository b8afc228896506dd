"""The watchdog with real Flink and Connect: work that disappears comes back by itself.

London's work on private topics (its SQL job, its stations connector from MariaDB and its JDBC sink),
watched by a real ``serve watchdog`` process: it submits what is missing, resubmits a job the cluster
no longer runs from the job's newest checkpoint, registers a deleted connector again, and restarts the
JDBC sink's task that failed while PostgreSQL was down.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.london.sink_records import produce_station_events
from tests.processes import running_service
from transit_status.config import Settings
from transit_status.pipeline.sql_jobs import ACTIVE_STATES, LONDON_BARRIERS, cancel_job, cluster_jobs, latest_checkpoint
from transit_status.pipeline.watchdog import read_status
from transit_status.pipeline.work import expected_work
from transit_status.platform.ports import private_topics
from transit_status.platform.services import postgres
from transit_status.platform.supervisor import Platform
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform


@pytest.fixture
def settings(platform: Settings) -> Iterator[Settings]:
    settings = private_topics(platform, f"wd{uuid.uuid4().hex[:8]}", run_networks="london", watchdog_interval_s=1.0)
    ensure_topics(settings)
    yield settings
    for job in cluster_jobs(settings):
        if job["name"] == LONDON_BARRIERS.job_name(settings) and job["state"] in ACTIVE_STATES:
            cancel_job(settings, job["jid"])
    for connector in expected_work(settings).connectors:
        httpx.delete(f"{settings.connect_url}/connectors/{connector.name}", timeout=30)


def work_states(settings: Settings) -> dict[str, str]:
    status = read_status(settings, max_age_s=10)
    return {item["name"]: item["state"] for item in status["items"]} if status else {}


def all_running(settings: Settings) -> dict[str, str] | None:
    states = work_states(settings)
    return states if states and set(states.values()) == {"running"} else None


def running_job_id(settings: Settings) -> str | None:
    name = LONDON_BARRIERS.job_name(settings)
    running = (job["jid"] for job in cluster_jobs(settings) if job["name"] == name and job["state"] == "RUNNING")
    return next(running, None)


def test_the_watchdog_restores_a_lost_job_from_its_checkpoint_and_a_deleted_connector(
    settings: Settings, tmp_path: Path
) -> None:
    with running_service("watchdog", settings, tmp_path / "watchdog.log") as watchdog:
        # Nothing was submitted or registered: the watchdog does it, and then everything runs.
        states = watchdog.wait_for(lambda: all_running(settings), 120, "every job, connector and group running")
        job = LONDON_BARRIERS.job_name(settings)
        assert set(states) >= {job, settings.london_postgres_sink_connector}

        # The cluster loses the job (as a JobManager restarted without HA does): it is resubmitted,
        # from its newest checkpoint, not from scratch.
        first = running_job_id(settings)
        assert first is not None
        watchdog.wait_for(lambda: latest_checkpoint(settings, LONDON_BARRIERS), 60, "a completed checkpoint")
        cancel_job(settings, first)
        resumed = watchdog.wait_for(
            lambda: (jid := running_job_id(settings)) and jid != first and jid, 90, "the job running again"
        )
        assert resumed != first
        watchdog.wait_for(lambda: "from checkpoint" in watchdog.log(), 10, "the resubmission reported")

        # A connector deleted by hand is registered again.
        sink = settings.london_postgres_sink_connector
        assert httpx.delete(f"{settings.connect_url}/connectors/{sink}", timeout=30).status_code == 204
        watchdog.wait_for(
            lambda: httpx.get(f"{settings.connect_url}/connectors/{sink}/status", timeout=10).status_code == 200,
            60,
            "the sink registered again",
        )
        watchdog.wait_for(lambda: all_running(settings), 90, "every job, connector and group running again")
        assert f"connector {sink} was missing: registered again" in watchdog.log()
    assert watchdog.process is not None and watchdog.process.returncode == 0  # a clean stop on SIGTERM


@pytest.mark.restarts_platform
def test_a_jdbc_sink_task_failed_while_postgresql_was_down_is_restarted_and_every_row_arrives(
    settings: Settings, platform_supervisor: Platform, tmp_path: Path
) -> None:
    sink = settings.london_postgres_sink_connector
    entries, exits = settings.topic_london_station_entries, settings.topic_london_station_exits
    with running_service("watchdog", settings, tmp_path / "watchdog.log") as watchdog:
        watchdog.wait_for(lambda: all_running(settings), 300, "every job, connector and group running")
        first = produce_station_events(settings, entries=300, exits=200)
        watchdog.wait_for(lambda: rows(settings, entries, exits) == (300, 200), 120, "the first rows")

        # PostgreSQL down for longer than the sink's own retries: its task fails and stays FAILED.
        platform_supervisor.stop(["postgres"])
        second = produce_station_events(settings, entries=300, exits=200, first_user=10_000)
        watchdog.wait_for(lambda: task_failed(settings, sink), 120, "the sink's task FAILED")
        platform_supervisor.up()  # PostgreSQL back, as the supervisor restarts it under `run`

        expected = (first.count[entries] + second.count[entries], first.count[exits] + second.count[exits])
        watchdog.wait_for(lambda: rows(settings, entries, exits) == expected, 180, f"rows {expected}")
        assert f"connector {sink} was failed: restarted its failed tasks" in watchdog.log()
        watchdog.wait_for(lambda: all_running(settings), 120, "every job, connector and group running again")


def task_failed(settings: Settings, connector: str) -> bool:
    status = httpx.get(f"{settings.connect_url}/connectors/{connector}/status", timeout=10).json()
    return any(task.get("state") == "FAILED" for task in status.get("tasks", []))


def rows(settings: Settings, *topics: str) -> tuple[int, ...]:
    """Rows per topic's table (0 while PostgreSQL or the table is not there)."""
    counts = []
    try:
        with postgres.connect(settings) as db:
            for topic in topics:
                table = topic.replace(".", "_")
                if db.execute("SELECT to_regclass(%s)", (f'"{table}"',)).fetchone() == (None,):
                    counts.append(0)
                    continue
                counts.append(int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]))  # type: ignore[index]
    except psycopg.OperationalError:
        return tuple(0 for _ in topics)
    return tuple(counts)
