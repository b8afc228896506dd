"""Record contracts the dashboard enforces, and the map projection."""

from __future__ import annotations

import json

import pytest

from transit_status.config import load_settings
from transit_status.dashboard.records import BadRecord, arrival_change, station_change, summary_change, weather_change
from transit_status.dashboard.reference import LINE_COLOURS, LINE_ORDER, load_network_map
from transit_status.dashboard.state import StationRemoval, StationUpsert, TurnstileRemoval, TurnstileUpsert

LINES = frozenset(LINE_ORDER)


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


def arrival_value(**changes: object) -> dict[str, object]:
    value: dict[str, object] = {
        "station_id": 40900,
        "station_name": "Howard",
        "stop_id": None,
        "train_id": "RL001",
        "direction": "a",
        "line": "red",
        "route": "Red",
        "train_status": "in_service",
        "prev_station_id": None,
        "prev_direction": None,
        "simulated_at": 1_700_000_000_000,
        "produced_at": 1_700_000_000_123,
    }
    value.update(changes)
    return value


def test_a_station_record_becomes_a_station_and_a_tombstone_a_removal() -> None:
    key = json.dumps({"line": "red", "station_id": 40900}).encode()
    upsert = station_change(key, station_value(), LINES)
    removal = station_change(key, None, LINES)

    assert isinstance(upsert, StationUpsert)
    assert (upsert.station.station_name, upsert.station.order, upsert.station.stops) == (
        "Howard",
        0,
        {"a": 30173, "b": 30174},
    )
    assert removal == StationRemoval("red", 40900)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (None, b"{not json", "not JSON"),
        (None, b"[1, 2]", "not a JSON object"),
        (None, station_value(order="first"), "order must be an integer"),
        (None, station_value(line="magenta"), "line 'magenta' is not one of"),
        (None, station_value(station_name=""), "station_name must be a non-empty string"),
        (None, station_value(latitude=123.0), "latitude 123.0 is outside"),
        (b'{"line": "red", "station_id": 1}', station_value(), "key does not match"),
        (None, None, "tombstone without a key"),
        (b"\xff\xfe", station_value(), "key is not JSON"),
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
    with pytest.raises(BadRecord, match="count must be at least 0"):
        summary_change(key, json.dumps({"station_id": 40900, "station_name": "Howard", "count": -1}).encode())
    with pytest.raises(BadRecord, match="key does not match"):
        summary_change(b'{"station_id": 1}', value)


def test_arrivals_must_follow_the_contract() -> None:
    train = arrival_change(arrival_value(), LINES).train
    assert (train.train_id, train.direction, train.produced_at) == ("RL001", "a", 1_700_000_000_123)

    for bad, reason in [
        (arrival_value(direction="north"), "direction 'north' is not one of a, b"),
        (arrival_value(train_status="lost"), "train_status 'lost'"),
        (arrival_value(line="grey"), "line 'grey'"),
        (arrival_value(station_id=None), "station_id must be an integer"),
    ]:
        with pytest.raises(BadRecord, match=reason):
            arrival_change(bad, LINES)


def test_weather_takes_its_time_from_the_key() -> None:
    update = weather_change({"timestamp": 1_700_000_000_000}, {"temperature": 71.25, "status": "sunny"})
    assert (update.weather.temperature, update.weather.status, update.weather.timestamp) == (
        71.25,
        "sunny",
        1_700_000_000_000,
    )
    with pytest.raises(BadRecord, match="temperature"):
        weather_change(None, {"temperature": float("nan"), "status": "sunny"})


def test_the_map_has_every_line_in_its_colour_and_fits_the_stations() -> None:
    network_map = load_network_map(load_settings().network_data_dir)
    drawn = network_map.as_json()

    assert {shape["line"] for shape in drawn["shapes"]} == set(LINE_ORDER)
    assert LINE_COLOURS == {
        "red": "#c60c30",
        "blue": "#00a1de",
        "brown": "#62361b",
        "green": "#009b3a",
        "orange": "#f9461c",
        "pink": "#e27ea6",
        "purple": "#522398",
        "yellow": "#f9e300",
    }
    for shape in drawn["shapes"]:
        assert shape["colour"] == LINE_COLOURS[shape["line"]]
    xs = [point[0] for shape in drawn["shapes"] for point in shape["points"]] + [s["x"] for s in drawn["stations"]]
    ys = [point[1] for shape in drawn["shapes"] for point in shape["points"]] + [s["y"] for s in drawn["stations"]]
    assert min(xs) >= 0 and max(xs) <= drawn["width"]
    assert min(ys) >= 0 and max(ys) <= drawn["height"]
    # North is up: Howard (north side) is drawn above 95th/Dan Ryan (south side).
    assert network_map.locate(40900)[1] < network_map.locate(40450)[1]  # type: ignore[index]
