"""What /healthz, the status frames and the page say about the dashboard's inputs.

Two views of the same facts:

* **Readiness** (the HTTP status): 200 once the consumer runs, Kafka answers and every existing topic
  is loaded; 503 with a reason before. Missing topics are 'waiting' and do not make it unready.
* **Feeds** (``feeds`` and ``degraded``): for Kafka, the schema registry and each input topic, whether
  it is degraded, why, and since when. A degraded feed never empties the page: the state keeps what
  it last knew, and the page says how old that is.

``feed_health`` is pure (consumer status, freshness and a clock in), so its rules are unit-tested.

London's feeds (its Kafka consumer's topics and OpenSearch) are reported the same way under
``london`` (:func:`london_health`); they never make the dashboard unready, since London is a second
network a run may leave out, but they are degraded when they fail, as Chicago's are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from transit_status.config import Settings
from transit_status.dashboard.consumer import ConsumerStatus, DashboardConsumer, LondonConsumer
from transit_status.dashboard.london_series import SeriesStatus
from transit_status.dashboard.london_state import LONDON_TOPIC_ROLES
from transit_status.dashboard.state import TOPIC_ROLES, Freshness

Feed = Literal["kafka", "registry", "stations", "arrivals", "turnstile_summary", "weather"]
FEEDS: tuple[Feed, ...] = ("kafka", "registry", *TOPIC_ROLES)
LondonFeed = Literal["kafka", "station_activity", "line_activity", "station_windows", "opensearch"]
LONDON_FEEDS: tuple[LondonFeed, ...] = ("kafka", *LONDON_TOPIC_ROLES, "opensearch")
AVRO_ROLES: frozenset[str] = frozenset({"arrivals", "weather"})
STALE_AFTER_S: dict[str, float] = {
    "arrivals": 60.0,
    "turnstile_summary": 120.0,
    "station_activity": 120.0,
    "line_activity": 120.0,
    "station_windows": 180.0,  # 1-minute windows close every minute while barriers run
}
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
    kafka = _kafka_health(status)
    registry = (
        FeedHealth(True, status.registry_error_since_ms, status.registry_error)
        if status.registry_error
        else FeedHealth.ok()
    )
    feeds: dict[Feed, FeedHealth] = {"kafka": kafka, "registry": registry}
    for role in TOPIC_ROLES:
        feeds[role] = _topic_health(role, status, freshness.get(role, Freshness()), kafka, registry, now)
    return feeds


def _kafka_health(status: ConsumerStatus) -> FeedHealth:
    if status.kafka_connected:
        return FeedHealth.ok()
    return FeedHealth(True, status.kafka_down_since_ms, status.kafka_error or "Kafka unreachable")


def _topic_health(
    role: str,
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


def _readiness(status: ConsumerStatus | None) -> str | None:
    """Why the consumer's state is not ready yet (None: it is)."""
    if status is None or not status.running:
        return "starting: the Kafka consumer is not running yet"
    if not status.kafka_connected:
        return f"{status.kafka_error or 'Kafka unreachable'}; retrying"
    return None


def _loading(status: ConsumerStatus) -> str | None:
    loading = [t for t in status.topics.values() if t.state in ("loading", "unknown")]
    return "starting: " + "; ".join(t.detail for t in loading) if loading else None


def health_report(
    settings: Settings, status: ConsumerStatus | None, freshness: dict[str, Freshness], clients: int, now: int
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz, also pushed to every page once a second."""
    reason = _readiness(status)
    if reason is None and status is not None:
        if status.registry_error:  # Avro topics cannot load without it: the more useful reason
            reason = f"{status.registry_error} ({settings.schema_registry_url}); retrying"
        else:
            reason = _loading(status)
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
        "topics": _topics_view(DashboardConsumer.topic_roles(settings), status, freshness, now),
        "dead_letters": {"topic": settings.topic_dead_letters, "by_input": status.dead_letters if status else {}},
        "websocket_clients": clients,
    }
    return (200 if reason is None else 503), body


def london_health(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: dict[str, Freshness],
    series: SeriesStatus,
    now: int,
) -> dict[str, Any]:
    """London's part of /healthz: its Kafka topics and OpenSearch, each degraded or not, since when and why."""
    reason = _readiness(status)
    feeds: dict[LondonFeed, FeedHealth] = {feed: FeedHealth.ok() for feed in LONDON_FEEDS}
    if status is not None and status.running:
        kafka = feeds["kafka"] = _kafka_health(status)
        for role in LONDON_TOPIC_ROLES:
            fresh = freshness.get(role, Freshness())
            feeds[role] = _topic_health(role, status, fresh, kafka, FeedHealth.ok(), now)
        reason = reason or _loading(status)
    if series.error is not None:
        feeds["opensearch"] = FeedHealth(True, series.error_since_ms, series.error)
    degraded = [feed for feed, health in feeds.items() if health.degraded]
    streams = (settings.opensearch_entries_stream, settings.opensearch_exits_stream)
    return {
        "status": "unavailable" if reason is not None else "degraded" if degraded else "ok",
        "reason": reason,
        "degraded": degraded,
        "feeds": {feed: asdict(health) for feed, health in feeds.items()},
        "topics": _topics_view(LondonConsumer.topic_roles(settings), status, freshness, now),
        "opensearch": {
            "url": settings.opensearch_url,
            "data_streams": list(streams),
            "waiting_for": list(series.waiting_for),
            "last_ok_at": series.last_ok_ms,
            "error": series.error,
        },
    }


def _topics_view(
    topic_roles: dict[str, str], status: ConsumerStatus | None, freshness: dict[str, Freshness], now: int
) -> dict[str, dict[str, Any]]:
    names = {role: topic for topic, role in topic_roles.items()}
    view = {}
    for role in names:
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
