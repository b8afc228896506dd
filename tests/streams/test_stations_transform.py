"""Stations transform: raw Connect rows (one per stop) become one record per (line, station)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.processes import wait_until
from tests.streams.support import (
    latest_json_by_key,
    produce_raw,
    raw_station_rows,
    running_worker,
    station_record,
    unique_settings,
)
from transit_status.config import Settings
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

LINE_FLAGS = {
    "red": "red", "blue": "blue", "green": "green", "brown": "brown", "purple": "purple",
    "purple_express": "purple", "yellow": "yellow", "pink": "pink", "orange": "orange",
}  # fmt: skip


def expected_records(settings: Settings, rows: list[dict]) -> dict[tuple[str, int], dict]:
    """What the contract says the output must hold, computed straight from the data files."""
    orders: dict[tuple[str, int], int] = {}
    with (settings.network_data_dir / "cta_line_sequences.csv").open() as sequences:
        for row in csv.DictReader(sequences):  # first branch in file order wins
            orders.setdefault((row["line"].lower(), int(row["map_id"])), int(row["order"]))
    records: dict[tuple[str, int], dict] = {}
    for row in rows:
        for line in {line for flag, line in LINE_FLAGS.items() if row[flag]}:
            record = records.setdefault(
                (line, row["station_id"]),
                {
                    "station_id": row["station_id"],
                    "station_name": row["station_name"],
                    "line": line,
                    "order": orders[(line, row["station_id"])],
                    "stops": {},
                    "latitude": row["latitude"],
                    "longitude": row["longitude"],
                },
            )
            record["stops"][row["direction_id"]] = row["stop_id"]
    return records


def by_line_and_station(latest: dict[str, dict | None]) -> dict[tuple[str, int], dict | None]:
    return {(json.loads(k)["line"], json.loads(k)["station_id"]): v for k, v in latest.items()}


def test_one_record_per_line_and_station_with_order_and_both_direction_stops(
    platform: Settings, tmp_path: Path
) -> None:
    settings = unique_settings(platform, "stations")
    rows = raw_station_rows(settings)
    expected = expected_records(settings, rows)
    ensure_topics(settings)  # as Connect creates it: compacted, one partition
    produce_raw(settings, settings.stations_topic, (station_record(row) for row in rows))

    with running_worker(settings, tmp_path / "worker.log"):

        def transformed() -> dict | None:
            records = by_line_and_station(latest_json_by_key(settings, settings.topic_stations))
            return records if len(records) >= len(expected) else None

        records = wait_until(transformed, timeout_s=60, what="one record per (line, station)")
        assert records == expected
        # Spot checks against the network data, by hand.
        assert records[("red", 41320)]["stops"] == {"N": 30255, "S": 30256}
        assert records[("brown", 41320)]["stops"] == {"N": 30257, "S": 30258}
        assert records[("purple", 41320)]["order"] == 10  # only on the Express branch
        assert records[("purple", 40900)]["order"] == 8  # Linden-Howard, the first branch in the file
        assert records[("green", 40720)]["order"] == 27  # Cottage Grove branch only
        assert records[("yellow", 40900)]["order"] == 0
        assert {record["line"] for record in records.values()} == {
            "red", "blue", "green", "brown", "purple", "yellow", "pink", "orange",
        }  # fmt: skip

        # Debezium's tombstone for a deleted stop takes it off its records; the last one deletes the record.
        produce_raw(settings, settings.stations_topic, [(json.dumps({"stop_id": 30139}).encode(), None)])
        wait_until(
            lambda: (
                by_line_and_station(latest_json_by_key(settings, settings.topic_stations))[("green", 40720)]["stops"]
                == {"W": 30140}
            ),
            timeout_s=30,
            what="the deleted stop to leave its station",
        )
        produce_raw(settings, settings.stations_topic, [(json.dumps({"stop_id": 30140}).encode(), None)])
        wait_until(
            lambda: (
                by_line_and_station(latest_json_by_key(settings, settings.topic_stations))[("green", 40720)] is None
            ),
            timeout_s=30,
            what="a tombstone for the station without stops",
        )
