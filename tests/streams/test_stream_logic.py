"""The pure parts of the stream worker: merging stop rows, decoding checks, dead-letter headers."""

from __future__ import annotations

import json
import logging

import pytest

from transit_status.dead_letters import DeadLetter
from transit_status.networks import Network
from transit_status.streams.stations import (
    OUT_OF_SEQUENCE_WARNINGS,
    BadStationRow,
    StationsTransform,
    StopRow,
    parse_stop_row,
    table_key,
)

BELMONT = 41320


def stop(stop_id: int, direction: str, lines: set[str], station_id: int = BELMONT) -> StopRow:
    return StopRow(stop_id, direction, station_id, "Belmont", 41.94, -87.65, frozenset(lines))


def apply_all(transform: StationsTransform, rows: list[tuple[int, StopRow | None]]) -> dict[str, dict]:
    """Merge rows in order; the (line, station) records the transform then holds."""
    for stop_id, row in rows:
        transform.merge(stop_id, row)
    return transform.records


@pytest.fixture
def transform(network: Network) -> StationsTransform:
    return StationsTransform(network.line_orders())


def test_stops_of_a_station_merge_per_line_with_the_lines_order(transform: StationsTransform) -> None:
    records = apply_all(
        transform,
        [
            (30255, stop(30255, "N", {"red"})),
            (30256, stop(30256, "S", {"red"})),
            (30257, stop(30257, "N", {"brown", "purple"})),
            (30258, stop(30258, "S", {"brown", "purple"})),
        ],
    )
    assert set(records) == {table_key(line, BELMONT) for line in ("red", "brown", "purple")}
    assert records[table_key("red", BELMONT)]["stops"] == {"N": 30255, "S": 30256}
    assert records[table_key("red", BELMONT)]["order"] == 13
    assert records[table_key("brown", BELMONT)]["order"] == 11
    assert records[table_key("purple", BELMONT)]["stops"] == {"N": 30257, "S": 30258}


def test_a_stop_that_leaves_a_line_or_is_deleted_leaves_its_records(transform: StationsTransform) -> None:
    records = apply_all(
        transform,
        [
            (30257, stop(30257, "N", {"brown", "purple"})),
            (30258, stop(30258, "S", {"brown", "purple"})),
            (30257, stop(30257, "N", {"brown"})),  # no longer a purple stop
        ],
    )
    assert records[table_key("purple", BELMONT)]["stops"] == {"S": 30258}
    assert records[table_key("brown", BELMONT)]["stops"] == {"N": 30257, "S": 30258}
    records = apply_all(
        StationsTransform(transform.line_orders),
        [(30258, stop(30258, "S", {"purple"})), (30258, None)],  # created, then deleted (tombstone)
    )
    assert records == {}


def test_a_station_out_of_its_lines_sequence_is_placed_without_order_and_warned_of_once(
    transform: StationsTransform, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="transit_status.streams.stations"):
        for _ in range(2):
            records = apply_all(transform, [(39999, stop(39999, "N", {"red"}, station_id=49999))])
    assert records[table_key("red", 49999)]["order"] is None
    assert caplog.messages == ["station 49999 is not in the red line's sequence: order unknown"]


def test_warnings_of_stations_out_of_sequence_stop_after_a_bound_whatever_the_bad_rows(
    transform: StationsTransform, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="transit_status.streams.stations"):
        for number in range(OUT_OF_SEQUENCE_WARNINGS + 50):
            transform.merge(39000 + number, stop(39000 + number, "N", {"red"}, station_id=49000 + number))
    assert len(caplog.messages) == OUT_OF_SEQUENCE_WARNINGS + 1
    assert caplog.messages[-1] == "more stations are out of their line's sequence: not logged one by one"
    assert len(transform.records) == OUT_OF_SEQUENCE_WARNINGS + 50  # every one still placed


def test_rows_that_are_not_stations_rows_say_why() -> None:
    with pytest.raises(BadStationRow, match="not JSON"):
        parse_stop_row(b"{")
    with pytest.raises(BadStationRow, match=r"lacks .*station_id"):
        parse_stop_row(json.dumps({"stop_id": 1}).encode())
    row = {
        "stop_id": 1, "direction_id": "N", "station_id": "41320", "station_name": "Belmont", "latitude": 1.0,
        "longitude": 2.0, "red": True, "blue": False, "green": False, "brown": False, "purple": False,
        "purple_express": False, "yellow": False, "pink": False, "orange": False,
    }  # fmt: skip
    with pytest.raises(BadStationRow, match="wrongly typed station_id"):
        parse_stop_row(json.dumps(row).encode())
    assert parse_stop_row(json.dumps(row | {"station_id": 41320}).encode()).lines == {"red"}  # type: ignore[union-attr]


def test_a_deleted_row_is_no_stop_whether_tombstone_or_json_null() -> None:
    # Debezium + JsonConverter write a delete as the JSON text null; Kafka's own tombstone has no value.
    assert parse_stop_row(b"null") is None
    assert parse_stop_row(None) is None
    assert parse_stop_row(b"") is None
    with pytest.raises(BadStationRow, match="JSON list"):
        parse_stop_row(b"[]")


def test_dead_letters_keep_the_record_and_say_where_it_came_from() -> None:
    letter = DeadLetter(
        topic="t", partition=3, offset=42, key=b"k", value=b"\xff", error="bad\nvalue " * 100,
        consumer="streams.test", original_headers=(("trace", b"1"), ("dlq.topic", b"stale")),
    )  # fmt: skip
    headers = dict(letter.headers())
    assert headers["trace"] == b"1"
    assert headers["dlq.topic"] == b"t" and headers["dlq.partition"] == b"3" and headers["dlq.offset"] == b"42"
    assert headers["dlq.consumer"] == b"streams.test"
    assert b"\n" not in headers["dlq.error"] and len(headers["dlq.error"].decode()) <= 300
