"""The Flink SQL jobs' outputs the pages read with consumers of their own, on /healthz (pure rules of
``cta/health.py`` and ``london/health.py``): the run times and headways, which every arrival makes, go
stale like the arrivals; the service and crowding alerts, quiet while service is healthy, are never
stale for being quiet, but fail with their topic or consumer, and Chicago's go stale with their job's
headways (the same job writes both)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.dashboard.test_health import (
    AFTER_GRACE,
    GRACE_S,
    IN_GRACE,
    LONDON_TOPIC_ROLES,
    OPENSEARCH_OK,
    SETTINGS,
    STARTED,
    consumer_status,
    fresh,
)
from transit_status.dashboard.app import create_app
from transit_status.dashboard.consumer import ConsumerStatus, TopicStatus
from transit_status.dashboard.cta.health import ChicagoInputs, JobOutputs, chicago_health, feed_health
from transit_status.dashboard.health import Clock, health_report
from transit_status.dashboard.london.health import LondonInputs, london_feed_health, london_health
from transit_status.dashboard.state import Freshness
from transit_status.platform.ports import isolated_settings

RUN_TIMES = ("run_times",)
SERVICE = ("headways", "service_alerts")


def outputs_status(roles: tuple[str, ...], last_ms: dict[str, int] | None = None, **changes: object) -> ConsumerStatus:
    """A job output consumer's status: its topics live, ``last_ms`` the newest record of each role it has read."""
    freshness = {role: Freshness(3, ms, ms) for role, ms in (last_ms or {}).items()}
    return consumer_status(roles, freshness=freshness, **changes)


def chicago_feeds(clock: Clock, run_times: ConsumerStatus | None, service: ConsumerStatus | None) -> dict:  # type: ignore[type-arg]
    outputs = JobOutputs(run_times, service)
    return feed_health(SETTINGS, consumer_status(), fresh(clock.now), clock, None, outputs)


def test_steady_outputs_are_ok_while_recent_and_stale_like_the_arrivals() -> None:
    now = AFTER_GRACE.now
    recent = {"run_times": now - 5_000, "headways": now - 5_000}
    feeds = chicago_feeds(AFTER_GRACE, outputs_status(RUN_TIMES, recent), outputs_status(SERVICE, recent))
    assert (feeds["run_times"].state, feeds["headways"].state, feeds["service_alerts"].state) == ("ok", "ok", "ok")
    assert feeds["headways"].stale_after_s == 24.0  # (a simulated minute at 10x + the checkpoint) x 3

    dead_job = {"run_times": now - 60_000, "headways": now - 60_000}
    feeds = chicago_feeds(AFTER_GRACE, outputs_status(RUN_TIMES, dead_job), outputs_status(SERVICE, dead_job))
    assert feeds["run_times"].state == "stale" and feeds["run_times"].since == now - 60_000 + 24_000
    assert feeds["headways"].state == "stale"
    # The alerts' job writes no headway while trains run: its quiet proves nothing, and says so.
    alerts = feeds["service_alerts"]
    assert (alerts.state, alerts.since) == ("stale", feeds["headways"].since)
    assert "cta-service-health job writes no headways" in (alerts.reason or "")


def test_alerts_quiet_since_the_start_are_ok_not_stale() -> None:
    recent = {"headways": AFTER_GRACE.now - 2_000}  # no alert record ever: service is healthy
    feeds = chicago_feeds(
        AFTER_GRACE, outputs_status(RUN_TIMES, {"run_times": AFTER_GRACE.now}), outputs_status(SERVICE, recent)
    )
    assert feeds["service_alerts"].state == "ok" and not feeds["service_alerts"].degraded

    london = london_feed_health(
        SETTINGS, consumer_status(LONDON_TOPIC_ROLES), {}, OPENSEARCH_OK, AFTER_GRACE,
        consumer_status(("crowding_alerts",)), alerts_read=True,
    )  # fmt: skip
    assert london["crowding_alerts"].state == "ok"


def test_an_output_with_no_record_is_starting_within_the_grace_and_stale_after_it() -> None:
    feeds = chicago_feeds(IN_GRACE, outputs_status(RUN_TIMES), outputs_status(SERVICE))
    assert {feeds[f].state for f in ("run_times", "headways", "service_alerts")} == {"starting", "ok"}
    assert feeds["run_times"].state == feeds["headways"].state == "starting"

    late = chicago_feeds(AFTER_GRACE, outputs_status(RUN_TIMES), outputs_status(SERVICE))
    assert late["headways"].state == "stale" and late["headways"].since == STARTED + int(GRACE_S * 1000)
    assert late["service_alerts"].state == "stale"  # its job never wrote a headway either


