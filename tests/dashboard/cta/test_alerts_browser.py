"""Service alerts in a real headless browser: an alert the service-health job writes shows on the Chicago
page within moments, pushed over the page's socket (no polling), and goes when its clear record comes.
Real Kafka; the records are written to the alerts topic as the Flink job writes them (the job itself:
tests/pipeline/test_cta_service_health.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.dashboard.cta.test_service_health import alert
from tests.dashboard.support import Feed, Topics, run_dashboard
from transit_status.config import Settings

pytestmark = pytest.mark.platform

HELD = "held:RL1:red:40900:a"


def test_an_alert_shows_on_the_page_as_it_opens_and_goes_when_it_clears(
    platform: Settings, browser: Browser, tmp_path: Path
) -> None:
    topics = Topics(Topics.unique(platform).settings)
    topics.create()
    feed = Feed(platform, topics)
    alerts_topic = topics.settings.topic_cta_service_alerts

    with run_dashboard(platform, topics, tmp_path) as dashboard:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(dashboard.url + "/")
        page.wait_for_function("window.dashboard && window.dashboard.connected()", timeout=15_000)
        page.locator("#health-strip li[data-line='red']").wait_for(timeout=10_000)  # the first alerts frame
        assert page.locator("#service-alerts li").count() == 0

        record = alert("open", 5_000, alert_id=HELD, kind="held", train_id="RL1")
        feed.raw(alerts_topic, HELD.encode(), record)
        feed.flush()
        row = page.locator(f'#service-alerts li[data-alert-id="{HELD}"]')
        row.wait_for(timeout=10_000)
        assert "Howard" in row.inner_text() and "RL1" in row.inner_text()
        assert page.locator("#health-strip li[data-line='red'] .health-count").inner_text() == "1 open"

        feed.raw(alerts_topic, HELD.encode(), alert("clear", 9_000, alert_id=HELD, kind="held", train_id="RL1"))
        feed.flush()
        row.wait_for(state="detached", timeout=10_000)
        assert page.locator("#service-alerts-empty").is_visible()
        assert errors == []
        assert not [url for url in asked if "/api/alerts" in url]  # pushed, never polled
