"""Debezium's MariaDB connector: London's stations reach their topic keyed by name, renames included."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.helpers import consume, read_all
from transit_status.config import Settings
from transit_status.pipeline.connectors import LONDON_STATIONS_CONNECTOR, ensure_london_stations_connector
from transit_status.platform.services import mariadb

pytestmark = pytest.mark.platform

STATIONS_IN_DATA = 270


def latest_by_name(settings: Settings, at_least: int) -> tuple[dict[str, dict], int]:
    """Latest value per key (station name) on the London stations topic, and how many records it holds."""
    messages = consume(settings, settings.topic_london_stations, expected=at_least, timeout_s=90)
    return {m.key().decode(): json.loads(m.value()) for m in messages}, len(messages)


def test_connector_streams_every_station_keyed_by_name_and_a_rename(platform: Settings) -> None:
    ensure_london_stations_connector(platform)
    stations, _ = latest_by_name(platform, at_least=STATIONS_IN_DATA)
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT name FROM stations")
        table_names = {name for (name,) in cursor.fetchall()}
    assert set(stations) == table_names
    acton = stations["Acton Town"]
    # A flat row (no Debezium envelope) with the original design's columns, keyed by the plain name.
    assert {"name", "location", "modified_date", "nlc", "zone", "lines", "latitude", "longitude"} == set(acton)
    assert acton["location"] == "51.502644,-0.280016" and acton["lines"] == "District;Piccadilly"

    # A new station, then renamed: both versions arrive, each under its own name.
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
    stations, records = latest_by_name(platform, at_least=len(table_names) + 2)
    assert stations[original]["nlc"] == stations[renamed]["nlc"] == nlc
    assert stations[renamed]["modified_date"] >= stations[original]["modified_date"]

    # The topic is compacted (the latest row per name), as Connect created it.
    admin = AdminClient({"bootstrap.servers": platform.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, platform.topic_london_stations)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"

    # Registering again keeps the one connector and re-emits nothing (no second snapshot).
    assert ensure_london_stations_connector(platform) is False
    connectors = httpx.get(f"{platform.connect_url}/connectors", timeout=10).json()
    assert connectors.count(LONDON_STATIONS_CONNECTOR) == 1
    time.sleep(10)
    assert len(read_all(platform, platform.topic_london_stations)) == records
