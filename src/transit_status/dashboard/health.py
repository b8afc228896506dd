"""What /healthz, the status frames and the page say about the dashboard's inputs.

Two views of the same facts:

* **Readiness** (the HTTP status): 200 once the consumer runs, Kafka answers and every existing topic
  is loaded; 503 with a reason before. Missing topics are 'waiting' and do not make it unready.
* **Feeds** (``feeds`` and ``degraded``): for Kafka, the schema registry and each input topic, whether
  it is degraded, why, and since when. A degraded feed never empties the page: the state keeps what
  it last knew, and the page says how old that is.

``feed_health`` is pure (consumer status, freshness and a clock in), so its rules are unit-tested.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from transit_status.config import Settings
from transit_status.dashboard.consumer import ConsumerStatus
from transit_status.dashboard.state import TOPIC_ROLES, Freshness, TopicRole

Feed = Literal["kafka", "registry", "stations", "arrivals", "turnstile_summary", "weather"]
FEEDS: tuple[Feed, ...] = ("kafka", "registry", *TOPIC_ROLES)
AVRO_ROLES: frozenset[TopicRole] = frozenset({"arrivals", "weather"})
STALE_AFTER_S: dict[TopicRole, float] = {"arrivals": 60.0, "turnstile_summary": 120.0}
"""Feeds that are never quiet for long while the pipeline runs; stations and weather may well be."""


@dataclass(frozen=True, slots=True)
class FeedHealth:
    degraded: bool
    since: int | None = None
    """Epoch ms when the feed became degraded (None while it is not)."""
    reason: str | None = None

    @classmethod
    def ok(cls) -> FeedHealth:
        return cls(False)


def feed_health(status: ConsumerStatus | None, freshness: dict[str, Freshness], now: int) -> dict[Feed, FeedHealth]:
    """Per feed: degraded or not, since when and why (the first cause that applies)."""
    if status is None or not status.running:
        return {feed: FeedHealth.ok() for feed in FEEDS}  # starting (or no consumer at all): nothing to blame yet
    kafka = (
        FeedHealth(True, status.kafka_down_since_ms, status.kafka_error or "Kafka unreachable")
        if not status.kafka_connected
        else FeedHealth.ok()
    )
    registry = (
        FeedHealth(True, status.registry_error_since_ms, status.registry_error)
        if status.registry_error
        else FeedHealth.ok()
    )
    feeds: dict[Feed, FeedHealth] = {"kafka": kafka, "registry": registry}
    for role in TOPIC_ROLES:
        feeds[role] = _topic_health(role, status, freshness.get(role, Freshness()), kafka, registry, now)
    return feeds


def _topic_health(
    role: TopicRole,
    status: ConsumerStatus,
    fresh: Freshness,
    kafka: FeedHealth,
    registry: FeedHealth,
    now: int,
) -> FeedHealth:
    if kafka.degraded:
        return FeedHealth(True, kafka.since, "no data while Kafka is down: showing the last known state")
    if registry.degraded and role in AVRO_ROLES:
        return FeedHealth(True, registry.since, "schema registry unreachable: records wait to be decoded")
    topic = status.topics.get(role)
    if topic is not None and topic.state == "missing" and topic.missing_since_ms is not None:
        return FeedHealth(True, topic.missing_since_ms, f"topic {topic.topic} does not exist")
    stale_after_s = STALE_AFTER_S.get(role)
    last = fresh.last_record_ms or fresh.last_received_ms
    if stale_after_s is not None and last is not None and topic is not None and topic.state == "live":
        stale_since = last + int(stale_after_s * 1000)
        if now >= stale_since:
            return FeedHealth(True, stale_since, f"no new records for over {stale_after_s:.0f} s")
    return FeedHealth.ok()


def health_report(
    settings: Settings, status: ConsumerStatus | None, freshness: dict[str, Freshness], clients: int, now: int
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz, also pushed to every page once a second."""
    reason: str | None = None
    if status is None or not status.running:
        reason = "starting: the Kafka consumer is not running yet"
    elif not status.kafka_connected:
        reason = f"{status.kafka_error or 'Kafka unreachable'}; retrying"
    elif status.registry_error:  # Avro topics cannot load without it: the more useful reason
        reason = f"{status.registry_error} ({settings.schema_registry_url}); retrying"
    elif loading := [t for t in status.topics.values() if t.state in ("loading", "unknown")]:
        reason = "starting: " + "; ".join(t.detail for t in loading)
    feeds = feed_health(status, freshness, now)
    degraded = [feed for feed, health in feeds.items() if health.degraded]
    body: dict[str, Any] = {
        "status": "unavailable" if reason is not None else "degraded" if degraded else "ok",
        "reason": reason,
        "degraded": degraded,
        "feeds": {feed: asdict(health) for feed, health in feeds.items()},
        "kafka": {
            "bootstrap_servers": settings.bootstrap_servers,
            "connected": bool(status and status.kafka_connected),
            "error": status.kafka_error if status else None,
        },
        "schema_registry": {"url": settings.schema_registry_url, "error": status.registry_error if status else None},
        "topics": _topics_view(settings, status, freshness, now),
        "dead_letters": {"topic": settings.topic_dead_letters, "by_input": status.dead_letters if status else {}},
        "websocket_clients": clients,
    }
    return (200 if reason is None else 503), body


def _topics_view(
    settings: Settings, status: ConsumerStatus | None, freshness: dict[str, Freshness], now: int
) -> dict[str, dict[str, Any]]:
    names = {
        "stations": settings.topic_stations,
        "arrivals": settings.topic_arrivals,
        "turnstile_summary": settings.topic_turnstile_summary,
        "weather": settings.topic_weather,
    }
    view = {}
    for role in TOPIC_ROLES:
        topic_status = status.topics.get(role) if status else None
        fresh = freshness.get(role, Freshness())
        last = fresh.last_record_ms or fresh.last_received_ms
        state = topic_status.state if topic_status else "unknown"
        if fresh.records == 0:
            text = "waiting for data" + (f" (topic {names[role]} does not exist yet)" if state == "missing" else "")
        else:
            text = "live" if state == "live" else (topic_status.detail if topic_status else state)
        view[role] = {
            "topic": names[role],
            "state": state,
            "waiting": fresh.records == 0,
            "text": text,
            "records": fresh.records,
            "partitions": topic_status.partitions if topic_status else 0,
            "last_record_at": last,
            "age_s": round(max(now - last, 0) / 1000.0, 1) if last is not None else None,
        }
    return view
