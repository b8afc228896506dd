"""The page in a real headless browser: trains move without a reload, names are text, the socket reconnects."""

from __future__ import annotations

import random
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page

from tests.dashboard.support import Feed, Topics, network_stations, run_dashboard, wait_for
from transit_status.config import Settings

pytestmark = pytest.mark.platform

SCREENSHOT = Path("/tmp/dashboard.png")
HOSTILE_NAME = "<script>window.__xss = 1; alert(1)</script>"


def marker_box(page: Page, train_id: str) -> dict[str, float]:
    box = page.locator(f'[data-train-id="{train_id}"]').bounding_box()
    assert box is not None, f"no marker for {train_id}"
    return box


def test_a_train_moves_on_the_live_page_and_station_names_stay_text(
    platform: Settings, browser: Browser, tmp_path: Path
) -> None:
    topics = Topics.unique(platform)
    topics.create()
    feed = Feed(platform, topics)
    stations = network_stations()
    for record in stations:
        feed.station(record)
    feed.station({"station_id": 1, "station_name": HOSTILE_NAME, "line": "red", "order": 0, "stops": {}})
    rng = random.Random(7)
    prefixes = {"red": "RL", "blue": "BL", "brown": "BR", "green": "GL", "orange": "OL", "pink": "PK",
                "purple": "PL", "yellow": "YL"}  # fmt: skip
    by_line: dict[str, list[dict]] = {}
    for record in stations:
        by_line.setdefault(record["line"], []).append(record)
    for line, records in by_line.items():
        for n in range(1, 6 if line != "yellow" else 3):
            stop = rng.choice(records)
            feed.arrival(f"{prefixes[line]}{n:03d}", stop["station_id"], stop["station_name"], line=line,
                         direction=rng.choice("ab"), route=line.title())  # fmt: skip
    for record in stations:
        feed.summary(record["station_id"], record["station_name"], rng.randint(50, 9000))
    red = by_line["red"]
    start, end = red[0], red[20]
    feed.arrival("RL900", start["station_id"], start["station_name"], direction="a")
    feed.weather(71.5, "partly_cloudy")
    feed.flush()

    with run_dashboard(platform, topics, tmp_path) as dashboard:
        wait_for(lambda: dashboard.get("/healthz").status_code == 200, 20, "healthy", dashboard)
        # bypass_csp: Playwright's predicates need eval, which our CSP forbids; it also makes the
        # hostile-name check below prove the rendering is safe by itself, not thanks to the CSP.
        page = browser.new_page(viewport={"width": 1440, "height": 900}, bypass_csp=True)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(dashboard.url + "/")
        page.wait_for_function("window.dashboard && window.dashboard.snapshots === 1", timeout=15_000)
        page.wait_for_function("window.dashboard.marker('RL900') !== null", timeout=10_000)
        page.evaluate("window.__loadedOnce = 'same page'")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(tmp_path / "before.png"))
        before = marker_box(page, "RL900")
        duration = page.evaluate(
            "getComputedStyle(document.querySelector('[data-train-id=\"RL900\"]')).transitionDuration"
        )
        assert duration != "0s"  # moves glide

        feed.arrival("RL900", end["station_id"], end["station_name"], direction="a")
        feed.flush()
        page.wait_for_function(f"window.dashboard.marker('RL900').station_id === {end['station_id']}", timeout=10_000)
        page.wait_for_timeout(1500)  # let the CSS transition finish
        after = marker_box(page, "RL900")
        page.screenshot(path=str(SCREENSHOT))

        assert (round(after["x"]), round(after["y"])) != (round(before["x"]), round(before["y"]))
        assert after["y"] > before["y"] + 20  # 20 stations south of Howard is lower on the map
        assert page.evaluate("window.__loadedOnce") == "same page"  # no reload happened
        assert page.evaluate("window.dashboard.snapshots") == 1
        cell = page.locator(f"tbody[data-line='red'] tr[data-station-id='{end['station_id']}'] td.dir-a")
        assert "RL900" in cell.inner_text()

        # The hostile name is shown as text and nothing ran.
        name_cell = page.locator("tbody[data-line='red'] tr[data-station-id='1'] td.station-name")
        assert name_cell.text_content() == HOSTILE_NAME
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert dialogs == [] and errors == []
        assert page.locator("#weather-temp").text_content() == "71.5 °F"
        assert page.locator("#topics li[data-role='arrivals'] .topic-text").text_content().startswith("live")

    # The server goes away and comes back on the same port: the page reconnects by itself.
    port = urlparse(dashboard.url).port
    page.wait_for_function("!window.dashboard.connected()", timeout=10_000)
    assert "reconnecting" in (page.locator("#connection").text_content() or "")
    with run_dashboard(platform, topics, tmp_path, port=port) as again:
        wait_for(lambda: again.get("/healthz").status_code == 200, 20, "healthy again", again)
        page.wait_for_function("window.dashboard.snapshots === 2", timeout=20_000)
        assert page.evaluate("window.__loadedOnce") == "same page"
        assert page.evaluate("window.dashboard.marker('RL900').station_id") == end["station_id"]
        page.wait_for_function("document.getElementById('connection').textContent === 'live'", timeout=5_000)
    page.close()
