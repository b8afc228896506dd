"""Chicago's part of /healthz: its feeds judged by the shared rules (``dashboard/health.py``).

* ``kafka``, ``registry`` and the page's input topics (stations, arrivals, turnstile summaries, weather),
  read by the page's consumer; a real source adds ``source`` (its adapter's health) and has no
  turnstiles or weather (``off``, said so);
* the outputs of Chicago's Flink SQL jobs the page reads with consumers of their own: ``run_times``
  (the predictions' learned run times) and ``headways`` (service health) are steady while trains run:
  every arrival makes one, so they go stale like the arrivals; ``service_alerts`` is quiet while service
  is healthy, so it is judged by its topic, and by its job's headways: when they are stale the job is
  not running, and the alerts' quiet proves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from transit_status.config import Settings
from transit_status.dashboard.consumer import ConsumerStatus
from transit_status.dashboard.cta.consumer import ChicagoConsumer
from transit_status.dashboard.cta.state import TOPIC_ROLES
from transit_status.dashboard.health import (
    KAFKA_DOWN,
    Clock,
    Failure,
    FeedHealth,
    NetworkHealth,
    consumer_failure,
    kafka_health,
    not_running,
    off,
    quiet_feed,
    runs,
    simulated_interval_s,
    topic_feed,
    topics_view,
)
from transit_status.dashboard.state import Freshness

Feed = Literal[
    "kafka",
    "registry",
    "stations",
    "arrivals",
    "turnstile_summary",
    "weather",
    "source",
    "run_times",
    "headways",
    "service_alerts",
]
OUTPUT_FEEDS: tuple[Feed, ...] = ("run_times", "headways", "service_alerts")
"""The Flink SQL jobs' outputs the page reads with consumers of their own (predictions, service health)."""
FEEDS: tuple[Feed, ...] = ("kafka", "registry", *TOPIC_ROLES, *OUTPUT_FEEDS)
"""Chicago's feeds with every source; a real source adds ``source`` (its adapter's health)."""
SIMULATION_ONLY: frozenset[str] = frozenset({"turnstile_summary", "weather"})
"""What only the simulation makes: a real feed has no turnstile entries and no weather."""
SOURCE_LABELS = {"simulation": "the simulation", "cta-train-tracker": "CTA Train Tracker", "gtfs-rt": "GTFS-realtime"}
AVRO_ROLES: frozenset[str] = frozenset({"arrivals", "weather"})
SIMULATED_INTERVAL_S: dict[str, float] = {
    "arrivals": 60.0,  # 132 trains (owl service included): an arrival somewhere every simulated minute
    "turnstile_summary": 60.0,  # entries at some station every simulated minute, even at night
    "weather": 3600.0,  # one reading per simulated hour
}
"""Longest usual gap between records of each feed, in simulated seconds. Stations are reference
data: once loaded, quiet is normal."""
FLINK_OUTPUTS: frozenset[str] = frozenset({"turnstile_summary", "run_times", "headways"})
"""Exactly-once outputs: a record becomes visible only at the checkpoint after it."""
FROM_ARRIVALS: frozenset[str] = frozenset({"run_times", "headways"})
"""Outputs made from every arrival: expected as often as the arrivals (plus the checkpoint)."""
QUIET = {"service_alerts": "no alert yet: quiet while every line runs to its headway"}


def expected_interval_s(settings: Settings, role: str) -> float | None:
    """Real seconds within which a feed's next record is expected; None: no rate expected."""
    if role in FROM_ARRIVALS:
        arrivals = expected_interval_s(settings, "arrivals")
        return None if arrivals is None else arrivals + settings.flink_checkpoint_interval_s
    if role == "arrivals" and not settings.simulated_source:
        # A real feed's arrivals come with its polls (a whole network has trains arriving between any
        # two); a replay has no rate: it ends.
        return None if settings.replay_dir is not None else source_poll_s(settings)
    simulated = SIMULATED_INTERVAL_S.get(role)
    if simulated is None:
        return None
    return simulated_interval_s(settings, simulated, role in FLINK_OUTPUTS)


@dataclass(frozen=True, slots=True)
class JobOutputs:
    """The consumers of Chicago's job outputs: the run times (predictions) and service health's topics."""

    run_times: ConsumerStatus | None
    service: ConsumerStatus | None


