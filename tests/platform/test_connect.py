"""Kafka Connect with Debezium: the stations table reaches its topic, row by row, exactly once."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import consume
from transit_status.config import Settings
from transit_status.platform import postgres
from transit_status.platform.connect import STATIONS_CONNECTOR, ensure_stations_connector

pytestmark = pytest.mark.platform

STOPS_IN_DATA = 300


def stops_by_id(settings: Settings, expected: int) -> dict[int, dict]:
    messages = consume(settings, settings.stations_topic, expected=expected, timeout_s=60)
    return {json.loads(m.key())["stop_id"]: json.loads(m.value()) for m in messages}


def test_stations_table_holds_every_cta_stop(platform: Settings) -> None:
    with postgres.connect(platform) as conn:
        (count,) = conn.execute("SELECT count(*) FROM stations").fetchone()
        lines = conn.execute(
            "SELECT count(*) FILTER (WHERE red), count(*) FILTER (WHERE brown), count(*) FILTER (WHERE yellow) "
            "FROM stations"
        ).fetchone()
    assert count == STOPS_IN_DATA
    # Two platform-direction stops per station: 33 Red, 27 Brown, 3 Yellow stations in the data.
    assert lines == (66, 54, 6)


def test_connector_streams_every_row_then_new_rows_and_is_not_duplicated(platform: Settings) -> None:
    assert ensure_stations_connector(platform) is True
    rows = stops_by_id(platform, expected=STOPS_IN_DATA)
    assert len(rows) == STOPS_IN_DATA
    howard = next(row for row in rows.values() if row["stop_id"] == 30173)
    # A flat row per stop (no Debezium envelope), with the seed's columns.
    assert {"stop_id", "direction_id", "stop_name", "station_name", "station_id", "order", "red"} <= set(howard)
    assert howard["station_name"] == "Howard" and howard["red"] is True

    with postgres.connect(platform) as conn:
        conn.execute(
            "INSERT INTO stations SELECT 39999, direction_id, 'Test stop', station_name, station_descriptive_name,"
            ' station_id, "order", red, blue, green, brown, purple, purple_express, yellow, pink, orange, ada,'
            " latitude, longitude FROM stations WHERE stop_id = 30173"
        )
    rows = stops_by_id(platform, expected=STOPS_IN_DATA + 1)
    assert rows[39999]["stop_name"] == "Test stop"

    # Registering again keeps the one connector and re-emits nothing.
    assert ensure_stations_connector(platform) is False
    connectors = httpx.get(f"{platform.connect_url}/connectors", timeout=10).json()
    assert connectors.count(STATIONS_CONNECTOR) == 1
    messages = consume(platform, platform.stations_topic, expected=STOPS_IN_DATA + 2, timeout_s=10)
    assert len(messages) == STOPS_IN_DATA + 1
