"""The pages' service-health models: a live set of open alerts from open/clear records, the line strip, the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tests.dashboard.support import crowding_alert, service_alert
from transit_status.avro.wire import BadRecord
from transit_status.dashboard.app import create_app
from transit_status.dashboard.cta.service_health import ServiceHealth, alert_of, headway_of
from transit_status.dashboard.london.crowding_alerts import CrowdingAlerts, crowding_alert_of
from transit_status.dashboard.state import Received
from transit_status.platform.ports import isolated_settings
from transit_status.wallclock import now_ms


def alert(state: str, at_ms: int, alert_id: str = "gap:red:40900:a", kind: str = "gap", **extra: Any) -> bytes:
    return json.dumps(service_alert(state, at_ms, alert_id, kind, **extra)).encode()


def headway(station_id: int, measured: float | None, arrived_ms: int, line: str = "red") -> bytes:
    return json.dumps(
        {
            "line": line,
            "station_id": station_id,
            "direction": "a",
            "arrived_ms": arrived_ms,
            "headway_s": measured,
            "scheduled_headway_s": 360.0,
        }
    ).encode()


def test_an_alert_is_open_until_its_clear_record_and_says_where_since_when_and_why() -> None:
    health = ServiceHealth(["red", "blue"])
    assert health.apply(alert_of(alert("open", 5_000)))
    [shown] = health.as_json()["open"]
    assert shown["where"] == {
        "line": "red", "station_id": 40900, "station_name": "Howard", "direction": "a", "train_id": None
    }  # fmt: skip
    assert shown["since_ms"] == 1_000 and shown["why"]["measured_s"] == 800.0 and shown["why"]["scheduled_s"] == 360.0
    assert health.apply(alert_of(alert("clear", 9_000)))
    assert health.as_json()["open"] == []
    assert [r["state"] for r in health.as_json()["recent"]] == ["clear", "open"]  # as they happened, newest first


def test_an_older_record_never_reopens_a_cleared_alert() -> None:
    # The job's parallel writers may deliver an alert's open after its clear: event time decides.
    health = ServiceHealth()
    health.apply(alert_of(alert("clear", 9_000)))
    assert not health.apply(alert_of(alert("open", 5_000)))
    assert health.open_alerts() == []
    health.apply(alert_of(alert("open", 12_000)))  # a new gap at the same platform later
    assert [a.at_ms for a in health.open_alerts()] == [12_000]


def test_the_strip_shows_each_lines_headway_against_its_schedule_and_its_open_alerts() -> None:
    health = ServiceHealth(["red", "blue"])
    health.apply(headway_of(headway(1, None, 1_000)))  # a first train: no headway, nothing shown
    health.apply(headway_of(headway(1, 300.0, 2_000)))
    health.apply(headway_of(headway(2, 420.0, 2_000)))
    health.apply(headway_of(headway(3, 900.0, 2_000)))
    health.apply(headway_of(headway(3, 100.0, 1_500)))  # older than what platform 3 shows: ignored
    health.apply(alert_of(alert("open", 5_000)))
    health.apply(alert_of(alert("open", 5_000, alert_id="held:RL1:red:1:a", kind="held", train_id="RL1")))
    red, blue = health.lines()
    assert red == {
        "line": "red",
        "headway_s": 420.0,
        "scheduled_headway_s": 360.0,
        "platforms": 3,
        "dwell_s": None,  # no dwell measured yet (test_dwells.py)
        "open_alerts": 2,
        "open_by_kind": {"held": 1, "gap": 1, "bunching": 0},
    }
    assert blue["headway_s"] is None and blue["open_alerts"] == 0


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[]", json.dumps({"alert_id": "x"}).encode(), alert("maybe", 1), alert("open", 1, kind="slow")],
)
def test_a_record_that_is_no_alert_is_a_bad_record(value: bytes) -> None:
    with pytest.raises(BadRecord):
        alert_of(value)


def test_the_api_lists_open_alerts_and_each_lines_strip_and_london_its_crowding(tmp_path: Path) -> None:
    with TestClient(create_app(isolated_settings(tmp_path), start_consumer=False)) as client:
        chicago, london = client.app.state.chicago, client.app.state.london  # type: ignore[attr-defined]
        now = now_ms()
        held = alert("open", 5_000, alert_id="held:RL1:red:40900:a", kind="held", train_id="RL1")
        chicago.service_health.apply([Received("service_alerts", alert_of(held), now, now)])
        body = client.get("/api/alerts").json()
        assert [a["alert_id"] for a in body["open"]] == ["held:RL1:red:40900:a"]
        assert body["open"][0]["where"]["train_id"] == "RL1" and body["open"][0]["why"]["reason"]
        assert [line["line"] for line in body["lines"]][:2] == ["red", "blue"]
        assert body["lines"][0]["open_alerts"] == 1
        # Its times are the network's: the body says that clock's now (None before the first arrival).
        assert body["network_time"] is None and "network" in body["time_basis"]
        cleared = alert("clear", 9_000, alert_id="held:RL1:red:40900:a", kind="held", train_id="RL1")
        chicago.service_health.apply([Received("service_alerts", alert_of(cleared), now, now)])
        assert client.get("/api/alerts").json()["open"] == []

        crowded = crowding_alert()
        record = crowding_alert_of(json.dumps(crowded).encode())
        london.crowding_alerts.apply([Received("crowding_alerts", record, now, now)])
        [shown] = client.get("/api/london/alerts").json()["open"]
        assert (shown["station"], shown["ratio"], shown["since"]) == ("Oxford Circus", 3.0, "2023-06-07T07:15:00Z")
        stale = crowding_alert_of(json.dumps({**crowded, "state": "clear", "at": "2023-06-07T07:15:00Z"}).encode())
        london.crowding_alerts.apply([Received("crowding_alerts", stale, now, now)])  # older: ignored
        assert len(client.get("/api/london/alerts").json()["open"]) == 1


def test_cleared_alerts_are_forgotten_an_hour_after_while_open_ones_stay() -> None:
    health = ServiceHealth()
    for number in range(40):  # held trains, each cleared when it moved on: one alert id per train and station
        held = f"held:RL{number:03}:red:40900:a"
        health.apply(alert_of(alert("open", 10_000 + number, alert_id=held, kind="held")))
        health.apply(alert_of(alert("clear", 20_000 + number, alert_id=held, kind="held")))
    health.apply(alert_of(alert("open", 30_000, alert_id="gap:red:40900:a")))
    assert health.held_alerts() == 41
    two_hours = 2 * 3_600_000
    health.apply(alert_of(alert("open", two_hours, alert_id="bunching:red:40900:a", kind="bunching")))
    assert health.held_alerts() == 2  # the open gap and the new bunching
    assert {a.alert_id for a in health.open_alerts()} == {"gap:red:40900:a", "bunching:red:40900:a"}


def test_records_of_a_restarted_simulation_are_taken_though_its_clock_is_behind() -> None:
    health = ServiceHealth(["red"])
    six_hours = 6 * 3_600_000
    health.apply(alert_of(alert("clear", six_hours)))
    health.apply(headway_of(headway(40900, 300.0, six_hours)))
    assert health.apply(alert_of(alert("open", 50_000)))  # the new run's gap at the same platform
    assert [a.at_ms for a in health.open_alerts()] == [50_000]
    assert health.apply(headway_of(headway(40900, 420.0, 60_000)))
    assert health.lines()[0]["headway_s"] == 420.0


def test_a_crowding_alert_of_a_restarted_simulation_is_taken_though_its_clock_is_behind() -> None:
    alerts = CrowdingAlerts()
    record = crowding_alert(
        state="clear",
        since="2023-06-07T19:00:00Z",
        at="2023-06-07T19:15:00Z",
        entries=90,
        ratio=0.3,
        reason="back to usual",
    )
    alerts.apply(crowding_alert_of(json.dumps(record).encode()))
    late_open = {**record, "state": "open", "at": "2023-06-07T18:45:00Z", "ratio": 3.0}
    assert not alerts.apply(crowding_alert_of(json.dumps(late_open).encode()))  # a late copy: ignored
    new_run = {**record, "state": "open", "since": "2023-06-07T07:15:00Z", "at": "2023-06-07T07:30:00Z", "ratio": 3.0}
    assert alerts.apply(crowding_alert_of(json.dumps(new_run).encode()))
    assert [a.since for a in alerts.open_alerts()] == ["2023-06-07T07:15:00Z"]


def next_alerts(socket: WebSocketTestSession) -> dict[str, Any]:
    """The next ``alerts`` frame on a page's socket (status frames come between them every second)."""
    for _ in range(30):
        frame = socket.receive_json()
        if frame["type"] == "alerts":
            return frame
    raise AssertionError("no alerts frame among 30 frames")


