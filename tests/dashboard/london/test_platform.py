"""The London page end to end: Flink's contract topics (produced here in their documented shape) and
OpenSearch data streams (filled here as the sink fills them) through a real dashboard process, its
API and a real headless browser."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from opensearchpy import OpenSearch
from playwright.sync_api import Browser

from tests.dashboard.support import Dashboard, Topics, run_dashboard, wait_for
from transit_status.config import Settings
from transit_status.london.opensearch_sink import ensure_data_streams
from transit_status.platform.ports import private_topics
from transit_status.topics import ensure_topics, london_derived_topics

pytestmark = pytest.mark.platform

SCREENSHOT = Path("/tmp/london-dashboard.png")
HOSTILE = "<img src=x onerror=window.__xss=1>"
STATIONS = {"Bank and Monument": (4200, 3900), "Oxford Circus": (3800, 4100), "Brixton LU": (1500, 600)}


@dataclass
class London:
    settings: Settings
    producer: Producer
    search: OpenSearch

    def activity(self, station: str, entries: int, exits: int, known: bool = True) -> None:
        value = {"station": station, "known": known, "entries": entries, "exits": exits, "inside": entries - exits}
        topic = self.settings.topic_london_station_activity
        self.producer.produce(topic, key=json.dumps({"station": station}), value=json.dumps(value))

    def line(self, line: str, entries: int, exits: int) -> None:
        value = {"line": line, "entries": entries, "exits": exits, "inside": entries - exits}
        self.producer.produce(
            self.settings.topic_london_line_activity, key=json.dumps({"line": line}), value=json.dumps(value)
        )

    def window(self, station: str, start: datetime, entries: int, exits: int) -> None:
        end = start + timedelta(minutes=15)
        key = {"station": station, "window_minutes": 15, "window_start": _iso(start)}
        value = {**key, "window_end": _iso(end), "entries": entries, "exits": exits}
        self.producer.produce(self.settings.topic_london_station_windows, key=json.dumps(key), value=json.dumps(value))

    def flush(self) -> None:
        assert self.producer.flush(15) == 0

    def index_taps(self, stream: str, station: str, count: int, at: datetime, delta: int) -> None:
        """``count`` documents as the sink writes them (one per barrier tap), then refreshed."""
        actions: list[dict[str, Any]] = []
        for n in range(count):
            document = {
                "@timestamp": (at - timedelta(seconds=n % 50)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "user": f"{n:012d}",
                "station": station,
                "delta": delta,
                "location": "51.5134,-0.0889",
            }
            actions += [{"create": {"_index": stream}}, document]
        result = self.search.bulk(body=actions, refresh="wait_for")
        assert not result["errors"], result


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def london(platform: Settings) -> Iterator[London]:
    suffix = f"london-{uuid.uuid4().hex[:8]}"
    settings = private_topics(
        platform,
        suffix,
        # The records are produced once, up front: at speed 1 London's feeds are expected about once a
        # simulated (= real) minute, so they stay fresh for the whole module (health.py).
        simulation_speed=1.0,
    )
    ensure_topics(settings.with_overrides(partitions=2), london_derived_topics(settings))
    search = OpenSearch(hosts=[settings.opensearch_url], timeout=30)
    # The sink's own index templates and data streams, so documents are mapped as in production.
    ensure_data_streams(search, settings)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})
    yield London(settings, producer, search)
    for stream in (settings.opensearch_entries_stream, settings.opensearch_exits_stream):
        search.indices.delete_data_stream(name=stream, ignore=[404])
        search.indices.delete_index_template(name=stream, ignore=[404])


@pytest.fixture(scope="module")
def dashboard(london: London, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    now = datetime.now(UTC)
    for station, (entries, exits) in STATIONS.items():
        london.activity(station, entries, exits)
        london.window(station, now.replace(second=0, microsecond=0) - timedelta(minutes=20), entries // 20, exits // 20)
    london.activity(HOSTILE, 3, 1, known=False)
    london.line("central", 9000, 8000)
    london.flush()
    london.index_taps(london.settings.opensearch_entries_stream, "Bank and Monument", 120, now, 1)
    london.index_taps(london.settings.opensearch_exits_stream, "Oxford Circus", 80, now, -1)
    with run_dashboard(london.settings, Topics(london.settings), tmp_path_factory.mktemp("london")) as running:
        yield running


def _london_health(dashboard: Dashboard) -> dict[str, Any]:
    return dashboard.get("/healthz").json()["london"]


def test_the_london_api_reflects_the_activity_topics_and_opensearch(london: London, dashboard: Dashboard) -> None:
    stations = wait_for(
        lambda: (
            {s["station"]: s for s in dashboard.get("/api/london/stations").json()}
            if len(dashboard.get("/api/london/stations").json()) == 4
            else None
        ),
        30,
        "every station's activity",
        dashboard,
    )
    assert (stations["Brixton LU"]["entries"], stations["Brixton LU"]["inside"]) == (1500, 900)
    assert [s["station"] for s in dashboard.get("/api/london/unknown").json()] == [HOSTILE]
    assert dashboard.get("/api/london/lines").json() == [
        {"line": "central", "entries": 9000, "exits": 8000, "inside": 1000}
    ]
    busiest = wait_for(lambda: dashboard.get("/api/london/busiest").json().get("stations"), 20, "busiest", dashboard)
    assert [row["station"] for row in busiest] == ["Bank and Monument", "Oxford Circus", "Brixton LU"]

    # OpenSearch's histograms: every tap indexed in the last hour is in the per-minute buckets.
    series = dashboard.get("/api/london/series")
    assert series.status_code == 200, series.text
    body = series.json()
    assert sum(count for _, count in body["entries"]["last_hour"]) == 120
    assert sum(count for _, count in body["exits"]["last_hour"]) == 80
    assert len(body["entries"]["last_hour"]) >= 60  # empty minutes are there too, as zeros
    assert body["crowding"]["network"]["entries"] == 120

    # The same figure straight from OpenSearch's own date_histogram.
    direct = london.search.search(
        index=london.settings.opensearch_entries_stream,
        body={"size": 0, "aggs": {"m": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}}},
    )
    assert sum(b["doc_count"] for b in direct["aggregations"]["m"]["buckets"]) == 120

    health = wait_for(
        lambda: (h := _london_health(dashboard))["status"] == "ok" and h, 30, "London feeds live", dashboard
    )
    assert health["degraded"] == []
    assert health["topics"]["station_activity"]["state"] == "live"
    assert health["opensearch"]["last_ok_at"] is not None and health["opensearch"]["waiting_for"] == []
    # The Chicago part of /healthz is what it was.
    assert {"kafka", "stations", "arrivals"} <= set(dashboard.get("/healthz").json()["feeds"])


def test_the_london_page_shows_the_map_and_its_chart_updates_without_a_reload(
    london: London, dashboard: Dashboard, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(dashboard.url + "/?network=london")
    assert page.url.endswith("/london")
    page.wait_for_function("window.london && window.london.snapshots === 1", timeout=15_000)
    page.wait_for_function("window.london.radius('Brixton LU') > 2", timeout=15_000)
    page.wait_for_function("window.london.chartTotals() && window.london.chartTotals().entries === 120", timeout=20_000)
    page.evaluate("window.__loadedOnce = 'same page'")
    assert page.locator("#map circle.london-station").count() == 270
    assert page.locator("#map line.link").count() > 250
    small = page.evaluate("window.london.radius('Brixton LU')")
    assert page.evaluate("window.london.radius('Bank and Monument')") > small

    # Live: more activity at Brixton and more taps in OpenSearch reach the page with no reload.
    london.activity("Brixton LU", 9000, 700)
    london.flush()
    london.index_taps(london.settings.opensearch_entries_stream, "Brixton LU", 30, datetime.now(UTC), 1)
    page.wait_for_function(f"window.london.radius('Brixton LU') > {small} + 1", timeout=15_000)
    page.wait_for_function("window.london.chartTotals().entries === 150", timeout=20_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    assert page.evaluate("window.__loadedOnce") == "same page"
    assert page.evaluate("window.london.snapshots") == 1
    assert page.locator("#unknown li").first.get_attribute("data-station") == HOSTILE
    assert HOSTILE in (page.locator("#unknown li").first.text_content() or "")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#busiest tbody tr").count() == 3
    assert page.locator("#topics li[data-role='opensearch'] .topic-text").text_content().startswith("live")
    assert page.locator("#lines-table tr[data-line='central'] td").nth(1).text_content() == "9,000"
    assert errors == []
    page.close()