def test_a_missing_alerts_topic_is_failed_after_the_grace_with_its_name() -> None:
    missing = TopicStatus("service_alerts", "cta.alerts", "missing", 0, 0, "waiting", STARTED + 1_000)
    service = outputs_status(SERVICE, {"headways": IN_GRACE.now}, topics={"service_alerts": missing})
    early = chicago_feeds(IN_GRACE, outputs_status(RUN_TIMES), service)["service_alerts"]
    assert (early.state, early.reason) == ("starting", "topic cta.alerts does not exist yet")
    service = outputs_status(SERVICE, {"headways": AFTER_GRACE.now}, topics={"service_alerts": missing})
    late = chicago_feeds(AFTER_GRACE, outputs_status(RUN_TIMES), service)["service_alerts"]
    assert (late.state, late.since, late.reason) == ("failed", STARTED + 1_000, "topic cta.alerts does not exist")

    crowding = TopicStatus("crowding_alerts", "london.crowding", "missing", 0, 0, "waiting", STARTED + 2_000)
    london = london_feed_health(
        SETTINGS, consumer_status(LONDON_TOPIC_ROLES), {}, OPENSEARCH_OK, AFTER_GRACE,
        consumer_status(("crowding_alerts",), topics={"crowding_alerts": crowding}), alerts_read=True,
    )  # fmt: skip
    assert (london["crowding_alerts"].state, london["crowding_alerts"].reason) == (
        "failed",
        "topic london.crowding does not exist",
    )


def test_a_consumer_that_never_ran_or_lost_kafka_fails_its_outputs() -> None:
    feeds = chicago_feeds(AFTER_GRACE, None, outputs_status(SERVICE, running=False))
    assert feeds["run_times"].state == "failed" and "run-times consumer is not running" in (
        feeds["run_times"].reason or ""
    )
    assert feeds["service_alerts"].state == "failed" and feeds["headways"].state == "failed"

    lost = outputs_status(
        RUN_TIMES, {"run_times": AFTER_GRACE.now}, kafka_connected=False, kafka_error="all brokers down",
        kafka_down_since_ms=STARTED + 7_000,
    )  # fmt: skip
    run_times = chicago_feeds(AFTER_GRACE, lost, outputs_status(SERVICE))["run_times"]
    assert (run_times.state, run_times.since) == ("failed", STARTED + 7_000)
    assert "all brokers down" in (run_times.reason or "")


def test_the_report_counts_the_outputs_and_words_the_quiet_topics() -> None:
    now = AFTER_GRACE.now
    outputs = JobOutputs(
        outputs_status(RUN_TIMES, {"run_times": now}), outputs_status(SERVICE, {"headways": now - 60_000})
    )
    chicago = chicago_health(SETTINGS, ChicagoInputs(consumer_status(), fresh(now), None, outputs), AFTER_GRACE)
    alerts = consumer_status(("crowding_alerts",))
    london_inputs = LondonInputs(
        consumer_status(LONDON_TOPIC_ROLES), fresh(now, LONDON_TOPIC_ROLES), OPENSEARCH_OK, alerts, True
    )
    london = london_health(SETTINGS, london_inputs, AFTER_GRACE)
    code, body = health_report(SETTINGS, [chicago, london], 0, AFTER_GRACE, None)

    assert code == 200 and body["status"] == "degraded"
    assert body["degraded"] == ["headways", "service_alerts"]
    assert any(problem.startswith("headways stale: no new record for over 24 s") for problem in body["problems"])
    assert body["topics"]["service_alerts"]["waiting"] is False
    assert body["topics"]["service_alerts"]["text"].startswith("no alert yet")
    assert body["london"]["feeds"]["crowding_alerts"]["state"] == "ok"
    assert body["london"]["topics"]["crowding_alerts"]["text"].startswith("no alert yet")


def test_the_app_reports_every_consumer_of_both_pages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = isolated_settings(tmp_path, simulation_speed=10.0)
    with TestClient(create_app(settings, start_consumer=False)) as client:
        body = client.get("/healthz").json()
    assert {"run_times", "headways", "service_alerts"} <= set(body["feeds"])
    assert "crowding_alerts" in body["london"]["feeds"]
    assert body["topics"]["headways"]["topic"] == settings.topic_cta_headways
