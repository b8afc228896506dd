"""A real source on /healthz and the page (pure rules of health.py, and the app on a state filled directly):
it has no turnstiles or weather (off, said so, never stale); its adapter's health is the named feed
``source``: ok, or degraded with the reason and since when, stale when a live feed stops reporting; and
the API key never shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from tests.dashboard.test_health import (
    AFTER_GRACE,
    IN_GRACE,
    LONDON_TOPIC_ROLES,
    OPENSEARCH_OK,
    SETTINGS,
    STARTED,
    consumer_status,
    whole_report,
)
from transit_status.dashboard.app import create_app
from transit_status.dashboard.cta.health import SourceReport, expected_interval_s
from transit_status.dashboard.health import Clock
from transit_status.dashboard.london.health import LondonInputs
from transit_status.dashboard.state import Freshness
from transit_status.feeds.health import FeedHealth
from transit_status.platform.ports import isolated_settings

KEY = "d0nt-sh0w-this-key-7f3a"
RECORDING = Path(__file__).parents[1] / "feeds" / "recordings" / "cta-train-tracker-constructed"
TRAIN_TRACKER = SETTINGS.with_overrides(source="cta-train-tracker", cta_train_tracker_key=KEY, run_networks="cta")
REPLAY = SETTINGS.with_overrides(source=f"replay:{RECORDING}", run_networks="cta")
SIMULATION = SETTINGS.with_overrides(run_networks="cta")
WITHOUT_SIMULATED_DATA = ("stations", "arrivals")


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")


def snapshot(state: str, since_ms: int, reason: str = "", source: str = "cta-train-tracker") -> dict:  # type: ignore[type-arg]
    return {"source": source, "state": state, "reason": reason, "since": iso(since_ms), "last_ok": iso(since_ms),
            "problems": {}, "counts": {"polls": 3, "arrivals": 4}, "unknown_ids": {"station:49999": 2}}  # fmt: skip


def body(settings, clock: Clock, source: SourceReport | None, roles=WITHOUT_SIMULATED_DATA) -> dict:  # type: ignore[no-untyped-def,type-arg]
    freshness = {role: Freshness(10, clock.now - 1_000, clock.now - 1_000) for role in roles}
    london = LondonInputs(consumer_status(LONDON_TOPIC_ROLES), {}, OPENSEARCH_OK)
    code, report = whole_report(settings, consumer_status(), freshness, 0, clock, london, None, source)
    assert code == 200
    return report


def test_a_real_source_has_no_turnstiles_or_weather_and_is_ok_without_them() -> None:
    ok = SourceReport(snapshot("ok", STARTED), AFTER_GRACE.now - 1_000)
    report = body(TRAIN_TRACKER, AFTER_GRACE, ok)
    assert report["status"] == "ok", report["problems"]
    for feed, what in (("turnstile_summary", "turnstile entries"), ("weather", "weather")):
        assert report["feeds"][feed]["state"] == "off"
        assert report["feeds"][feed]["reason"] == f"not in this feed: CTA Train Tracker has no {what}"
    assert report["source"] == {
        "kind": "cta-train-tracker",
        "replay": False,
        "label": "CTA Train Tracker",
        "simulated": False,
        "turnstiles": False,
        "weather": False,
        "note": "CTA Train Tracker has no turnstile entries or weather: the page shows none.",
        "counts": {"polls": 3, "arrivals": 4},
        "unknown_ids": {"station:49999": 2},
    }
    # The same data from the simulation is a problem: its turnstiles and weather went quiet.
    simulated = body(SIMULATION, AFTER_GRACE, None)
    assert simulated["status"] == "degraded" and set(simulated["degraded"]) == {"turnstile_summary", "weather"}
    assert "source" not in simulated["feeds"] and simulated["source"]["simulated"] is True


def test_the_feeds_own_health_is_a_named_feed_degraded_with_its_reason_and_since() -> None:
    since = AFTER_GRACE.now - 40_000
    degraded = SourceReport(snapshot("degraded", since, "positions: HTTP 500"), AFTER_GRACE.now - 1_000)
    report = body(TRAIN_TRACKER, AFTER_GRACE, degraded)
    feed = report["feeds"]["source"]
    assert (feed["state"], feed["degraded"], feed["reason"]) == ("degraded", True, "positions: HTTP 500")
    assert feed["since"] == since // 1000 * 1000  # to the second, as the adapter wrote it
    assert report["status"] == "degraded" and report["degraded"] == ["source"]
    assert report["problems"] == ["source degraded: positions: HTTP 500"]


def test_a_feed_not_polled_yet_is_starting_in_the_grace_and_failed_after_it() -> None:
    early = body(TRAIN_TRACKER, IN_GRACE, SourceReport(None, None))
    assert early["feeds"]["source"]["state"] == "starting" and early["status"] == "starting"
    assert "source (CTA Train Tracker not polled yet)" in early["waiting_for"]
    late = body(TRAIN_TRACKER, AFTER_GRACE, SourceReport(None, None))["feeds"]["source"]
    assert (late["state"], late["since"]) == ("failed", AFTER_GRACE.grace_ends)
    assert late["reason"] == "no poll of CTA Train Tracker in the 180 s since the start"


def test_a_live_feed_whose_process_stopped_reporting_is_stale_but_a_finished_replay_is_not() -> None:
    long_ago = AFTER_GRACE.now - 400_000
    silent = SourceReport(snapshot("ok", STARTED), long_ago)
    stale = body(TRAIN_TRACKER, AFTER_GRACE, silent)["feeds"]["source"]
    # 15 s polls, 3 tries of 10 s and 3 s of backoff: 48 s, three times.
    assert (stale["state"], stale["since"], stale["stale_after_s"]) == ("stale", long_ago + 144_000, 144.0)
    replayed = body(REPLAY, AFTER_GRACE, SourceReport(snapshot("ok", STARTED), long_ago))
    assert replayed["feeds"]["source"]["state"] == "ok" and replayed["status"] == "ok"
    assert replayed["source"]["label"] == "CTA Train Tracker (replayed)"


def test_a_real_feeds_arrivals_are_expected_every_poll_and_a_replays_not_at_all() -> None:
    assert expected_interval_s(TRAIN_TRACKER, "arrivals") == TRAIN_TRACKER.cta_train_tracker_poll_s
    assert expected_interval_s(SIMULATION, "arrivals") == 6.0  # 60 simulated seconds at 10x
    assert expected_interval_s(REPLAY, "arrivals") is None
    old = Clock(AFTER_GRACE.now + 3_600_000, AFTER_GRACE.started_ms, AFTER_GRACE.grace_ms)
    ended = body(REPLAY, old, SourceReport(snapshot("ok", STARTED), STARTED), roles=())
    assert ended["feeds"]["arrivals"]["state"] == "stale"  # never had one: that is still a problem


def test_the_api_key_never_shows_on_healthz_even_if_an_adapter_wrote_it(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, source="cta-train-tracker", cta_train_tracker_key=KEY)
    leaky = FeedHealth("cta-train-tracker")
    leaky.report("positions", f"HTTP 403 for /ttpositions.aspx?key={KEY}")
    leaky.write(settings.feed_health_file)
    with TestClient(create_app(settings, start_consumer=False)) as client:
        response = client.get("/healthz")
        text = response.text
        for path in ("/api/state", "/gtfs-rt/alerts.pb?format=json"):
            text += client.get(path).text
    assert KEY not in text
    source = json.loads(response.text)["feeds"]["source"]
    assert source["state"] == "degraded" and source["reason"] == "positions: HTTP 403 for /ttpositions.aspx?key=***"
