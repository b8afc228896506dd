"""Records the worker cannot decode become dead letters, with their bytes and origin; the rest flows on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.processes import wait_until
from tests.streams.support import (
    latest_json_by_key,
    raw_station_rows,
    read_all,
    running_worker,
    station_record,
    unique_settings,
)
from transit_status.config import Settings
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform


def produce_recorded(settings: Settings, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> list[dict]:
    """Produce in order; return each record's bytes with the partition and offset it landed at."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True})
    landed: list[dict] = [{} for _ in records]

    def recorder(index: int) -> Any:
        def on_delivery(error: Any, message: Any) -> None:
            assert error is None, error
            landed[index].update(
                key=message.key(), value=message.value(), partition=message.partition(), offset=message.offset()
            )

        return on_delivery

    for index, (key, value) in enumerate(records):
        producer.produce(topic, key=key, value=value, on_delivery=recorder(index))
    assert producer.flush(30) == 0
    return landed


def dead_letters(settings: Settings) -> list[dict]:
    return [
        {"key": m.key(), "value": m.value(), "headers": {k: v.decode() for k, v in m.headers() or []}}
        for m in read_all(settings, settings.topic_dead_letters)
    ]


def assert_dead_lettered(letters: list[dict], bad: list[dict], topic: str, consumer: str) -> None:
    by_offset = {(int(d["headers"]["dlq.partition"]), int(d["headers"]["dlq.offset"])): d for d in letters}
    for record in bad:
        letter = by_offset[(record["partition"], record["offset"])]
        assert letter["key"] == record["key"] and letter["value"] == record["value"]  # bytes unchanged
        assert letter["headers"]["dlq.topic"] == topic
        assert letter["headers"]["dlq.consumer"] == consumer
        assert letter["headers"]["dlq.error"]


def test_undecodable_station_rows_become_dead_letters_and_the_transform_goes_on(
    platform: Settings, tmp_path: Path
) -> None:
    settings = unique_settings(platform, "dlq-stations")
    ensure_topics(settings)
    rows = [row for row in raw_station_rows(settings) if row["station_id"] == 41320]  # Belmont: 4 stops
    assert len(rows) == 4
    missing_fields = {k: v for k, v in rows[0].items() if k not in ("station_id", "latitude")}
    bad_records = [
        (json.dumps({"stop_id": 1}).encode(), b"{not json"),
        (json.dumps({"stop_id": 2}).encode(), json.dumps(missing_fields | {"stop_id": 2}).encode()),
        (json.dumps({"stop_id": 3}).encode(), b"[1, 2, 3]"),
        (b"\xff\xfe", json.dumps(rows[0]).encode()),  # key is not JSON
    ]
    landed = produce_recorded(
        settings, settings.stations_topic, [station_record(rows[0]), *bad_records, *map(station_record, rows[1:])]
    )
    bad = landed[1 : 1 + len(bad_records)]

    with running_worker(settings, tmp_path / "worker.log"):
        records = wait_until(
            lambda: (lambda r: r if len(r) == 3 and all(len(v["stops"]) == 2 for v in r.values()) else None)(
                latest_json_by_key(settings, settings.topic_stations)
            ),
            timeout_s=60,
            what="Belmont on red, brown and purple with both stops",
        )
        letters = wait_until(
            lambda: (lambda d: d if len(d) >= len(bad) else None)(dead_letters(settings)),
            timeout_s=30,
            what="the dead letters",
        )
    assert {json.loads(key)["line"] for key in records} == {"red", "brown", "purple"}
    assert len(letters) == len(bad)
    assert_dead_lettered(letters, bad, settings.stations_topic, "streams.stations")
    assert any("station_id" in letter["headers"]["dlq.error"] for letter in letters)
