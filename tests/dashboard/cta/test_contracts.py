"""The JSON contracts the dashboard reads (stations table, turnstile summary): strict, with a reason when broken."""

from __future__ import annotations

import json

import pytest

from transit_status.avro.wire import BadRecord
from transit_status.dashboard.cta.contracts import station_change, summary_change
from transit_status.dashboard.cta.state import StationRemoval, StationUpsert, TurnstileRemoval, TurnstileUpsert
from transit_status.networks.cta import LINE_ORDER

LINES = frozenset(LINE_ORDER)
HOWARD_KEY = json.dumps({"line": "red", "station_id": 40900}).encode()


def station_value(**changes: object) -> bytes:
    value = {
        "station_id": 40900,
        "station_name": "Howard",
        "line": "red",
        "order": 0,
        "stops": {"a": 30173, "b": 30174},
        "latitude": 42.019063,
        "longitude": -87.672892,
    }
    value.update(changes)
    return json.dumps(value).encode()


def test_a_station_record_becomes_a_station_and_a_tombstone_a_removal() -> None:
    upsert = station_change(HOWARD_KEY, station_value(future_field="ignored"), LINES)

    assert isinstance(upsert, StationUpsert)
    assert (upsert.station.station_name, upsert.station.order, upsert.station.stops) == (
        "Howard",
        0,
        {"a": 30173, "b": 30174},
    )
    assert station_change(HOWARD_KEY, None, LINES) == StationRemoval("red", 40900)
    assert station_change(None, station_value(stops=None, latitude=None), LINES).station.stops == {}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (None, b"{not json", "value: Invalid JSON"),
        (None, b"[1, 2]", "value: Input should be an object"),
        (None, station_value(order="1"), "order: Input should be a valid integer"),  # strict: no coercion
        (None, station_value(station_id=True), "station_id: Input should be a valid integer"),
        (None, station_value(line="magenta"), "line 'magenta' is not one of"),
        (None, station_value(station_name=" "), "station_name: String should match"),
        (None, station_value(latitude=123.0), "latitude: Input should be less than or equal to 90"),
        (None, station_value(stops={"a": "30173"}), "stops.a"),
        (b'{"line": "red", "station_id": 1}', station_value(), "key does not match"),
        (None, None, "tombstone without a key"),
        (b"\xff\xfe", station_value(), "key: Invalid JSON"),
    ],
)
def test_bad_station_records_are_rejected_with_a_reason(key: bytes | None, value: bytes | None, reason: str) -> None:
    with pytest.raises(BadRecord, match=reason):
        station_change(key, value, LINES)


def test_summaries_must_be_counts_of_their_key() -> None:
    key = json.dumps({"station_id": 40900}).encode()
    value = json.dumps({"station_id": 40900, "station_name": "Howard", "count": 17}).encode()

    upsert = summary_change(key, value)
    assert isinstance(upsert, TurnstileUpsert) and upsert.count.count == 17
    assert summary_change(key, None) == TurnstileRemoval(40900)
    with pytest.raises(BadRecord, match="count: Input should be greater than or equal to 0"):
        summary_change(key, json.dumps({"station_id": 40900, "station_name": "Howard", "count": -1}).encode())
    with pytest.raises(BadRecord, match="count: Input should be a valid integer"):
        summary_change(key, json.dumps({"station_id": 40900, "station_name": "Howard", "count": 1.5}).encode())
    with pytest.raises(BadRecord, match="key does not match"):
        summary_change(b'{"station_id": 1}', value)
