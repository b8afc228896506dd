"""The dashboard as a real process reading the service-health topics: alerts show as they open, go when
their clear record arrives, dwells are served, and a record that is no alert is dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.support import Topics, crowding_alert, run_dashboard, service_alert, wait_for
from tests.helpers import read_all
from tests.streams.support import produce_raw
from transit_status.config import Settings

pytestmark = pytest.mark.platform


def alert(state: str, at_ms: int) -> tuple[bytes, bytes]:
    """A held train at Jarvis (key, value)."""
    value = service_alert(
        state,
        at_ms,
        "held:RL902:red:41190:a",
        "held",
        station_id=41190,
        station_name="Jarvis",
        train_id="RL902",
        measured_s=300.0,
        scheduled_s=90.0,
        threshold_s=210.0,
        reason="train RL902 not seen for 5.0 min",
    )
    return json.dumps({"alert_id": value["alert_id"]}).encode(), json.dumps(value).encode()


def test_alerts_show_as_they_open_and_go_when_service_recovers(platform: Settings, tmp_path: Path) -> None:
    topics = Topics.unique(platform)
    topics.create()
    settings = topics.settings
    produce_raw(settings, settings.topic_cta_service_alerts, [alert("open", 5_000), (b"{}", b"not json")])
    stop = {"line": "red", "station_id": 41190, "station_name": "Jarvis", "direction": "a", "train_id": "RL902",
            "arrived_ms": 1_000, "departed_ms": 26_000, "dwell_s": 25.0}  # fmt: skip
    produce_raw(settings, settings.topic_cta_dwells, [(b'{"line": "red"}', json.dumps(stop).encode())])
    produce_raw(
        settings,
        settings.topic_london_crowding_alerts,
        [(b'{"alert_id": "crowding:Oxford Circus"}', json.dumps(crowding_alert()).encode())],
    )

    with run_dashboard(platform, topics, tmp_path) as dashboard:

        def open_alerts() -> list[dict[str, Any]]:
            return dashboard.get("/api/alerts").json()["open"]

        wait_for(lambda: len(open_alerts()) == 1, 30, "the open alert", dashboard)
        [shown] = open_alerts()
        assert shown["where"]["station_name"] == "Jarvis" and shown["where"]["train_id"] == "RL902"
        assert shown["since_ms"] == 1_000 and "not seen" in shown["why"]["reason"]
        red = next(line for line in dashboard.get("/api/alerts").json()["lines"] if line["line"] == "red")
        assert red["open_alerts"] == 1
        wait_for(lambda: len(dashboard.get("/api/london/alerts").json()["open"]) == 1, 30, "London's alert", dashboard)
        wait_for(lambda: dashboard.get("/api/dwells").json()["platforms"], 30, "the dwell", dashboard)
        [jarvis] = dashboard.get("/api/dwells").json()["platforms"]
        assert (jarvis["station_name"], jarvis["direction"], jarvis["dwell_s"]) == ("Jarvis", "a", 25.0)

        produce_raw(settings, settings.topic_cta_service_alerts, [alert("clear", 9_000)])
        wait_for(lambda: open_alerts() == [], 30, "the alert to clear", dashboard)

    dead = [dict(m.headers() or []) for m in read_all(settings, settings.topic_dead_letters)]
    assert [h["dlq.topic"] for h in dead] == [settings.topic_cta_service_alerts.encode()]
