"""Health that means data flows, on the real platform: the dashboard as a real process, real records."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from websockets.sync.client import connect

from tests.dashboard.support import Dashboard, Feed, Topics, now_ms, run_dashboard, wait_for
from transit_status.config import Settings
from transit_status.platform.ports import free_ports

pytestmark = pytest.mark.platform

JARVIS = 41190
# Chicago only, so London's feeds do not count; at 600x a simulated minute of arrivals is under a
# second, so the expected interval is health.py's floor (1 s) and arrivals are stale 2 s after the last.
HEALTH_ENV = {
    "TRANSIT_RUN_NETWORKS": "cta",
    "TRANSIT_SIMULATION_SPEED": "600",
    "TRANSIT_HEALTH_STALE_FACTOR": "2",
    "TRANSIT_HEALTH_START_GRACE_S": "600",
}


INTERVAL_MS = 1_000


def healthz(dashboard: Dashboard) -> dict[str, Any]:
    return dashboard.get("/healthz").json()


def page_feed_state(dashboard: Dashboard, feed: str, state: str) -> None:
    """A status frame on the page's socket (pushed once a second) says ``feed`` is in ``state``. The
    snapshot a new socket gets first may be a moment older than /healthz: the next frames catch up."""
    seen = []
    with connect(dashboard.url.replace("http", "ws") + "/ws", open_timeout=10) as socket:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = json.loads(socket.recv(timeout=5))
            if message["type"] == "status":
                seen.append(message["health"]["feeds"][feed]["state"])
                if seen[-1] == state:
                    return
    raise AssertionError(f"no status frame with {feed} {state} within 10 s (saw {seen})")


def test_not_ok_before_data_flows_and_a_stopped_producer_turns_its_feed_stale_within_twice_its_interval(
    platform: Settings, tmp_path: Path
) -> None:
    topics = Topics.unique(platform)
    topics.create()
    with run_dashboard(platform, topics, tmp_path, **HEALTH_ENV) as dashboard:
        # The dashboard is ready (its topics exist and are loaded), but no record flows yet.
        wait_for(lambda: dashboard.get("/healthz").status_code == 200, 30, "the dashboard ready", dashboard)
        body = healthz(dashboard)
        assert body["status"] == "starting", body
        assert body["networks"] == ["cta"] and body["london"]["status"] == "off"
        assert body["feeds"]["arrivals"]["state"] == "starting"
        assert "arrivals (no record yet)" in body["waiting_for"]
        assert body["feeds"]["arrivals"]["stale_after_s"] == 2.0
        # The work is inspected beside the feeds: this test's platform runs no pipeline job for it.
        wait_for(lambda: healthz(dashboard)["work"]["checked_at"], 30, "the work inspected", dashboard)
        items = {(item["kind"], item["name"]): item for item in healthz(dashboard)["work"]["items"]}
        assert ("job", f"{topics.settings.sql_job_prefix}.turnstile-summary") in items
        assert all(item["health"] in ("ok", "starting") for item in items.values()), items

        feed = Feed(platform, topics)
        for n in range(8):  # arrivals every 0.25 s: well within the expected second
            feed.arrival("RL001", JARVIS, "Jarvis", direction="a" if n % 2 else "b")
            feed.flush()
            time.sleep(0.25)
        last_produced = now_ms()
        # The dashboard's consumer may be a moment behind the producer on a busy machine.
        wait_for(lambda: healthz(dashboard)["feeds"]["arrivals"]["state"] == "ok", 10, "arrivals ok", dashboard)
        assert healthz(dashboard)["status"] != "ok"  # the other feeds still have no record

        # The producer stops: within twice the expected interval the feed is stale, since its newest
        # record + 2 s; /healthz and the page's status frames say so.
        stale = wait_for(
            lambda: (f := healthz(dashboard)["feeds"]["arrivals"])["state"] == "stale" and f,
            10,
            "arrivals stale",
            dashboard,
            every_s=0.05,
        )
        seen_after_ms = now_ms() - last_produced
        # The rule is exact (stale from the newest record + 2 s); the wall clock adds the consumer's and
        # the polls' delays, seconds at most on a busy machine.
        assert stale["since"] == stale["last_record_at"] + 2_000
        assert seen_after_ms <= 2 * INTERVAL_MS + 5_000, seen_after_ms
        assert stale["degraded"] is True and stale["reason"] == "no new record for over 2 s"
        assert "arrivals" in healthz(dashboard)["degraded"]
        assert healthz(dashboard)["status"] == "degraded"
        page_feed_state(dashboard, "arrivals", "stale")

        # Records again: ok again.
        feed.arrival("RL001", JARVIS, "Jarvis")
        feed.flush()
        wait_for(lambda: healthz(dashboard)["feeds"]["arrivals"]["state"] == "ok", 10, "arrivals ok again", dashboard)


@contextmanager
def connection_recorder(host: str) -> Iterator[tuple[int, list[str]]]:
    """A listener on a free port that records every connection (its first bytes) and closes it."""
    port = free_ports(1, host)[0]
    seen: list[str] = []
    with socket.create_server((host, port)) as server:
        server.settimeout(0.2)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    continue
                with connection:
                    connection.settimeout(1.0)
                    try:
                        seen.append(connection.recv(200).decode(errors="replace"))
                    except OSError as exc:
                        seen.append(f"(connected: {exc})")

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield port, seen
        finally:
            stop.set()
            thread.join(5)


def test_a_chicago_only_dashboard_never_asks_opensearch_and_its_london_page_says_london_is_not_running(
    platform: Settings, tmp_path: Path, browser: Browser
) -> None:
    topics = Topics.unique(platform)
    topics.create()
    with (
        connection_recorder(platform.host) as (opensearch_port, opensearch_requests),
        run_dashboard(
            platform, topics, tmp_path, TRANSIT_RUN_NETWORKS="cta", TRANSIT_OPENSEARCH_PORT=str(opensearch_port)
        ) as dashboard,
    ):
        wait_for(lambda: dashboard.get("/healthz").status_code == 200, 30, "the dashboard ready", dashboard)
        # London's charts are not asked for: the endpoint used to query OpenSearch on demand (and the
        # server polled it every 5 s).
        series = dashboard.get("/api/london/series")
        assert opensearch_requests == [], opensearch_requests
        # The London page's status frames say London is not running (not "starting", not an error).
        with connect(dashboard.url.replace("http", "ws") + "/ws/london", open_timeout=10) as london_socket:
            message = json.loads(london_socket.recv(timeout=5))
            while message["type"] != "status":
                message = json.loads(london_socket.recv(timeout=5))
        london = message["health"]["london"]
        assert london["status"] == "off" and london["reason"] is None and london["degraded"] == []
        assert london["not_running"] == "London is not running: this run was started with --network cta"
        # The charts' endpoint says so too.
        assert series.status_code == 503 and series.json()["detail"] == london["not_running"]
        body = healthz(dashboard)
        assert not [problem for problem in body["problems"] if "london" in problem.lower()], body["problems"]
        # What a person sees on the London page: the notice, no error.
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(dashboard.url + "/london")
        banner = page.locator("#banner")
        banner.filter(has_text="London is not running").wait_for(state="visible", timeout=15_000)
        assert banner.text_content() == london["not_running"] and errors == []
        assert page.locator("#connection").text_content() == "not running"
        page.close()
        assert opensearch_requests == [], opensearch_requests
    log = dashboard.log()
    assert "OpenSearch" not in log and "uk.london" not in log, log[-3000:]
