"""Debezium's MariaDB connector: London's stations reach their topic keyed by nlc, renames and deletes included,
their rows as Avro through the Schema Registry (our Connect converter; the default) or as JSON."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.helpers import consume, read_all
from tests.processes import wait_until
from tests.streams.support import unique_settings
from transit_status.avro.wire import AvroDecoder, registry_client, schema_id_of
from transit_status.config import Settings
from transit_status.pipeline.connectors import (
    ensure_connector,
    ensure_london_stations_connector,
    london_stations_connector_config,
    london_stations_connector_name,
)
from transit_status.platform.jvm import AVRO_CONVERTER_CLASS
from transit_status.platform.services import mariadb

pytestmark = pytest.mark.platform

STATIONS_IN_DATA = 270
COLUMNS = {"name", "location", "modified_date", "nlc", "zone", "lines", "latitude", "longitude"}


@pytest.fixture(params=["avro", "json"])
def station_settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Private topics (so a private connector, with its own snapshot) in the format asked for."""
    settings = unique_settings(platform, f"stations-{request.param}").with_overrides(
        london_station_format=request.param
    )
    yield settings
    httpx.delete(f"{settings.connect_url}/connectors/{london_stations_connector_name(settings)}", timeout=10)


def row_of(settings: Settings, decoder: AvroDecoder, value: bytes | None) -> dict[str, Any] | None:
    """A station row as the format writes it (None: a tombstone)."""
    if value is None:
        return None
    return decoder.decode(value) if settings.london_station_format == "avro" else json.loads(value)


def latest_by_nlc(settings: Settings, decoder: AvroDecoder, at_least: int) -> tuple[dict[int, Any], int]:
    """Latest row per key (the nlc) on the London station rows topic (None: a tombstone), and how many
    records it holds."""
    messages = consume(settings, settings.topic_london_station_rows, expected=at_least, timeout_s=90)
    latest = {json.loads(m.key())["nlc"]: row_of(settings, decoder, m.value()) for m in messages}
    return latest, len(messages)


def test_connector_streams_every_station_keyed_by_nlc_with_renames_and_deletes(station_settings: Settings) -> None:
    settings = station_settings
    registry = registry_client(settings)
    decoder = AvroDecoder(registry)
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT nlc, name FROM stations")
        table = dict(cursor.fetchall())
    assert len(table) >= STATIONS_IN_DATA  # (other tests of the session may have added some)
    assert ensure_london_stations_connector(settings) is True
    stations, _ = latest_by_nlc(settings, decoder, at_least=len(table))
    assert {nlc: row["name"] for nlc, row in stations.items()} == table
    acton = next(row for row in stations.values() if row["name"] == "Acton Town")
    # A flat row (no Debezium envelope) with the original design's columns, keyed by {"nlc": ...}.
    assert set(acton) == COLUMNS
    assert acton["location"] == "51.502644,-0.280016" and acton["lines"] == "District;Piccadilly"
    assert acton["latitude"] == pytest.approx(51.502644) and isinstance(acton["nlc"], int)
    assert acton["modified_date"].endswith("Z")  # ISO-8601 UTC, as Flink reads it

    messages = read_all(settings, settings.topic_london_station_rows)
    if settings.london_station_format == "avro":
        # Every value in Confluent's wire format, with the schema registered under <topic>-value.
        subject = f"{settings.topic_london_station_rows}-value"
        assert subject in registry.get_subjects()
        registered = registry.get_latest_version(subject)
        assert {schema_id_of(m.value()) for m in messages} == {registered.schema_id}
        fields = {field["name"]: field["type"] for field in json.loads(registered.schema.schema_str)["fields"]}
        assert set(fields) == COLUMNS
        assert fields["nlc"] == "int" and fields["latitude"] == "double"
        assert fields["modified_date"]["connect.name"] == "io.debezium.time.ZonedTimestamp"
    else:
        assert all(m.value().startswith(b"{") for m in messages)

    # A new station, renamed, then deleted: every version under the one key, the delete a tombstone.
    original, renamed = f"Test Station {uuid.uuid4().hex[:6]}", f"Renamed Station {uuid.uuid4().hex[:6]}"
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(nlc), 0) + 1 FROM stations")
        (nlc,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO stations (nlc, name, location, zone, `lines`, latitude, longitude)"
            " VALUES (%s, %s, '51.5,-0.1', '1', 'Victoria', 51.5, -0.1)",
            (nlc, original),
        )
        cursor.execute("UPDATE stations SET name = %s, modified_date = now() WHERE nlc = %s", (renamed, nlc))
    messages = consume(settings, settings.topic_london_station_rows, expected=len(table) + 2, timeout_s=90)
    versions = [row_of(settings, decoder, m.value()) for m in messages if json.loads(m.key()) == {"nlc": nlc}]
    assert [row["name"] for row in versions] == [original, renamed]
    assert versions[1]["modified_date"] >= versions[0]["modified_date"]
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM stations WHERE nlc = %s", (nlc,))
    stations, records = latest_by_nlc(settings, decoder, at_least=len(table) + 3)
    # A tombstone stays a tombstone: a null value, not an Avro (or JSON) null.
    assert nlc in stations and stations[nlc] is None

    # The topic is compacted (the latest row per nlc), as Connect created it.
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.topic_london_station_rows)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"

    # Registering again keeps the one connector and re-emits nothing (no second snapshot).
    assert ensure_london_stations_connector(settings) is False
    connectors = httpx.get(f"{settings.connect_url}/connectors", timeout=10).json()
    assert connectors.count(london_stations_connector_name(settings)) == 1
    time.sleep(10)
    assert len(read_all(settings, settings.topic_london_station_rows)) == records