def feed_health(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: Mapping[str, Freshness],
    clock: Clock,
    source: SourceReport | None = None,
    outputs: JobOutputs | None = None,
) -> dict[Feed, FeedHealth]:
    """Chicago's feeds: Kafka, the schema registry, each input topic, for a real source its adapter
    (``source``: what it last reported), and the jobs' outputs (``outputs``: None leaves them out)."""
    if not runs(settings, "cta"):
        left_out = off("Chicago", settings)
        return {feed: left_out for feed in FEEDS}
    kafka = kafka_health(status, clock)
    registry = (
        FeedHealth("failed", status.registry_error_since_ms, status.registry_error)
        if status is not None and status.registry_error
        else FeedHealth("ok")
    )
    feeds: dict[Feed, FeedHealth] = {"kafka": kafka, "registry": registry}
    for role in TOPIC_ROLES:
        upstream = None
        if kafka.state == "failed":
            upstream = Failure(kafka.since, KAFKA_DOWN)
        elif registry.state == "failed" and role in AVRO_ROLES:
            upstream = Failure(registry.since, "schema registry unreachable: records wait to be decoded")
        fresh = freshness.get(role, Freshness())
        feeds[role] = topic_feed(settings, role, expected_interval_s(settings, role), status, fresh, clock, upstream)  # type: ignore[index]
    if not settings.simulated_source:
        for role in SIMULATION_ONLY:
            feeds[role] = FeedHealth("off", reason=no_simulated_data(settings, source, role))  # type: ignore[index]
        feeds["source"] = source_health(settings, source, clock)
    if outputs is not None:
        feeds.update(output_health(settings, kafka, outputs, clock))
    return feeds


def output_health(settings: Settings, kafka: FeedHealth, outputs: JobOutputs, clock: Clock) -> dict[Feed, FeedHealth]:
    """The jobs' outputs, each from the consumer that reads it: the steady ones go stale like the
    arrivals; the alerts fail with their topic or consumer, and go stale with their job's headways."""

    def upstream(what: str, status: ConsumerStatus | None) -> Failure | None:
        return Failure(kafka.since, KAFKA_DOWN) if kafka.state == "failed" else consumer_failure(what, status, clock)

    feeds: dict[Feed, FeedHealth] = {}
    for role, status, what in (
        ("run_times", outputs.run_times, "run-times"),
        ("headways", outputs.service, "service-health"),
    ):
        interval = expected_interval_s(settings, role)
        failure = upstream(what, status)
        feeds[role] = topic_feed(settings, role, interval, status, _fresh(status, role), clock, failure)  # type: ignore[index]
    service = outputs.service
    alerts = quiet_feed(
        "service_alerts", service, _fresh(service, "service_alerts"), clock, upstream("service-health", service)
    )
    headways = feeds["headways"]
    if alerts.state == "ok" and headways.state == "stale":
        # The job writes both: no headway while trains run means no alert could be written either.
        reason = f"the cta-service-health job writes no headways ({headways.reason}): alerts may be missing"
        alerts = FeedHealth("stale", headways.since, reason, alerts.last_record_at)
    feeds["service_alerts"] = alerts
    return feeds


def _fresh(status: ConsumerStatus | None, role: str) -> Freshness:
    return status.freshness.get(role, Freshness()) if status is not None else Freshness()


# ---- a real source: its adapter's own health (feeds/health.py) -----------------------------------------


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What a real feed's process last wrote to ``settings.feed_health_file``, and when (epoch ms)."""

    snapshot: Mapping[str, Any] | None
    written_ms: int | None


def source_poll_s(settings: Settings) -> float | None:
    """The live source's poll interval (None: the simulation, or a replay, which has no rate)."""
    if settings.source == "cta-train-tracker":
        return settings.cta_train_tracker_poll_s
    if settings.source == "gtfs-rt":
        return settings.gtfs_rt_poll_s
    return None


def source_report_interval_s(settings: Settings) -> float | None:
    """Longest usual gap between two reports of a live feed: a poll whose every try timed out, with the
    backoff between them (1, 2, 4 ... s)."""
    poll = source_poll_s(settings)
    if poll is None:
        return None
    attempts = settings.feed_retry_attempts
    return poll + attempts * settings.feed_timeout_s + (2 ** (attempts - 1) - 1)


def source_kind(settings: Settings, report: SourceReport | None) -> str:
    """simulation, cta-train-tracker or gtfs-rt (a replay: the kind it recorded, once its adapter said)."""
    if settings.replay_dir is None:
        return settings.source
    recorded = report.snapshot.get("source") if report is not None and report.snapshot else None
    return str(recorded) if recorded in SOURCE_LABELS else "replay"


def source_label(settings: Settings, report: SourceReport | None) -> str:
    kind = source_kind(settings, report)
    label = SOURCE_LABELS.get(kind, "a recorded feed")
    return f"{label} (replayed)" if settings.replay_dir is not None else label


