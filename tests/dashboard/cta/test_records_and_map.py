"""Avro record contracts the dashboard enforces (arrivals, weather), and the map projection."""

from __future__ import annotations

import pytest

from transit_status.config import load_settings
from transit_status.dashboard.cta.map import load_network_map
from transit_status.dashboard.cta.records import BadRecord, arrival_change, weather_change
from transit_status.networks.cta import LINE_ORDER

LINES = frozenset(LINE_ORDER)


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
    network_map = load_network_map(load_settings())
    drawn = network_map.as_json()
    colours = {line["line"]: line["colour"] for line in drawn["lines"]}

    assert {shape["line"] for shape in drawn["shapes"]} == set(LINE_ORDER)
    assert [line["line"] for line in drawn["lines"]] == list(LINE_ORDER)
    assert colours == {
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
        assert shape["colour"] == colours[shape["line"]]
    xs = [point[0] for shape in drawn["shapes"] for point in shape["points"]] + [s["x"] for s in drawn["stations"]]
    ys = [point[1] for shape in drawn["shapes"] for point in shape["points"]] + [s["y"] for s in drawn["stations"]]
    assert min(xs) >= 0 and max(xs) <= drawn["width"]
    assert min(ys) >= 0 and max(ys) <= drawn["height"]
    # North is up: Howard (north side) is drawn above 95th/Dan Ryan (south side).
    assert network_map.locate(40900)[1] < network_map.locate(40450)[1]  # type: ignore[index]
