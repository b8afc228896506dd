"""London's part of /healthz: its feeds judged by the shared rules (``dashboard/health.py``).

Kafka, the topics of Flink SQL's London job (station and line activity, station windows), OpenSearch
(the charts' source) and the crowding alerts, read by a consumer of their own. The alerts are quiet
while no station is far above its typical day, so they are judged by their topic and consumer, never by
the age of their newest record (the crowding job's running is the work's to show).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from transit_status.config import Settings
from transit_status.dashboard.consumer import ConsumerStatus
from transit_status.dashboard.health import (
    KAFKA_DOWN,
    Clock,
    Failure,
    FeedHealth,
    NetworkHealth,
    consumer_failure,
    kafka_health,
    loading,
    not_running,
    off,
    quiet_feed,
    readiness,
    runs,
    section_status,
    simulated_interval_s,
    topic_feed,
    topics_view,
)
from transit_status.dashboard.london.consumer import LondonConsumer
from transit_status.dashboard.london.series import SeriesStatus
from transit_status.dashboard.london.state import LONDON_TOPIC_ROLES
from transit_status.dashboard.state import Freshness

LondonFeed = Literal["kafka", "station_activity", "line_activity", "station_windows", "opensearch", "crowding_alerts"]
LONDON_FEEDS: tuple[LondonFeed, ...] = ("kafka", *LONDON_TOPIC_ROLES, "opensearch", "crowding_alerts")
SIMULATED_INTERVAL_S: dict[str, float] = {
    "station_activity": 60.0,
    "line_activity": 60.0,
    "station_windows": 60.0,  # 1-minute windows close every simulated minute while barriers tap
}
"""Longest usual gap between records of each feed, in simulated seconds (all three are Flink's
exactly-once outputs). London's barriers are closed on weekday nights 02:00-04:00 (simulated), so
London's feeds do go stale then."""
QUIET = {"crowding_alerts": "no alert yet: quiet while no station is far above its typical day"}


def expected_interval_s(settings: Settings, role: str) -> float | None:
    """Real seconds within which a feed's next record is expected; None: no rate expected."""
    simulated = SIMULATED_INTERVAL_S.get(role)
    return None if simulated is None else simulated_interval_s(settings, simulated, flink_output=True)


@dataclass(frozen=True, slots=True)
class LondonInputs:
    """What London's health is judged from: its consumer, its state's freshness, OpenSearch's series, and
    the crowding alerts' consumer (None: left out)."""

    status: ConsumerStatus | None
    freshness: Mapping[str, Freshness]
    series: SeriesStatus
    alerts: ConsumerStatus | None = None
    alerts_read: bool = False
    """Whether this dashboard reads the crowding alerts (False: the feed is left out)."""


def london_feed_health(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: Mapping[str, Freshness],
    series: SeriesStatus,
    clock: Clock,
    alerts: ConsumerStatus | None = None,
    alerts_read: bool = False,
) -> dict[LondonFeed, FeedHealth]:
    """London's feeds: its Kafka consumer's topics, OpenSearch (the charts' source) and, when read, the
    crowding alerts."""
    if not runs(settings, "london"):
        left_out = off("London", settings)
        return {feed: left_out for feed in LONDON_FEEDS}
    kafka = kafka_health(status, clock)
    feeds: dict[LondonFeed, FeedHealth] = {"kafka": kafka}
    for role in LONDON_TOPIC_ROLES:
        upstream = Failure(kafka.since, KAFKA_DOWN) if kafka.state == "failed" else None
        fresh = freshness.get(role, Freshness())
        feeds[role] = topic_feed(settings, role, expected_interval_s(settings, role), status, fresh, clock, upstream)  # type: ignore[index]
    feeds["opensearch"] = opensearch_health(settings, series, clock)
    if alerts_read:
        upstream = (
            Failure(kafka.since, KAFKA_DOWN)
            if kafka.state == "failed"
            else consumer_failure("crowding-alerts", alerts, clock)
        )
        fresh = alerts.freshness.get("crowding_alerts", Freshness()) if alerts is not None else Freshness()
        feeds["crowding_alerts"] = quiet_feed("crowding_alerts", alerts, fresh, clock, upstream)
    return feeds


def opensearch_health(settings: Settings, series: SeriesStatus, clock: Clock) -> FeedHealth:
    if series.error is not None:
        return FeedHealth("failed", series.error_since_ms, f"OpenSearch error: {series.error}")
    waiting = ", ".join(series.waiting_for)
    if series.last_ok_ms is not None and not waiting:
        return FeedHealth("ok", last_record_at=series.last_ok_ms)
    what = f"data stream {waiting} not created yet" if waiting else "OpenSearch has not answered yet"
    if clock.in_grace:
        return FeedHealth("starting", reason=what, last_record_at=series.last_ok_ms)
    return FeedHealth("failed", clock.grace_ends, what, series.last_ok_ms)


def london_health(settings: Settings, inputs: LondonInputs, clock: Clock) -> NetworkHealth:
    """London's feeds and its part of the body (``london`` in /healthz, and the London page's health)."""
    status, freshness, series = inputs.status, inputs.freshness, inputs.series
    feeds = london_feed_health(settings, status, freshness, series, clock, inputs.alerts, inputs.alerts_read)
    running = runs(settings, "london")
    reason = readiness(status) if running else None  # not running is not "not ready": the page says it is off
    if reason is None and status is not None:
        reason = loading(status)
    streams = (settings.opensearch_entries_stream, settings.opensearch_exits_stream)
    topics = topics_view(LondonConsumer.topic_roles(settings), status, freshness, clock.now)
    if inputs.alerts_read:
        alerts = inputs.alerts
        alerts_freshness = alerts.freshness if alerts is not None else {}
        roles = {settings.topic_london_crowding_alerts: "crowding_alerts"}
        topics.update(topics_view(roles, alerts, alerts_freshness, clock.now, QUIET))
    section: dict[str, Any] = {
        "status": section_status(feeds),
        "running": running,
        "not_running": None if running else not_running("London", settings),
        "reason": reason,
        "degraded": [feed for feed, health in feeds.items() if health.degraded],
        "feeds": {feed: health.as_json() for feed, health in feeds.items()},
        "topics": topics,
        "opensearch": {
            "url": settings.opensearch_url,
            "data_streams": list(streams),
            "waiting_for": list(series.waiting_for),
            "last_ok_at": series.last_ok_ms,
            "error": series.error,
        },
    }
    return NetworkHealth("london", running, status, feeds, section, label="london ")
