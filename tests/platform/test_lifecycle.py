"""`platform down` leaves nothing running; `platform up` again finds every earlier piece of data."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import psutil
import pytest
from confluent_kafka import Producer
from opensearchpy import OpenSearch

from tests.helpers import consume, create_topic
from transit_status.config import Settings
from transit_status.platform.services import mariadb, postgres
from transit_status.platform.supervisor import Platform

pytestmark = [pytest.mark.platform, pytest.mark.restarts_platform]

SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "reading",
        "namespace": "test.lifecycle",
        "fields": [{"name": "temperature", "type": "float"}],
    }
)
SCHEMA_V2 = json.dumps(
    {
        "type": "record",
        "name": "reading",
        "namespace": "test.lifecycle",
        "fields": [{"name": "temperature", "type": "float"}, {"name": "status", "type": "string", "default": "sunny"}],
    }
)


STOP_SIGNAL_BITS = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))


def blocked_signals(pid: int) -> int:
    """The process's blocked-signal mask (``SigBlk`` in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigBlk for pid {pid}")


# Servers that block their stop signals in every thread on purpose and take them with sigwait() in a
# signal thread (mariadbd does so when started from a clean shell, too). That they do stop on their
# signal is asserted below: no service needs killing.
SIGWAIT_SERVERS = frozenset({"mariadbd"})


def sigwaits(process: psutil.Process) -> bool:
    return process.name() in SIGWAIT_SERVERS


def register(settings: Settings, subject: str, schema: str) -> int:
    response = httpx.post(
        f"{settings.schema_registry_url}/subjects/{subject}/versions",
        json={"schema": schema},
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["id"]


def test_down_stops_every_process_and_up_finds_earlier_data(platform_supervisor: Platform) -> None:
    settings = platform_supervisor.settings
    topic = create_topic(settings, prefix="lifecycle")
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for number in range(5):
        producer.produce(topic, value=f"record-{number}".encode())
    assert producer.flush(10) == 0
    subject = f"{topic}-value"
    ids = (register(settings, subject, SCHEMA), register(settings, subject, SCHEMA_V2))
    with postgres.connect(settings) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lifecycle_marker (note TEXT)")
        conn.execute("INSERT INTO lifecycle_marker VALUES ('kept')")
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS lifecycle_marker (note TEXT)")
        cursor.execute("INSERT INTO lifecycle_marker VALUES ('kept')")
        cursor.execute("SELECT count(*) FROM stations")
        london_stations = cursor.fetchone()
    search = OpenSearch(hosts=[settings.opensearch_url], timeout=30)
    search.index(index=topic, body={"note": "kept"}, id="marker", refresh=True)

    records = platform_supervisor.running()
    assert set(records) == {spec.name for spec in platform_supervisor.specs}
    processes = [record.process() for record in records.values()]
    family = [p for process in processes if process for p in [process, *process.children(recursive=True)]]
    # Every child can be told to stop: none inherited a mask that blocks SIGINT/SIGTERM.
    assert {p.name(): blocked_signals(p.pid) & STOP_SIGNAL_BITS for p in processes if p and not sigwaits(p)} == {
        p.name(): 0 for p in processes if p and not sigwaits(p)
    }

    reports: list[str] = []
    platform_supervisor.report = reports.append
    try:
        stopped = platform_supervisor.down()
    finally:
        platform_supervisor.report = print

    assert set(stopped) == set(records)
    # Each service stopped on its own signal: none had to be killed after the grace period.
    assert not [line for line in reports if "killing" in line], reports
    # Services stop side by side, but never before what uses them (or waits for them at start) has stopped.
    position = {line.split()[0] + " " + line.split()[1]: n for n, line in enumerate(reports)}
    for spec in platform_supervisor.specs:
        for needed in (*spec.after, *spec.uses):
            assert position[f"stopped {spec.name}"] < position[f"stopping {needed}"], (spec.name, needed, reports)
    # Kafka shut down cleanly: its marker is there, so the next start recovers no log segment.
    assert (settings.state_dir / "kafka" / "data" / ".kafka_cleanshutdown").exists()
    assert not [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert platform_supervisor.running() == {}

    assert platform_supervisor.up() is True
    # Kafka kept the topic and its records.
    assert [m.value() for m in consume(settings, topic, expected=5)] == [f"record-{n}".encode() for n in range(5)]
    # The registry rebuilt ids and versions from its _schemas topic.
    versions = httpx.get(f"{settings.schema_registry_url}/subjects/{subject}/versions", timeout=10).json()
    assert versions == [1, 2]
    for version, schema_id in zip((1, 2), ids, strict=True):
        body = httpx.get(f"{settings.schema_registry_url}/subjects/{subject}/versions/{version}", timeout=10).json()
        assert body["id"] == schema_id
    assert register(settings, subject, SCHEMA_V2) == ids[1]
    # PostgreSQL kept its tables, and the stations were not loaded twice.
    with postgres.connect(settings) as conn:
        assert conn.execute("SELECT note FROM lifecycle_marker").fetchall() == [("kept",)]
        assert conn.execute("SELECT count(*) FROM stations WHERE stop_id < 39999").fetchone() == (300,)
    # MariaDB kept its tables, and London's stations were not loaded twice.
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT note FROM lifecycle_marker")
        assert cursor.fetchall() == (("kept",),)
        cursor.execute("SELECT count(*) FROM stations")
        assert cursor.fetchone() == london_stations
    # OpenSearch kept its index.
    assert search.get(index=topic, id="marker")["_source"] == {"note": "kept"}


def test_up_while_running_is_a_no_op(platform_supervisor: Platform) -> None:
    before = {name: record.pid for name, record in platform_supervisor.running().items()}
    assert platform_supervisor.up() is False
    assert {name: record.pid for name, record in platform_supervisor.running().items()} == before