def no_simulated_data(settings: Settings, report: SourceReport | None, role: str) -> str:
    what = "turnstile entries" if role == "turnstile_summary" else "weather"
    return f"not in this feed: {source_label(settings, report)} has no {what}"


def _epoch_ms(text: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(text)).timestamp() * 1000) if text else None
    except ValueError:
        return None


def source_health(settings: Settings, report: SourceReport | None, clock: Clock) -> FeedHealth:
    """The real feed as its adapter reported it: ok, or degraded with its reason and since when; stale
    when a live feed's process has stopped reporting; starting until its first poll."""
    snapshot = report.snapshot if report is not None else None
    label = source_label(settings, report)
    if snapshot is None or snapshot.get("state") not in ("ok", "degraded"):
        if clock.in_grace:
            return FeedHealth("starting", reason=f"{label} not polled yet")
        grace_s = clock.grace_ms / 1000
        return FeedHealth("failed", clock.grace_ends, f"no poll of {label} in the {grace_s:.0f} s since the start")
    last_ok = _epoch_ms(snapshot.get("last_ok"))
    interval = source_report_interval_s(settings)
    stale_after = interval * settings.health_stale_factor if interval is not None else None
    written = report.written_ms if report is not None else None
    if stale_after is not None and written is not None and clock.now >= written + int(stale_after * 1000):
        reason = f"the feed process has not reported for over {stale_after:.0f} s"
        return FeedHealth("stale", written + int(stale_after * 1000), reason, last_ok, stale_after)
    if snapshot["state"] == "degraded":
        since = _epoch_ms(snapshot.get("since"))
        return FeedHealth("degraded", since, str(snapshot.get("reason") or "degraded"), last_ok, stale_after)
    return FeedHealth("ok", None, None, last_ok, stale_after)


def source_view(settings: Settings, report: SourceReport | None) -> dict[str, Any]:
    """What /healthz and the page say about where the trains come from (no URL, no key)."""
    simulated = settings.simulated_source
    snapshot = report.snapshot if report is not None and report.snapshot is not None else {}
    label = source_label(settings, report)
    return {
        "kind": source_kind(settings, report),
        "replay": settings.replay_dir is not None,
        "label": label,
        "simulated": simulated,
        "turnstiles": simulated,
        "weather": simulated,
        "note": None if simulated else f"{label} has no turnstile entries or weather: the page shows none.",
        "counts": dict(snapshot.get("counts", {})),
        "unknown_ids": dict(snapshot.get("unknown_ids", {})),
    }


# ---- Chicago's section of /healthz ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChicagoInputs:
    """What Chicago's health is judged from: its consumers, its state's freshness, a real source's report."""

    status: ConsumerStatus | None
    freshness: Mapping[str, Freshness]
    source: SourceReport | None = None
    outputs: JobOutputs | None = None


def chicago_health(settings: Settings, inputs: ChicagoInputs, clock: Clock) -> NetworkHealth:
    """Chicago's feeds and its part of the body (the top level of /healthz)."""
    status = inputs.status
    feeds = feed_health(settings, status, inputs.freshness, clock, inputs.source, inputs.outputs)
    topics = topics_view(ChicagoConsumer.topic_roles(settings), status, inputs.freshness, clock.now)
    if inputs.outputs is not None:
        for consumer_status, roles in (
            (inputs.outputs.run_times, {settings.topic_run_times: "run_times"}),
            (
                inputs.outputs.service,
                {settings.topic_cta_headways: "headways", settings.topic_cta_service_alerts: "service_alerts"},
            ),
        ):
            freshness = consumer_status.freshness if consumer_status is not None else {}
            topics.update(topics_view(roles, consumer_status, freshness, clock.now, QUIET))
    dead_letters: dict[str, int] = dict(status.dead_letters) if status is not None else {}
    if inputs.outputs is not None:
        for consumer_status in (inputs.outputs.run_times, inputs.outputs.service):
            if consumer_status is not None:
                dead_letters.update(consumer_status.dead_letters)
    section = {
        "not_running": None if runs(settings, "cta") else not_running("Chicago", settings),
        "degraded": [feed for feed, health in feeds.items() if health.degraded],
        "feeds": {feed: health.as_json() for feed, health in feeds.items()},
        "source": source_view(settings, inputs.source),
        "schema_registry": {"url": settings.schema_registry_url, "error": status.registry_error if status else None},
        "topics": topics,
        "dead_letters": {"topic": settings.topic_dead_letters, "by_input": dead_letters},
    }
    return NetworkHealth("cta", runs(settings, "cta"), status, feeds, section)
