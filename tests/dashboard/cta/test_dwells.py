"""Dwell times on the page: each platform's typical stop (the median of its latest), per line on the health
strip, per platform on /api/dwells and the station's board. Pure: the model and the app without Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.cta.test_state import arrival
from transit_status.avro.wire import BadRecord
from transit_status.dashboard.app import create_app
from transit_status.dashboard.cta.dwells import DWELL_SAMPLES, Dwells, dwell_of
from transit_status.dashboard.cta.service_health import ServiceHealth
from transit_status.dashboard.state import Received
from transit_status.platform.ports import isolated_settings
from transit_status.wallclock import now_ms

CLARK_LAKE = 40380


def dwell(seconds: Any, station_id: int = 40900, line: str = "red", direction: str = "a", **extra: Any) -> dict:
    return {
        "line": line, "station_id": station_id, "station_name": "Howard", "direction": direction,
        "train_id": "RL001", "arrived_ms": 1_000, "departed_ms": 31_000, "dwell_s": seconds,
        **extra,
    }  # fmt: skip


def test_a_platforms_typical_dwell_is_the_median_of_its_latest_stops_and_follows_a_slow_down() -> None:
    dwells = Dwells(["red"])
    for seconds in (20, 22, 90, 21, 19):  # one long stop does not move the median
        dwells.apply(dwell_of(dwell(seconds)))
    assert dwells.typical_s(("red", 40900, "a")) == 21
    for _ in range(DWELL_SAMPLES):  # every stop slower now: only the latest count
        dwells.apply(dwell_of(dwell(45)))
    assert dwells.typical_s(("red", 40900, "a")) == 45
    assert dwells.typical_s(("red", 40900, "b")) is None  # the other direction: not measured
    [row] = dwells.as_json()
    assert (row["station_name"], row["dwell_s"], row["longest_s"], row["samples"]) == ("Howard", 45, 45, DWELL_SAMPLES)


@pytest.mark.parametrize(
    "record", [dwell(-1.0), dwell(10 * 24 * 3600.0), {"line": "red"}, dwell(20, station_id="Howard"), dwell("slow")]
)
def test_a_record_that_is_no_dwell_is_a_bad_record(record: dict[str, Any]) -> None:
    with pytest.raises(BadRecord, match="not a dwell"):
        dwell_of(record)


def test_the_strip_shows_each_lines_typical_dwell() -> None:
    health = ServiceHealth(["red", "blue"])
    for station_id, seconds in ((40900, 20.0), (41190, 30.0), (40380, 40.0)):
        assert health.apply(dwell_of(dwell(seconds, station_id=station_id)))
    red, blue = health.lines()
    assert red["dwell_s"] == 30.0 and blue["dwell_s"] is None


def test_dwells_are_served_per_platform_and_on_the_stations_board(tmp_path: Path) -> None:
    with TestClient(create_app(isolated_settings(tmp_path), start_consumer=False)) as client:
        chicago = client.app.state.chicago  # type: ignore[attr-defined]
        now = now_ms()
        for line in ("brown", "pink"):  # both stop at Clark/Lake's outer platform
            record = dwell_of(dwell(30.0 if line == "brown" else 40.0, station_id=CLARK_LAKE, line=line))
            chicago.service_health.apply([Received("dwells", record, now, now)])
        body = client.get("/api/dwells").json()
        assert [(p["line"], p["dwell_s"]) for p in body["platforms"]] == [("brown", 30.0), ("pink", 40.0)]
        assert "network" in body["time_basis"]
        now_known = arrival("RL001", 40900, at=now)  # a first arrival: the network's clock is known
        chicago.predictions.feed([now_known])
        board = client.get(f"/api/stations/{CLARK_LAKE}/arrivals").json()
        dwells = {(p["platform"], p["direction"]): p["dwell_s"] for p in board["platforms"]}
        assert dwells[("Clark/Lake (Outer Loop)", "a")] == 30.0  # Brown's
        assert dwells[("Clark/Lake (Inner Loop)", "a")] == 40.0  # of its four lines only Pink's is measured
        assert dwells[("Clark/Lake (Outer Loop)", "b")] is None and dwells[("Clark/Lake (O'Hare-bound)", "b")] is None
