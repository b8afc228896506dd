"""Which feed is degraded, why and since when: what /healthz and the page's status line say."""

from __future__ import annotations

from transit_status.config import load_settings
from transit_status.dashboard.consumer import ConsumerStatus, TopicStatus
from transit_status.dashboard.health import STALE_AFTER_S, feed_health, health_report
from transit_status.dashboard.state import TOPIC_ROLES, Freshness

NOW = 1_700_000_600_000


def consumer_status(**changes: object) -> ConsumerStatus:
    topics = {
        role: TopicStatus(role, f"topic.{role}", "live", 1, 0, "live", None)  # type: ignore[arg-type]
        for role in TOPIC_ROLES
    }
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


def fresh(last_record_ms: int) -> dict[str, Freshness]:
    return {role: Freshness(10, last_record_ms, last_record_ms) for role in TOPIC_ROLES}


def test_nothing_is_degraded_while_every_feed_is_live_and_recent() -> None:
    feeds = feed_health(consumer_status(), fresh(NOW - 1_000), NOW)
    assert not any(health.degraded for health in feeds.values())
    assert list(feeds) == ["kafka", "registry", "stations", "arrivals", "turnstile_summary", "weather"]


def test_kafka_down_degrades_every_topic_feed_since_it_was_lost_and_the_last_state_is_kept() -> None:
    lost_at = NOW - 42_000
    status = consumer_status(kafka_connected=False, kafka_error="Kafka unreachable", kafka_down_since_ms=lost_at)

    feeds = feed_health(status, fresh(NOW - 50_000), NOW)

    assert (feeds["kafka"].degraded, feeds["kafka"].since) == (True, lost_at)
    assert all(feeds[role].since == lost_at and "last known state" in feeds[role].reason for role in TOPIC_ROLES)
    assert not feeds["registry"].degraded


def test_a_registry_outage_degrades_the_avro_feeds_only() -> None:
    status = consumer_status(registry_error="registry unreachable", registry_error_since_ms=NOW - 5_000)

    degraded = {feed: health.since for feed, health in feed_health(status, fresh(NOW), NOW).items() if health.degraded}

    assert degraded == {"registry": NOW - 5_000, "arrivals": NOW - 5_000, "weather": NOW - 5_000}


def test_a_quiet_arrivals_feed_is_degraded_since_the_moment_it_went_stale() -> None:
    last = NOW - 300_000
    feeds = feed_health(consumer_status(), fresh(last), NOW)

    assert feeds["arrivals"].since == last + int(STALE_AFTER_S["arrivals"] * 1000)
    assert feeds["turnstile_summary"].since == last + int(STALE_AFTER_S["turnstile_summary"] * 1000)
    assert not feeds["stations"].degraded and not feeds["weather"].degraded  # quiet for hours is normal there


def test_a_missing_topic_is_degraded_since_it_was_found_missing() -> None:
    missing = TopicStatus("weather", "topic.weather", "missing", 0, 0, "waiting", NOW - 7_000)
    status = consumer_status(topics={"weather": missing})

    feeds = feed_health(status, fresh(NOW), NOW)

    assert (feeds["weather"].degraded, feeds["weather"].since) == (True, NOW - 7_000)
    assert "topic.weather does not exist" in (feeds["weather"].reason or "")


def test_healthz_lists_the_degraded_feeds_with_their_since_time_and_stays_ready() -> None:
    settings = load_settings()
    code, body = health_report(settings, consumer_status(), fresh(NOW - 300_000), clients=3, now=NOW)

    assert code == 200 and body["status"] == "degraded"
    assert body["degraded"] == ["arrivals", "turnstile_summary"]
    assert body["feeds"]["arrivals"] == {
        "degraded": True,
        "since": NOW - 300_000 + 60_000,
        "reason": "no new records for over 60 s",
    }
    assert body["feeds"]["kafka"] == {"degraded": False, "since": None, "reason": None}
