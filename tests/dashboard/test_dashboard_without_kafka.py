"""With no Kafka at all the dashboard still serves, says why it is not ready, and keeps retrying."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.dashboard.support import Topics, now_ms, run_dashboard, wait_for
from transit_status.platform.ports import isolated_settings


@pytest.mark.system  # starts the dashboard's server
def test_kafka_down_at_start_is_reported_and_the_dashboard_keeps_running(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)  # free ports: nothing listens on the Kafka port
    started_ms = now_ms()
    with run_dashboard(settings, Topics.unique(settings), tmp_path) as dashboard:
        health = wait_for(
            lambda: (r := dashboard.get("/healthz")).status_code == 503 and "Kafka unreachable" in r.text and r,
            30,
            "a 503 naming Kafka",
            dashboard,
        )
        body = health.json()
        assert body["status"] == "degraded"  # Kafka failed: no data can flow
        assert body["kafka"]["connected"] is False
        assert settings.bootstrap_servers in body["reason"] and "retrying" in body["reason"]
        assert {t["state"] for t in body["topics"].values()} == {"unknown"}
        # Which feed is degraded and since when: Kafka since the dashboard started, and every topic with it.
        kafka = body["feeds"]["kafka"]
        assert kafka["degraded"] is True and started_ms - 5_000 <= kafka["since"] <= now_ms()
        inputs = ["kafka", "stations", "arrivals", "turnstile_summary", "weather"]
        assert body["degraded"] == [*inputs, "run_times", "headways", "service_alerts"]  # the jobs' outputs too
        assert {body["feeds"][role]["since"] for role in body["topics"]} == {kafka["since"]}

        page = dashboard.get("/")
        assert page.status_code == 200 and 'id="banner"' in page.text
        assert dashboard.get("/api/state").json()["health"]["kafka"]["connected"] is False
        time.sleep(3)
        assert dashboard.process.poll() is None, dashboard.log()
        assert dashboard.get("/healthz").status_code == 503
    assert dashboard.process.returncode == 0, dashboard.log()
