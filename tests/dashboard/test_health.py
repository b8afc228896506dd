"""Whether data flows, feed by feed, and the work behind it: the pure rules of /healthz (health.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from transit_status.config import Settings, load_settings
from transit_status.dashboard.consumer import NOT_CONNECTED_YET, ConsumerStatus, TopicStatus
from transit_status.dashboard.cta.health import ChicagoInputs, SourceReport, chicago_health, feed_health
from transit_status.dashboard.cta.health import expected_interval_s as chicago_interval_s
from transit_status.dashboard.cta.state import TOPIC_ROLES
from transit_status.dashboard.health import Clock, health_report
from transit_status.dashboard.london.health import LondonInputs, london_feed_health, london_health
from transit_status.dashboard.london.health import expected_interval_s as london_interval_s
from transit_status.dashboard.london.series import SeriesStatus
from transit_status.dashboard.london.state import LONDON_TOPIC_ROLES
from transit_status.dashboard.state import Freshness
from transit_status.dashboard.work_monitor import WorkSnapshot

STARTED = 1_700_000_000_000
GRACE_S = 180.0
SETTINGS = load_settings(
    simulation_speed=10.0, flink_checkpoint_interval_s=2.0, health_stale_factor=3.0, health_start_grace_s=GRACE_S
)
IN_GRACE = Clock.of(SETTINGS, STARTED, STARTED + 30_000)
AFTER_GRACE = Clock.of(SETTINGS, STARTED, STARTED + 600_000)
OPENSEARCH_OK = SeriesStatus(last_ok_ms=STARTED + 1_000, error=None, error_since_ms=None, waiting_for=())


def consumer_status(roles: tuple[str, ...] = TOPIC_ROLES, **changes: object) -> ConsumerStatus:
    topics = {role: TopicStatus(role, f"topic.{role}", "live", 1, 0, "live", None) for role in roles}
    topics.update(changes.pop("topics", {}))  # type: ignore[call-overload]
    fields: dict[str, object] = {
        "running": True,
        "kafka_connected": True,
        "kafka_error": None,
        "kafka_down_since_ms": None,
        "registry_error": None,
        "registry_error_since_ms": None,
        "topics": topics,
        "records": {},
        "dead_letters": {},
        **changes,
    }
    return ConsumerStatus(**fields)  # type: ignore[arg-type]


def whole_report(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: dict[str, Freshness],
    clients: int,
    clock: Clock,
    london: LondonInputs,
    work: WorkSnapshot | None,
    source: SourceReport | None = None,
) -> tuple[int, dict]:  # type: ignore[type-arg]
    """/healthz as the app makes it: Chicago's part at the top, London's under ``london``."""
    chicago = chicago_health(settings, ChicagoInputs(status, freshness, source), clock)
    return health_report(settings, [chicago, london_health(settings, london, clock)], clients, clock, work)


def fresh(last_record_ms: int, roles: tuple[str, ...] = TOPIC_ROLES) -> dict[str, Freshness]:
    return {role: Freshness(10, last_record_ms, last_record_ms) for role in roles}


def states(feeds: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {feed: health.state for feed, health in feeds.items()}


# ---- expected intervals ---------------------------------------------------------------------------------


def test_expected_intervals_follow_the_simulation_speed_and_flinks_checkpoints() -> None:
    assert chicago_interval_s(SETTINGS, "arrivals") == 6.0  # a simulated minute at 10x
    assert chicago_interval_s(SETTINGS, "weather") == 360.0  # a simulated hour at 10x
    assert chicago_interval_s(SETTINGS, "turnstile_summary") == 8.0  # + the checkpoint that publishes it
    assert london_interval_s(SETTINGS, "station_windows") == 8.0
    assert chicago_interval_s(SETTINGS, "stations") is None  # reference data: quiet once loaded
    fast = SETTINGS.with_overrides(simulation_speed=6000.0)
    assert chicago_interval_s(fast, "arrivals") == 1.0  # never below a second


# ---- one feed's state from its data and a clock -----------------------------------------------------------


def test_a_feed_with_no_record_is_starting_within_the_grace_and_stale_after_it() -> None:
    starting = feed_health(SETTINGS, consumer_status(), {}, IN_GRACE)
    assert states(starting) == {
        "kafka": "ok",
        "registry": "ok",
        "stations": "starting",
        "arrivals": "starting",
        "turnstile_summary": "starting",
        "weather": "starting",
    }
    assert starting["arrivals"].reason == "no record yet" and not starting["arrivals"].degraded

    late = feed_health(SETTINGS, consumer_status(), {}, AFTER_GRACE)["arrivals"]
    assert (late.state, late.since) == ("stale", STARTED + int(GRACE_S * 1000))
    assert late.degraded and "no record in the 180 s since the start" in (late.reason or "")


def test_a_recent_record_is_ok_and_an_old_one_is_stale_since_its_interval_times_the_factor() -> None:
    now = STARTED + 100_000
    clock = Clock.of(SETTINGS, STARTED, now)
    assert feed_health(SETTINGS, consumer_status(), fresh(now - 17_000), clock)["arrivals"].state == "ok"

    last = now - 19_000
    arrivals = feed_health(SETTINGS, consumer_status(), fresh(last), clock)["arrivals"]
    assert (arrivals.state, arrivals.since, arrivals.stale_after_s) == ("stale", last + 18_000, 18.0)
    assert arrivals.last_record_at == last


def test_stations_and_weather_may_be_quiet_far_longer_than_trains() -> None:
    clock = Clock.of(SETTINGS, STARTED, STARTED + 600_000)
    feeds = feed_health(SETTINGS, consumer_status(), fresh(STARTED + 600_000 - 900_000), clock)
    assert states(feeds)["stations"] == "ok"  # loaded once: enough
    assert states(feeds)["weather"] == "ok"  # 15 real minutes < 3 simulated hours at 10x
    assert states(feeds)["arrivals"] == "stale"


def test_a_record_stamped_ahead_of_the_clock_does_not_keep_a_feed_fresh() -> None:
    now = STARTED + 100_000
    ahead = {"arrivals": Freshness(5, last_record_ms=now + 3_600_000, last_received_ms=now - 60_000)}
    arrivals = feed_health(SETTINGS, consumer_status(), ahead, Clock.of(SETTINGS, STARTED, now))["arrivals"]
    assert (arrivals.state, arrivals.last_record_at) == ("stale", now - 60_000)


def test_kafka_down_fails_every_feed_since_it_was_lost_while_the_last_state_is_kept() -> None:
    lost_at = STARTED + 20_000
    status = consumer_status(kafka_connected=False, kafka_error="Kafka unreachable", kafka_down_since_ms=lost_at)

    feeds = feed_health(SETTINGS, status, fresh(STARTED + 25_000), IN_GRACE)

    assert (feeds["kafka"].state, feeds["kafka"].since) == ("failed", lost_at)
    assert all(feeds[role].state == "failed" and feeds[role].since == lost_at for role in TOPIC_ROLES)
    assert all("last known state" in (feeds[role].reason or "") for role in TOPIC_ROLES)


def test_before_the_consumer_first_reaches_kafka_everything_is_starting_not_failed() -> None:
    for status in (
        None,
        consumer_status(running=False),
        consumer_status(kafka_connected=False, kafka_error=NOT_CONNECTED_YET, kafka_down_since_ms=STARTED),
    ):
        feeds = feed_health(SETTINGS, status, {}, IN_GRACE)
        assert feeds["kafka"].state == "starting" and not any(health.degraded for health in feeds.values())


def test_kafka_never_reached_is_failed_once_the_start_grace_is_over() -> None:
    for status in (
        None,
        consumer_status(running=False),
        consumer_status(kafka_connected=False, kafka_error=NOT_CONNECTED_YET, kafka_down_since_ms=STARTED),
    ):
        feeds = feed_health(SETTINGS, status, {}, AFTER_GRACE)
        assert (feeds["kafka"].state, feeds["kafka"].since) == ("failed", AFTER_GRACE.grace_ends)


def test_a_registry_outage_fails_the_avro_feeds_only() -> None:
    status = consumer_status(registry_error="registry unreachable", registry_error_since_ms=STARTED + 5_000)
    feeds = feed_health(SETTINGS, status, fresh(IN_GRACE.now), IN_GRACE)
    failed = {feed: health.since for feed, health in feeds.items() if health.state == "failed"}
    assert failed == {"registry": STARTED + 5_000, "arrivals": STARTED + 5_000, "weather": STARTED + 5_000}


def test_a_missing_topic_is_starting_within_the_grace_and_failed_after_it() -> None:
    missing = TopicStatus("weather", "topic.weather", "missing", 0, 0, "waiting", STARTED + 1_000)
    status = consumer_status(topics={"weather": missing})

    early = feed_health(SETTINGS, status, {}, IN_GRACE)["weather"]
    assert (early.state, early.reason) == ("starting", "topic topic.weather does not exist yet")

    late = feed_health(SETTINGS, status, {}, AFTER_GRACE)["weather"]
    assert (late.state, late.since, late.reason) == ("failed", STARTED + 1_000, "topic topic.weather does not exist")


def test_only_the_networks_that_run_count() -> None:
    london_only = SETTINGS.with_overrides(run_networks="london")
    chicago = feed_health(london_only, consumer_status(), {}, AFTER_GRACE)
    assert set(states(chicago).values()) == {"off"} and not any(h.degraded for h in chicago.values())

    chicago_only = SETTINGS.with_overrides(run_networks="cta")
    london = london_feed_health(chicago_only, None, {}, OPENSEARCH_OK, AFTER_GRACE)
    assert set(states(london).values()) == {"off"}


def test_opensearch_is_starting_until_it_answers_then_failed_with_its_error() -> None:
    london_status = consumer_status(LONDON_TOPIC_ROLES)
    unanswered = SeriesStatus(None, None, None, ())
    assert london_feed_health(SETTINGS, london_status, {}, unanswered, IN_GRACE)["opensearch"].state == "starting"
    late = london_feed_health(SETTINGS, london_status, {}, unanswered, AFTER_GRACE)["opensearch"]
    assert late.state == "failed" and late.reason == "OpenSearch has not answered yet"
    broken = SeriesStatus(STARTED, "ConnectionError", STARTED + 9_000, ())
    failed = london_feed_health(SETTINGS, london_status, {}, broken, IN_GRACE)["opensearch"]
    assert (failed.state, failed.since) == ("failed", STARTED + 9_000)
    assert failed.reason == "OpenSearch error: ConnectionError"


# ---- the whole report: feeds of both networks and the work -------------------------------------------------


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    state: str
    detail: str = ""


JOB = "transit-status.turnstile-summary"


def work(*items: Item, checked_at: int | None = STARTED + 1_000, **changes: object) -> WorkSnapshot:
    return WorkSnapshot(items, checked_at, **changes)  # type: ignore[arg-type]


def report(
    settings: Settings,
    clock: Clock,
    chicago: dict[str, Freshness],
    london: dict[str, Freshness],
    snapshot: WorkSnapshot | None,
) -> dict:  # type: ignore[type-arg]
    inputs = LondonInputs(consumer_status(LONDON_TOPIC_ROLES), london, OPENSEARCH_OK)
    code, body = whole_report(settings, consumer_status(), chicago, 2, clock, inputs, snapshot)
    assert code == 200  # the dashboard itself is ready whatever the data does
    return body


def test_status_is_starting_until_data_flows_and_says_what_it_waits_for() -> None:
    running = work(Item("job", JOB, "running"), Item("connector", "stations", "running"))
    body = report(SETTINGS, IN_GRACE, {}, {}, running)
    assert body["status"] == "starting" and body["problems"] == []
    assert "arrivals (no record yet)" in body["waiting_for"]
    assert "london station_activity (no record yet)" in body["waiting_for"]
    assert body["feeds"]["arrivals"] == {
        "state": "starting",
        "degraded": False,
        "since": None,
        "reason": "no record yet",
        "last_record_at": None,
        "stale_after_s": 18.0,
    }

    flowing = report(SETTINGS, IN_GRACE, fresh(IN_GRACE.now), fresh(IN_GRACE.now, LONDON_TOPIC_ROLES), running)
    assert (flowing["status"], flowing["waiting_for"], flowing["degraded"]) == ("ok", [], [])


def test_a_starting_job_keeps_it_starting_within_the_grace_and_degrades_it_after() -> None:
    starting = work(Item("job", JOB, "starting", "created, 0/2 tasks running"))
    now = IN_GRACE.now
    body = report(SETTINGS, IN_GRACE, fresh(now), fresh(now, LONDON_TOPIC_ROLES), starting)
    assert body["status"] == "starting"
    assert body["waiting_for"] == [f"job {JOB} (starting: created, 0/2 tasks running)"]

    now = AFTER_GRACE.now
    body = report(SETTINGS, AFTER_GRACE, fresh(now), fresh(now, LONDON_TOPIC_ROLES), starting)
    assert body["status"] == "degraded"
    assert body["problems"] == [f"job {JOB} (starting: created, 0/2 tasks running)"]
    assert body["work"]["items"][0] | {"since": None} == {
        "kind": "job",
        "name": JOB,
        "state": "starting",
        "detail": "created, 0/2 tasks running",
        "ok": False,
        "health": "failed",
        "since": None,
    }


@pytest.mark.parametrize("state", ["failed", "stalled"])
def test_a_failed_connector_or_stalled_group_degrades_health_at_once_with_its_reason(state: str) -> None:
    now = IN_GRACE.now
    broken = work(Item("connector", "stations", state, "task 0 failed: PSQLException"))
    body = report(SETTINGS, IN_GRACE, fresh(now), fresh(now, LONDON_TOPIC_ROLES), broken)
    assert body["status"] == "degraded"
    assert body["problems"] == [f"connector stations ({state}: task 0 failed: PSQLException)"]
    assert body["degraded"] == []  # the feeds themselves still flow


def test_work_not_inspected_yet_or_an_inspection_that_hangs_is_reported() -> None:
    now = AFTER_GRACE.now
    flowing = (fresh(now), fresh(now, LONDON_TOPIC_ROLES))
    never = report(
        SETTINGS, IN_GRACE, fresh(IN_GRACE.now), fresh(IN_GRACE.now, LONDON_TOPIC_ROLES), work(checked_at=None)
    )
    assert never["status"] == "starting" and never["waiting_for"] == ["work (not inspected yet)"]

    hanging = work(Item("job", JOB, "running"), refreshing_since_ms=now - 90_000)
    body = report(SETTINGS, AFTER_GRACE, *flowing, hanging)
    assert body["status"] == "degraded"
    assert body["problems"] == ["work inspection: the inspection has not returned for 90 s"]

    assert report(SETTINGS, AFTER_GRACE, *flowing, None)["status"] == "ok"  # a dashboard that does not inspect


def test_a_network_that_does_not_run_does_not_hold_up_the_status() -> None:
    chicago_only = SETTINGS.with_overrides(run_networks="cta")
    body = report(chicago_only, IN_GRACE, fresh(IN_GRACE.now), {}, None)  # London has no data at all
    assert body["status"] == "ok" and body["networks"] == ["cta"]
    assert body["london"]["status"] == "off"


def test_a_dashboard_that_runs_only_london_is_ready_on_londons_consumer_and_says_chicago_is_not_running() -> None:
    london_only = SETTINGS.with_overrides(run_networks="london")
    inputs = LondonInputs(consumer_status(LONDON_TOPIC_ROLES), fresh(IN_GRACE.now, LONDON_TOPIC_ROLES), OPENSEARCH_OK)
    # Chicago's consumer never starts in a London-only run (None): that is no reason to be unready.
    code, body = whole_report(london_only, None, {}, 0, IN_GRACE, inputs, None)
    assert code == 200 and body["reason"] is None, body
    assert body["kafka"]["connected"] is True
    assert body["not_running"] == "Chicago is not running: this run was started with --network london"
    assert body["london"]["running"] is True and body["london"]["not_running"] is None

    waiting = LondonInputs(None, {}, OPENSEARCH_OK)  # London's consumer not running yet: that is unready
    assert whole_report(london_only, None, {}, 0, IN_GRACE, waiting, None)[0] == 503


def test_the_london_section_of_a_chicago_only_run_says_london_is_not_running_rather_than_waiting() -> None:
    chicago_only = SETTINGS.with_overrides(run_networks="cta")
    unasked = SeriesStatus(None, None, None, ())  # OpenSearch never asked
    code, body = whole_report(
        chicago_only, consumer_status(), fresh(AFTER_GRACE.now), 0, AFTER_GRACE, LondonInputs(None, {}, unasked), None
    )
    assert code == 200 and body["status"] == "ok", body
    london = body["london"]
    assert london["status"] == "off" and london["running"] is False and london["reason"] is None
    assert london["not_running"] == "London is not running: this run was started with --network cta"
    assert london["degraded"] == [] and body["not_running"] is None
