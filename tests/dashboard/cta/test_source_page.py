"""The page with a real source, in a real headless browser: it says the feed has no turnstiles or weather
(no Entries column, no weather reading, a note) and shows the feed's own health with its reason.

No Kafka is needed: what the page says about its source comes with the status frames, which the
dashboard pushes whether Kafka answers or not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.dashboard.support import Topics, run_dashboard, wait_for
from transit_status.feeds.health import FeedHealth
from transit_status.platform.ports import isolated_settings

RECORDING = Path(__file__).parents[2] / "feeds" / "recordings" / "cta-train-tracker-constructed"


@pytest.mark.system  # starts the dashboard's server and a browser
def test_a_real_source_is_said_to_have_no_turnstiles_or_weather_and_its_health_shows(
    browser: Browser, tmp_path: Path
) -> None:
    settings = isolated_settings(tmp_path, source=f"replay:{RECORDING}")
    health = FeedHealth("cta-train-tracker")
    health.report("positions", "HTTP 500")
    health.write(settings.feed_health_file)
    with run_dashboard(settings, Topics.unique(settings), tmp_path) as dashboard:
        wait_for(lambda: "source" in dashboard.get("/healthz").json()["feeds"], 30, "the source on /healthz", dashboard)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(dashboard.url + "/")
        page.wait_for_function("!document.getElementById('source-note').hidden", timeout=15_000)
        note = page.locator("#source-note").inner_text()
        assert note == "CTA Train Tracker (replayed) has no turnstile entries or weather: the page shows none."
        assert not page.locator("#status-table th.entries").is_visible()  # no column of dashes or zeros
        assert page.locator("#weather-status").inner_text() == "none in CTA Train Tracker (replayed)"
        assert page.locator("#weather-temp").inner_text() == ""
        source = page.locator('#topics li[data-role="source"]').inner_text()
        assert "CTA Train Tracker (replayed)" in source and "positions: HTTP 500" in source
        weather = page.locator('#topics li[data-role="weather"]').inner_text()
        assert "not in this feed" in weather
        assert errors == []