def test_each_page_gets_its_alerts_over_its_socket_as_they_open_and_clear(tmp_path: Path) -> None:
    """No polling: the newest alerts come with the connection, then each change as it happens."""
    with TestClient(create_app(isolated_settings(tmp_path), start_consumer=False)) as client:
        chicago, london = client.app.state.chicago, client.app.state.london  # type: ignore[attr-defined]
        now = now_ms()
        with client.websocket_connect("/ws") as socket:
            first = next_alerts(socket)
            assert first["open"] == [] and [line["line"] for line in first["lines"]][:2] == ["red", "blue"]
            held = alert("open", 5_000, alert_id="held:RL1:red:40900:a", kind="held", train_id="RL1")
            chicago.service_health.apply([Received("service_alerts", alert_of(held), now, now)])
            opened = next_alerts(socket)
            assert [a["alert_id"] for a in opened["open"]] == ["held:RL1:red:40900:a"]
            assert opened["lines"][0]["open_alerts"] == 1 and "network" in opened["time_basis"]
            assert "recent" not in opened and client.get("/api/alerts").json()["recent"]  # the API's only
            cleared = alert("clear", 9_000, alert_id="held:RL1:red:40900:a", kind="held", train_id="RL1")
            chicago.service_health.apply([Received("service_alerts", alert_of(cleared), now, now)])
            assert next_alerts(socket)["open"] == []

        with client.websocket_connect("/ws/london") as socket:
            assert next_alerts(socket)["open"] == []
            record = crowding_alert_of(json.dumps(crowding_alert()).encode())
            london.crowding_alerts.apply([Received("crowding_alerts", record, now, now)])
            assert [a["station"] for a in next_alerts(socket)["open"]] == ["Oxford Circus"]
