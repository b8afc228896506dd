"""London end to end with real processes and nothing written by the test but the barriers' input:
MariaDB's stations → Debezium → the stations topic; `serve barriers` (JSON, and in a second run
Confluent Avro through the Schema Registry) → entries/exits → the
London Flink job → station_entries/station_exits → `serve opensearch-sink` → OpenSearch, and the JDBC
sink → PostgreSQL; the activity topics → `serve dashboard` → its London API.

The barriers run for a bounded time and stop on SIGTERM; what they report as acknowledged (their
delivery counts file) is the reference: every tap exactly once in each output, and each station's
counts on the page equal to the taps acknowledged for it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch

from tests.helpers import acknowledged, read_all
from tests.london_checks import event_time_moving, input_taps, london_differences, until_none_differ
from tests.processes import ServiceProcess, wait_until
from transit_status.config import Settings
from transit_status.pipeline.connectors import london_stations_connector_name
from transit_status.pipeline.services import prepare_barriers, prepare_london_sinks
from transit_status.pipeline.sql_jobs import LONDON_BARRIERS, cancel_job, cluster_jobs, wait_until_running
from transit_status.platform.ports import free_ports, private_topics
from transit_status.platform.services import mariadb

pytestmark = pytest.mark.platform

START = "2023-06-07T08:00"  # a Wednesday's morning peak, London time: taps whatever the hour of the run
SPEED = 60.0  # a journey of 5+ simulated minutes ends within seconds, so exits come too
SCALE = 0.01  # about 70 entries a second at this speed: thousands of taps, a light load
RUN_S = 30.0


@pytest.fixture(params=["json", "avro"])
def settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    suffix = f"london-e2e-{request.param}-{uuid.uuid4().hex[:8]}"
    own = private_topics(
        platform,
        suffix,
        dashboard_port=free_ports(1)[0],
        simulation_speed=SPEED,
        london_barrier_scale=SCALE,
        london_barrier_start=START,
        london_barrier_format=request.param,
        run_networks="london",
    )
    try:
        yield own
    finally:
        # The job, the two private connectors and the data streams are this test's only: remove them.
        for job in cluster_jobs(own):
            if job["name"] == LONDON_BARRIERS.job_name(own) and job["state"] == "RUNNING":
                cancel_job(own, job["jid"])
        for connector in (london_stations_connector_name(own), own.london_postgres_sink_connector):
            httpx.delete(f"{own.connect_url}/connectors/{connector}", timeout=30)
        search = OpenSearch(hosts=[own.opensearch_url], timeout=30)
        for stream in (own.opensearch_entries_stream, own.opensearch_exits_stream):
            search.indices.delete_data_stream(name=stream, ignore=[404])
            search.indices.delete_index_template(name=stream, ignore=[404])


def station_lines(settings: Settings) -> dict[str, list[str]]:
    """Each station's lines as MariaDB holds them (what the job's per-line counts split)."""
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT name, `lines` FROM stations")
        return {name: [line.strip() for line in (lines or "").split(";") if line.strip()] for name, lines in cursor}


def api(settings: Settings, path: str) -> Any:
    response = httpx.get(f"{settings.dashboard_url}{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def station_differences(settings: Settings, want: dict[str, tuple[int, int]]) -> list[str]:
    """Where the page's (entries, exits) per station differ from the acknowledged ones."""
    got = {row["station"]: (row["entries"], row["exits"]) for row in api(settings, "/api/london/stations")}
    differ = sorted(name for name in got.keys() | want.keys() if got.get(name) != want.get(name))
    return [f"{name}: page {got.get(name)}, acknowledged {want.get(name)}" for name in differ]


def line_differences(settings: Settings, want: dict[str, dict[str, int]]) -> list[str]:
    got = {row["line"]: row for row in api(settings, "/api/london/lines")}
    return [f"{line}: page {got.get(line)}, want {want.get(line)}" for line in got.keys() | want.keys()
            if got.get(line) != want.get(line)]  # fmt: skip


def series_totals(settings: Settings) -> dict[str, int] | None:
    """Entries and exits in the page's last-hour histograms (None while OpenSearch has not answered)."""
    response = httpx.get(f"{settings.dashboard_url}/api/london/series", timeout=10)
    if response.status_code != 200:
        return None
    series = response.json()
    return {name: sum(count for _, count in series[name]["last_hour"]) for name in ("entries", "exits")}