def test_the_converter_writes_keys_too_under_the_key_subject(platform: Settings) -> None:
    settings = unique_settings(platform, "stations-avro-keys")
    name = london_stations_connector_name(settings)
    # The stations connector keeps its key JSON; the converter serves keys alike (subject <topic>-key).
    avro_keys = {
        "key.converter": AVRO_CONVERTER_CLASS,
        "key.converter.schema.registry.url": settings.schema_registry_url,
    }
    ensure_connector(settings, name, london_stations_connector_config(settings) | avro_keys)
    try:
        messages = consume(settings, settings.topic_london_station_rows, expected=STATIONS_IN_DATA, timeout_s=90)
        assert len(messages) >= STATIONS_IN_DATA
        decoder = AvroDecoder(registry_client(settings))
        for message in messages:
            key, value = decoder.decode(message.key(), "key"), decoder.decode(message.value())
            assert key == {"nlc": value["nlc"]}
        subjects = registry_client(settings).get_subjects()
        topic = settings.topic_london_station_rows
        assert f"{topic}-key" in subjects and f"{topic}-value" in subjects
    finally:
        httpx.delete(f"{settings.connect_url}/connectors/{name}", timeout=10)


def test_a_schema_the_registry_refuses_fails_the_task_with_its_reason_and_writes_nothing(platform: Settings) -> None:
    settings = unique_settings(platform, "stations-refused")
    topic, name = settings.topic_london_station_rows, london_stations_connector_name(settings)
    subject = f"{topic}-value"
    # The subject already holds a schema the stations' schema cannot read (a required field it lacks).
    registry = httpx.Client(base_url=settings.schema_registry_url, timeout=10)
    other = {"type": "record", "name": "Other", "fields": [{"name": "other", "type": "int"}]}
    assert registry.post(f"/subjects/{subject}/versions", json={"schema": json.dumps(other)}).status_code == 200
    assert registry.put(f"/config/{subject}", json={"compatibility": "BACKWARD"}).status_code == 200
    ensure_connector(settings, name, london_stations_connector_config(settings))
    try:

        def failed_task() -> dict[str, Any] | None:
            status = httpx.get(f"{settings.connect_url}/connectors/{name}/status", timeout=10).json()
            tasks = status.get("tasks", [])
            return tasks[0] if tasks and tasks[0]["state"] == "FAILED" else None

        task = wait_until(failed_task, 90, f"connector {name}'s task failed")
        assert f"Schema Registry refused registering a schema under subject {subject}: 409" in task["trace"]
        admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
        assert topic not in admin.list_topics(timeout=10).topics or read_all(settings, topic) == []
        assert len(registry.get(f"/subjects/{subject}/versions").json()) == 1
    finally:
        httpx.delete(f"{settings.connect_url}/connectors/{name}", timeout=10)
