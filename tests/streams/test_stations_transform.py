"""Stations transform: raw Connect rows (one per stop) become one record per (line, station)."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql

from tests.helpers import read_all
from tests.processes import wait_until
from tests.streams.support import (
    latest_json_by_key,
    produce_raw,
    raw_station_rows,
    running_worker,
    start_worker,
    station_record,
    unique_settings,
    wait_worker_ready,
)
from transit_status.config import Settings
from transit_status.pipeline.connectors import ensure_connector, stations_connector_config
from transit_status.platform.services import postgres
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


COTTAGE_GROVE, BELMONT = 40720, 41320


@contextmanager
def connector_on_own_table(settings: Settings, station_ids: tuple[int, ...]) -> Iterator[sql.Identifier]:
    """The real Debezium connector on a private copy of some stations rows, into ``settings.stations_topic``.

    A copy, so that deleting rows leaves the shared table whole for the other tests.
    """
    table_name = f"stations_{uuid.uuid4().hex[:8]}"
    table = sql.Identifier(table_name)
    with postgres.connect(settings) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE stations INCLUDING ALL)").format(table))
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM stations WHERE station_id = ANY(%s)").format(table),
            [list(station_ids)],
        )
    config = stations_connector_config(settings, table_name) | {
        "transforms.route.replacement": settings.stations_topic,  # the raw topic the worker reads
        "slot.drop.on.stop": "true",  # leave no replication slot behind
    }
    ensure_connector(settings, table_name, config, timeout_s=60)  # Connect answers slowly under load
    try:
        yield table
    finally:
        httpx.delete(f"{settings.connect_url}/connectors/{table_name}", timeout=30)
        with postgres.connect(settings) as conn:
            conn.execute(sql.SQL("DROP TABLE {}").format(table))


def test_a_stop_deleted_in_postgresql_leaves_its_station_downstream(platform: Settings, tmp_path: Path) -> None:
    settings = unique_settings(platform, "stations-delete")
    ensure_topics(settings)

    def stations_table() -> dict[tuple[str, int], dict | None]:
        return by_line_and_station(latest_json_by_key(settings, settings.topic_stations))

    with (
        connector_on_own_table(settings, (COTTAGE_GROVE, BELMONT)) as table,
        running_worker(settings, tmp_path / "worker.log"),
    ):
        wait_until(lambda: len(stations_table()) == 4, timeout_s=90, what="green, red, brown and purple records")
        assert stations_table()[("green", COTTAGE_GROVE)]["stops"] == {"E": 30139, "W": 30140}

        delete = sql.SQL("DELETE FROM {} WHERE stop_id = %s").format(table)
        with postgres.connect(settings) as conn:
            conn.execute(delete, [30139])
        wait_until(
            lambda: stations_table()[("green", COTTAGE_GROVE)]["stops"] == {"W": 30140},
            timeout_s=60,
            what="the deleted stop to leave its station's record",
        )
        with postgres.connect(settings) as conn:
            conn.execute(delete, [30140])
        wait_until(
            lambda: stations_table()[("green", COTTAGE_GROVE)] is None,
            timeout_s=60,
            what="a tombstone for the station whose last stop was deleted",
        )
        assert stations_table()[("red", BELMONT)]["stops"] == {"N": 30255, "S": 30256}  # untouched

    # Debezium wrote each delete (as JSON null: see streams/stations.py), and none of it was dead-lettered.
    latest_raw = {json.loads(m.key())["stop_id"]: m.value() for m in read_all(settings, settings.stations_topic)}
    assert {stop_id: latest_raw[stop_id] in (None, b"null") for stop_id in (30139, 30140, 30255)} == {
        30139: True,
        30140: True,
        30255: False,
    }
    assert read_all(settings, settings.topic_dead_letters) == []


def test_a_sigterm_mid_run_stops_the_worker_cleanly_and_a_restart_finishes_the_transform(
    platform: Settings, tmp_path: Path
) -> None:
    """At least once, without patches: a SIGTERM while rows arrive leaves no traceback, and the
    restarted worker (re-reading what was not committed) ends with exactly the expected records."""
    settings = unique_settings(platform, "sigterm")
    ensure_topics(settings)
    rows = raw_station_rows(settings)
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    wait_worker_ready(worker)
    produce_raw(settings, settings.stations_topic, [station_record(row) for row in rows[: len(rows) // 2]])
    wait_until(lambda: latest_json_by_key(settings, settings.topic_stations), 60, "some output")
    produce_raw(settings, settings.stations_topic, [station_record(row) for row in rows[len(rows) // 2 :]])
    assert worker.stop() == 0
    expected = expected_records(settings, rows)

    with running_worker(settings, log):
        wait_for_exactly(settings, expected, log, "every (line, station) record after the restart")
    assert "Traceback" not in log.read_text(errors="replace")


def test_offsets_an_earlier_version_committed_do_not_make_the_worker_skip_rows(
    platform: Settings, tmp_path: Path
) -> None:
    """The worker rebuilds its state from the whole raw topic, whatever its group committed before."""
    settings = unique_settings(platform, "rewind")
    ensure_topics(settings)
    rows = raw_station_rows(settings)
    produce_raw(settings, settings.stations_topic, [station_record(row) for row in rows])
    # An earlier version (state in Faust tables) committed its offsets half-way through the topic.
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": settings.faust_app_id,
            "enable.auto.commit": False,
        }
    )
    consumer.commit(offsets=[TopicPartition(settings.stations_topic, 0, len(rows) // 2)], asynchronous=False)
    consumer.close()
    log = tmp_path / "worker.log"
    with running_worker(settings, log):
        wait_for_exactly(settings, expected_records(settings, rows), log, "every (line, station) record")
    assert "could not rewind" not in log.read_text(errors="replace")


def wait_for_exactly(settings: Settings, expected: dict[tuple[str, int], dict], log: Path, what: str) -> None:
    """Until the output topic holds exactly ``expected``; on timeout, names the records that differ."""

    def differences() -> list[str]:
        actual = by_line_and_station(latest_json_by_key(settings, settings.topic_stations))
        keys = sorted(expected.keys() | actual.keys())
        return [
            f"{key}: want {expected.get(key)}, got {actual.get(key)}"
            for key in keys
            if expected.get(key) != actual.get(key)
        ]

    wait_until(
        lambda: not differences(),
        90,
        what,
        log=lambda: "\n".join(differences()[:5]) + "\n" + log.read_text(errors="replace"),
    )
