"""Debezium's MariaDB connector: London's stations reach their topic keyed by nlc, renames and deletes included."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.helpers import consume, read_all
from transit_status.config import Settings
from transit_status.pipeline.connectors import LONDON_STATIONS_CONNECTOR, ensure_london_stations_connector
from transit_status.platform.services import mariadb

pytestmark = pytest.mark.platform

STATIONS_IN_DATA = 270


def latest_by_nlc(settings: Settings, at_least: int) -> tuple[dict[int, Any], int]:
    """Latest value per key (the nlc) on the London station rows topic (None: a tombstone), and how many
    records it holds."""
    messages = consume(settings, settings.topic_london_station_rows, expected=at_least, timeout_s=90)
    latest = {json.loads(m.key())["nlc"]: None if m.value() is None else json.loads(m.value()) for m in messages}
    return latest, len(messages)


def test_connector_streams_every_station_keyed_by_nlc_with_renames_and_deletes(platform: Settings) -> None:
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT nlc, name FROM stations")
        table = dict(cursor.fetchall())
    assert len(table) >= STATIONS_IN_DATA  # (other tests of the session may have added some)
    ensure_london_stations_connector(platform)
    stations, _ = latest_by_nlc(platform, at_least=len(table))
    assert {nlc: row["name"] for nlc, row in stations.items()} == table
    acton = next(row for row in stations.values() if row["name"] == "Acton Town")
    # A flat row (no Debezium envelope) with the original design's columns, keyed by {"nlc": ...}.
    assert {"name", "location", "modified_date", "nlc", "zone", "lines", "latitude", "longitude"} == set(acton)
    assert acton["location"] == "51.502644,-0.280016" and acton["lines"] == "District;Piccadilly"

    # A new station, renamed, then deleted: every version under the one key, the delete a tombstone.
    original, renamed = f"Test Station {uuid.uuid4().hex[:6]}", f"Renamed Station {uuid.uuid4().hex[:6]}"
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(nlc), 0) + 1 FROM stations")
        (nlc,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO stations (nlc, name, location, zone, `lines`, latitude, longitude)"
            " VALUES (%s, %s, '51.5,-0.1', '1', 'Victoria', 51.5, -0.1)",
            (nlc, original),
        )
        cursor.execute("UPDATE stations SET name = %s, modified_date = now() WHERE nlc = %s", (renamed, nlc))
    messages = consume(platform, platform.topic_london_station_rows, expected=len(table) + 2, timeout_s=90)
    versions = [json.loads(m.value()) for m in messages if json.loads(m.key()) == {"nlc": nlc}]
    assert [row["name"] for row in versions] == [original, renamed]
    assert versions[1]["modified_date"] >= versions[0]["modified_date"]
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM stations WHERE nlc = %s", (nlc,))
    stations, records = latest_by_nlc(platform, at_least=len(table) + 3)
    assert nlc in stations and stations[nlc] is None

    # The topic is compacted (the latest row per nlc), as Connect created it.
    admin = AdminClient({"bootstrap.servers": platform.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, platform.topic_london_station_rows)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"

    # Registering again keeps the one connector and re-emits nothing (no second snapshot).
    assert ensure_london_stations_connector(platform) is False
    connectors = httpx.get(f"{platform.connect_url}/connectors", timeout=10).json()
    assert connectors.count(LONDON_STATIONS_CONNECTOR) == 1
    time.sleep(10)
    assert len(read_all(platform, platform.topic_london_station_rows)) == records
