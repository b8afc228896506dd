"""The arrivals board in a real headless browser: a click on a station of the Chicago map opens its board,
whose rows count down. Real Kafka and registry; the run times are written to the run-times topic as the
Flink job writes them (the job itself: test_predictions_platform.py), and the network's clock runs at the
wall clock's pace (speed 1), so the countdown is in real seconds."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.dashboard.support import Feed, Topics, run_dashboard, wait_for
from transit_status.config import Settings
from transit_status.networks.cta import load_cta_network
from transit_status.wallclock import now_ms

pytestmark = pytest.mark.platform

RUN_S = 120.0


def test_clicking_a_station_opens_its_board_and_its_rows_count_down(
    platform: Settings, browser: Browser, tmp_path: Path
) -> None:
    topics = Topics(Topics.unique(platform).settings.with_overrides(simulation_speed=1.0))
    topics.create()
    network = load_cta_network()
    red = network.route("red").station_ids
    feed = Feed(platform, topics)
    for a, b in itertools.pairwise(red):
        leg = {"line": "red", "direction": "a", "from_station_id": a, "to_station_id": b}
        value = {**leg, "run_seconds": RUN_S, "samples": 5, "min_seconds": RUN_S, "max_seconds": RUN_S,
                 "learned_at": now_ms()}  # fmt: skip
        feed.raw(topics.settings.topic_run_times, json.dumps(leg).encode(), json.dumps(value).encode())
    # RL900 has just arrived at Howard (it came from somewhere: not a first sighting), going south.
    feed.arrival("RL900", red[0], network.stations[red[0]].name, direction="a", prev_station_id=red[1])
    feed.flush()
    target = red[3]  # three stops on: 6 minutes away

    with run_dashboard(platform, topics, tmp_path) as dashboard:
        wait_for(
            lambda: any(
                row["train_id"] == "RL900"
                for p in dashboard.get(f"/api/stations/{target}/arrivals").json()["platforms"]
                for row in p["trains"]
            ),
            30,
            "RL900 predicted at the station",
            dashboard,
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(dashboard.url + "/")
        page.wait_for_function("window.dashboard && window.dashboard.snapshots === 1", timeout=15_000)
        assert page.locator("#arrivals-board").is_hidden()

        page.locator(f'#map circle.station[data-station-id="{target}"]').click()
        row = page.locator('#board-platforms tr.train-row[data-train-id="RL900"]')
        row.wait_for(timeout=10_000)
        assert page.locator("#board-station").text_content() == network.stations[target].name
        assert "real time" in (page.locator("#board-basis").text_content() or "")
        assert "95th/Dan Ryan" in row.inner_text()
        assert row.locator("td.minutes").inner_text().startswith(("6 min", "5 min"))
        first = float(row.get_attribute("data-seconds") or "nan")
        assert 300 < first <= 360
        # It counts down between fetches, at the network clock's pace (here the wall clock's).
        page.wait_for_function(
            f"Number(document.querySelector('#board-platforms tr.train-row').dataset.seconds) <= {first - 2}",
            timeout=10_000,
        )
        page.screenshot(path=str(tmp_path / "board.png"))
        assert page.locator(f'#map circle.station.selected[data-station-id="{target}"]').count() == 1

        page.locator("#board-close").click()
        assert page.locator("#arrivals-board").is_hidden()
        assert errors == []
        page.close()
