"""Kafka Connect with Debezium: the stations table reaches its topic, row by row, exactly once."""

from __future__ import annotations

import csv
import json
import time

import httpx
import pytest

from tests.helpers import consume, read_all
from transit_status.config import Settings
from transit_status.pipeline.connectors import STATIONS_CONNECTOR, ensure_stations_connector
from transit_status.platform.services import postgres

pytestmark = pytest.mark.platform

STOPS_IN_DATA = 300


def stops_by_id(settings: Settings, at_least: int, timeout_s: float = 60) -> tuple[dict[int, dict], int]:
    """Latest row per stop on the stations topic, and how many records the topic holds."""
    messages = consume(settings, settings.stations_topic, expected=at_least, timeout_s=timeout_s)
    return {json.loads(m.key())["stop_id"]: json.loads(m.value()) for m in messages}, len(messages)


def test_stations_table_holds_every_cta_stop(platform: Settings) -> None:
    with (platform.network_data_dir / "cta_l_stops_full.csv").open(newline="") as source:
        stops = list(csv.DictReader(source))
    with postgres.connect(platform) as conn:
        rows = conn.execute(
            "SELECT stop_id, station_id, station_name, red, brown, purple_express, latitude FROM stations"
            " WHERE stop_id < 39000 ORDER BY stop_id"
        ).fetchall()
    assert len(rows) == len(stops) == STOPS_IN_DATA
    expected = [
        (int(s["STOP_ID"]), int(s["MAP_ID"]), s["STATION_NAME"], s["RED"] == "true", s["BRN"] == "true",
         s["Pexp"] == "true", float(s["LATITUDE"]))
        for s in sorted(stops, key=lambda stop: int(stop["STOP_ID"]))
    ]  # fmt: skip
    assert rows == expected


def test_connector_streams_every_row_then_new_rows_and_is_not_duplicated(platform: Settings) -> None:
    ensure_stations_connector(platform)
    rows, _ = stops_by_id(platform, at_least=STOPS_IN_DATA)
    with postgres.connect(platform) as conn:
        table_ids = {stop_id for (stop_id,) in conn.execute("SELECT stop_id FROM stations").fetchall()}
    assert set(rows) == table_ids
    howard = rows[30173]
    # A flat row per stop (no Debezium envelope), with the seed's columns.
    assert {"stop_id", "direction_id", "stop_name", "station_name", "station_id", "order", "red"} <= set(howard)
    assert howard["station_name"] == "Howard" and howard["red"] is True

    with postgres.connect(platform) as conn:
        conn.execute(
            "INSERT INTO stations SELECT 39999, direction_id, 'Test stop', station_name, station_descriptive_name,"
            ' station_id, "order", red, blue, green, brown, purple, purple_express, yellow, pink, orange, ada,'
            " latitude, longitude FROM stations WHERE stop_id = 30173"
        )
    rows, records = stops_by_id(platform, at_least=len(table_ids) + 1)
    assert rows[39999]["stop_name"] == "Test stop"

    # Registering again keeps the one connector and re-emits nothing (no second snapshot).
    assert ensure_stations_connector(platform) is False
    connectors = httpx.get(f"{platform.connect_url}/connectors", timeout=10).json()
    assert connectors.count(STATIONS_CONNECTOR) == 1
    # Give a (wrong) second snapshot time to appear, then read the whole topic to its end.
    time.sleep(10)
    assert len(read_all(platform, platform.stations_topic)) == records