def test_acknowledged_taps_reach_every_output_exactly_once_and_the_page_counts_them(
    settings: Settings, tmp_path: Path
) -> None:
    began = time.monotonic()
    phases: dict[str, float] = {}  # seconds from the start to each phase's end, printed (-s) to see what is slow

    def done(phase: str) -> None:
        phases[phase] = round(time.monotonic() - began, 1)

    # What the supervisor prepares before it starts `barriers` and `opensearch-sink`: topics, the MariaDB
    # connector, the London job, the JDBC sink connector.
    prepare_barriers(settings)
    prepare_london_sinks(settings)
    lines_of = station_lines(settings)
    # Every station in the stations topic before the first tap: a tap joined before its station's row
    # arrived would be (rightly) unknown.
    wait_until(
        lambda: {m.key().decode() for m in read_all(settings, settings.topic_london_stations)} == set(lines_of),
        120,
        "MariaDB's stations in the stations topic",
        every_s=1.0,
    )
    done("stations in the topic")
    wait_until_running(settings, LONDON_BARRIERS.job_name(settings), timeout_s=180)
    done("job running")

    with ExitStack() as running:
        processes: dict[str, ServiceProcess] = {}
        for service in ("opensearch-sink", "dashboard", "barriers"):
            child = ServiceProcess(service, settings, tmp_path / f"{service}.log").start()
            running.callback(child.stop)
            processes[service] = child
        barriers = processes["barriers"]
        deadline = time.monotonic() + RUN_S
        barriers.wait_for(lambda: time.monotonic() > deadline, RUN_S + 10, f"{RUN_S:.0f} s of taps")
        assert barriers.stop(timeout_s=settings.service_stop_grace_s + 30) == 0, barriers.log()[-3000:]
        assert "Traceback" not in barriers.log()

        # The reference: what the broker acknowledged to the producer, per topic and per station.
        counts = acknowledged(settings, "barriers")
        entries_topic, exits_topic = settings.topic_london_entries, settings.topic_london_exits
        by_station = counts["delivered_by_key"]
        assert counts["delivered"][entries_topic] > 500 and counts["delivered"][exits_topic] > 200, counts["delivered"]
        expected = {topic: input_taps(settings, topic) for topic in (entries_topic, exits_topic)}
        for topic, taps in expected.items():
            # The topics hold exactly what was acknowledged: no loss, no duplicate from a retry.
            assert Counter(tap.station for tap in taps.elements()) == by_station[topic], topic
        done("taps produced")
        with event_time_moving(settings, next(iter(lines_of))):
            search = OpenSearch(hosts=[settings.opensearch_url], timeout=30)
            until_none_differ(
                lambda: london_differences(settings, search, expected),
                150,
                "every acknowledged tap once in station_entries/exits, OpenSearch and PostgreSQL",
            )
            done("outputs exact")
            # Every station of the barriers is one MariaDB knows: each tap is joined with its location.
            for topic in (settings.topic_london_station_entries, settings.topic_london_station_exits):
                unjoined = [m.value() for m in read_all(settings, topic) if json.loads(m.value())["known"] is not True]
                assert unjoined == [], unjoined[:3]
            for service in ("opensearch-sink", "dashboard"):
                processes[service].assert_alive()

            # The page's API: each station's entries and exits, each line's, and OpenSearch's histograms.
            want_stations = {
                station: (by_station[entries_topic].get(station, 0), by_station[exits_topic].get(station, 0))
                for station in by_station[entries_topic].keys() | by_station[exits_topic].keys()
            }
            until_none_differ(
                lambda: station_differences(settings, want_stations),
                60,
                "the dashboard's station counts to equal the taps acknowledged",
            )
            assert api(settings, "/api/london/unknown") == []
            want_lines: dict[str, dict[str, int]] = {}
            for station, (entries, exits) in want_stations.items():
                for line in lines_of[station]:
                    totals = want_lines.setdefault(line, {"line": line, "entries": 0, "exits": 0, "inside": 0})
                    totals["entries"] += entries
                    totals["exits"] += exits
                    totals["inside"] += entries - exits
            until_none_differ(lambda: line_differences(settings, want_lines), 30, "the page's line counts")
            total = {"entries": counts["delivered"][entries_topic], "exits": counts["delivered"][exits_topic]}
            wait_until(
                lambda: series_totals(settings) == total, 30, f"the page's per-minute histograms to sum to {total}"
            )
    done("page exact")
    print(f"london end to end: {total} taps; phases ended at (s): {phases}")
