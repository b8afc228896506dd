"""The dashboard of another agency starts before the feed has saved that agency's static GTFS: it answers
/healthz as degraded with the reason, then serves the agency's network as soon as the copy is there.

The agency is MADE UP (tests/feeds/made_up_agency.py, CONSTRUCTED: recordings/README.md). The feed's
start-up (fetch and save) is the real one, run in this process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.feeds import made_up_agency as agency
from tests.feeds.feed_server import Reply, serving
from transit_status.config import Settings
from transit_status.dashboard.app import create_app
from transit_status.dashboard.waiting import TRY_AGAIN_LATER, dashboard_app
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.runner import make_adapter, plan_feed
from transit_status.networks import forget_static_feeds
from transit_status.platform.ports import isolated_settings

WAITING = "waiting for the static GTFS from the feed"


@pytest.fixture(autouse=True)
def fresh_process() -> None:
    forget_static_feeds()


def agency_settings(tmp_path: Path, static: str) -> Settings:
    return isolated_settings(
        tmp_path, source="gtfs-rt", gtfs_static=static, gtfs_rt_vehicle_positions_url="http://127.0.0.1:9/vp.pb"
    )


def until(check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while (result := check()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def test_the_dashboard_answers_degraded_until_the_feed_saved_the_static_gtfs_then_draws_it(tmp_path: Path) -> None:
    with serving([Reply(503, b"down for maintenance")]) as server:
        settings = agency_settings(tmp_path, f"{server.url}/lakeside.zip")
        app = dashboard_app(settings, lambda: create_app(settings, start_consumer=False))
        with TestClient(app) as client:
            health = client.get("/healthz")
            assert health.status_code == 503
            assert (health.json()["status"], health.json()["reason"]) == ("degraded", WAITING)
            page = client.get("/api/map")
            assert page.status_code == 503 and WAITING in page.text
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws"):
                pass
            assert closed.value.code == TRY_AGAIN_LATER
            assert server.requests == []  # the dashboard never fetches it itself

            # The agency's server is back; the feed (this process, as `serve feed` starts) saves its zip.
            server.script("/lakeside.zip", [Reply(200, agency.static_gtfs_zip(), content_type="application/zip")])
            make_adapter(settings, plan_feed(settings), FeedHealth("gtfs-rt"))

            drawn = until(lambda: ((r := client.get("/api/map")).status_code == 200 and r.json()) or None)
            assert {line["line"]: line["colour"] for line in drawn["lines"]} == agency.COLOURS
            assert "feeds" in client.get("/healthz").json()  # the dashboard's own health from now on


def test_with_the_static_gtfs_saved_the_dashboard_is_the_page_at_once(tmp_path: Path) -> None:
    path = tmp_path / "lakeside.zip"
    path.write_bytes(agency.static_gtfs_zip())
    settings = agency_settings(tmp_path, str(path))
    make_adapter(settings, plan_feed(settings), FeedHealth("gtfs-rt"))
    assert isinstance(dashboard_app(settings, lambda: create_app(settings, start_consumer=False)), FastAPI)
    # Chicago's dashboard never waits.
    chicago = isolated_settings(tmp_path / "chicago")
    assert isinstance(dashboard_app(chicago, lambda: create_app(chicago, start_consumer=False)), FastAPI)
