"""What /healthz, the status frames and the page say: whether data flows, feed by feed, and the work behind it.

A feed is judged by its data, not by its consumer being connected. Each feed is in one state:

* ``starting``: no record yet, within the start grace (``settings.health_start_grace_s`` from the
  dashboard's start): the pipeline may simply not be producing yet;
* ``ok``: its newest record is recent for its expected rate;
* ``stale`` (``since``): its newest record is older than its expected interval x
  ``settings.health_stale_factor``, or it never had one within the start grace;
* ``failed`` (``since``, ``reason``): something it needs is down: Kafka, the schema registry (Avro
  feeds), its topic, OpenSearch;
* ``degraded`` (``since``, ``reason``): a real source (Train Tracker, GTFS-realtime: ``feeds/``)
  answers badly or not at all; its adapter says why in ``settings.feed_health_file``;
* ``off``: a feed of a network this run leaves out (``settings.run_networks``), or one the source
  does not have (a real source has no turnstiles or weather); it never counts.

Expected intervals are defined once (:func:`expected_interval_s`), from the simulation's speed
and Flink's checkpoint interval (a real source: its poll interval). The pipeline's work (SQL jobs,
connectors, consumer groups, from ``pipeline/work.py``, refreshed in the background by
:mod:`work_monitor`) is judged beside the feeds: starting within the grace, failed after it or
once it fails or stalls.

The overall ``status`` is ``starting`` until every counted feed and work item is ok (nothing
failed or stale meanwhile), then ``ok`` or ``degraded``; ``waiting_for`` and ``problems`` say
what is missing, one short line each. The HTTP status is the dashboard's own readiness, as before:
200 once its consumer runs, Kafka answers and existing topics are loaded, 503 with a ``reason``
before; a degraded or still-starting pipeline never makes the dashboard unready, and a degraded
feed never empties the page: the state keeps what it last knew.

Everything here is pure (statuses, freshness and a clock in), so the rules are unit-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from transit_status.config import Settings
from transit_status.dashboard.consumer import NOT_CONNECTED_YET, ConsumerStatus, DashboardConsumer, LondonConsumer
from transit_status.dashboard.cta.state import TOPIC_ROLES
from transit_status.dashboard.london.series import SeriesStatus
from transit_status.dashboard.london.state import LONDON_TOPIC_ROLES
from transit_status.dashboard.state import Freshness
from transit_status.dashboard.work_monitor import WorkSnapshot

FeedState = Literal["starting", "ok", "stale", "failed", "degraded", "off"]
OverallStatus = Literal["starting", "ok", "degraded"]
Feed = Literal["kafka", "registry", "stations", "arrivals", "turnstile_summary", "weather", "source"]
FEEDS: tuple[Feed, ...] = ("kafka", "registry", *TOPIC_ROLES)
"""Chicago's feeds with every source; a real source adds ``source`` (its adapter's health)."""
SIMULATION_ONLY: frozenset[str] = frozenset({"turnstile_summary", "weather"})
"""What only the simulation makes: a real feed has no turnstile entries and no weather."""
SOURCE_LABELS = {"simulation": "the simulation", "cta-train-tracker": "CTA Train Tracker", "gtfs-rt": "GTFS-realtime"}
LondonFeed = Literal["kafka", "station_activity", "line_activity", "station_windows", "opensearch"]
LONDON_FEEDS: tuple[LondonFeed, ...] = ("kafka", *LONDON_TOPIC_ROLES, "opensearch")
AVRO_ROLES: frozenset[str] = frozenset({"arrivals", "weather"})
Healthz = Callable[[], tuple[int, dict[str, Any]]]
"""What /healthz answers now: (HTTP status, body), as :func:`health_report` makes them."""

SIMULATED_INTERVAL_S: dict[str, float] = {
    "arrivals": 60.0,  # 132 trains (owl service included): an arrival somewhere every simulated minute
    "turnstile_summary": 60.0,  # entries at some station every simulated minute, even at night
    "weather": 3600.0,  # one reading per simulated hour
    "station_activity": 60.0,
    "line_activity": 60.0,
    "station_windows": 60.0,  # 1-minute windows close every simulated minute while barriers tap
}
"""Longest usual gap between records of each feed, in simulated seconds. Stations are reference
data: once loaded, quiet is normal. London's barriers are closed on weekday nights 02:00-04:00
(simulated), so London's feeds do go stale then."""
FLINK_OUTPUTS: frozenset[str] = frozenset({"turnstile_summary", "station_activity", "line_activity", "station_windows"})
"""Exactly-once outputs: a record becomes visible only at the checkpoint after it."""
MIN_INTERVAL_S = 1.0
"""However fast the simulation, records reach the dashboard in batches; below a second is noise."""
WORK_INSPECTION_STALLED_S = 60.0
"""An inspection of the work that has not returned for this long is itself a problem."""


def expected_interval_s(settings: Settings, role: str) -> float | None:
    """Real seconds within which a feed's next record is expected; None: no rate expected."""
    if role == "arrivals" and not settings.simulated_source:
        # A real feed's arrivals come with its polls (a whole network has trains arriving between any
        # two); a replay has no rate: it ends.
        return None if settings.replay_dir is not None else source_poll_s(settings)
    simulated = SIMULATED_INTERVAL_S.get(role)
    if simulated is None:
        return None
    interval = max(simulated / settings.simulation_speed, MIN_INTERVAL_S)
    if role in FLINK_OUTPUTS:
        interval += settings.flink_checkpoint_interval_s
    return interval


@dataclass(frozen=True, slots=True)
class Clock:
    now: int
    """Epoch ms."""
    started_ms: int
    """The dashboard's start: the start grace runs from here."""
    grace_ms: int

    @classmethod
    def of(cls, settings: Settings, started_ms: int, now: int) -> Clock:
        return cls(now, started_ms, int(settings.health_start_grace_s * 1000))

    @property
    def grace_ends(self) -> int:
        return self.started_ms + self.grace_ms

    @property
    def in_grace(self) -> bool:
        return self.now < self.grace_ends


@dataclass(frozen=True, slots=True)
class FeedHealth:
    state: FeedState
    since: int | None = None
    """Epoch ms when it became stale or failed (None while starting, ok or off)."""
    reason: str | None = None
    """Why it is not ok (what it waits for, or what is wrong)."""
    last_record_at: int | None = None
    stale_after_s: float | None = None

    @property
    def degraded(self) -> bool:
        return self.state in ("stale", "failed", "degraded")

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "degraded": self.degraded,
            "since": self.since,
            "reason": self.reason,
            "last_record_at": self.last_record_at,
            "stale_after_s": self.stale_after_s,
        }


@dataclass(frozen=True, slots=True)
class Failure:
    since: int | None
    reason: str


def newest_record_ms(fresh: Freshness) -> int | None:
    """When the feed's newest record was made; never later than it arrived (a clock ahead, e.g. a
    window's simulated end time, must not keep a feed fresh)."""
    if fresh.last_record_ms is not None and fresh.last_received_ms is not None:
        return min(fresh.last_record_ms, fresh.last_received_ms)
    return fresh.last_record_ms or fresh.last_received_ms


def data_health(
    stale_after_s: float | None, fresh: Freshness, clock: Clock, failure: Failure | None = None
) -> FeedHealth:
    """One feed from its data: the rule every topic feed follows, whatever failed upstream of it."""
    last = newest_record_ms(fresh)
    if failure is not None:
        return FeedHealth("failed", failure.since, failure.reason, last, stale_after_s)
    if last is None:
        if clock.in_grace:
            return FeedHealth("starting", None, "no record yet", None, stale_after_s)
        grace_s = clock.grace_ms / 1000
        return FeedHealth(
            "stale", clock.grace_ends, f"no record in the {grace_s:.0f} s since the start", None, stale_after_s
        )
    if stale_after_s is not None and clock.now >= last + int(stale_after_s * 1000):
        since = last + int(stale_after_s * 1000)
        reason = f"no new record for over {stale_after_s:.0f} s"
        return FeedHealth("stale", since, reason, last, stale_after_s)
    return FeedHealth("ok", None, None, last, stale_after_s)


def _off(network: str, settings: Settings) -> FeedHealth:
    return FeedHealth("off", reason=not_running(network, settings))


def not_running(network: str, settings: Settings) -> str:
    """What a page of a network this run leaves out says (the dashboard neither consumes nor queries for it)."""
    return f"{network} is not running: this run was started with --network {settings.run_networks}"


def runs(settings: Settings, network: Literal["cta", "london"]) -> bool:
    return network in settings.networks_run


def kafka_health(status: ConsumerStatus | None, clock: Clock) -> FeedHealth:
    # Not connected yet is "starting" only during the start grace: after it, Kafka has failed.
    if status is None or not status.running:
        if clock.in_grace:
            return FeedHealth("starting", reason="the Kafka consumer is not running yet")
        return FeedHealth("failed", clock.grace_ends, "the Kafka consumer has not started")
    if status.kafka_connected:
        return FeedHealth("ok")
    if status.kafka_error == NOT_CONNECTED_YET:
        if clock.in_grace:
            return FeedHealth("starting", reason="connecting to Kafka")
        return FeedHealth("failed", clock.grace_ends, "no answer from Kafka since the dashboard started")
    return FeedHealth("failed", status.kafka_down_since_ms, status.kafka_error or "Kafka unreachable")


def _topic_failure(role: str, status: ConsumerStatus | None, fresh: Freshness, clock: Clock) -> Failure | None:
    """A missing topic fails its feed, except at the start while the pipeline may not have made it yet."""
    topic = status.topics.get(role) if status is not None else None
    if topic is None or topic.state != "missing" or topic.missing_since_ms is None:
        return None
    if newest_record_ms(fresh) is None and clock.in_grace:
        return None
    return Failure(topic.missing_since_ms, f"topic {topic.topic} does not exist")


def _starting_reason(role: str, status: ConsumerStatus | None, health: FeedHealth) -> FeedHealth:
    """A starting feed says what it waits for: its topic, or its first record."""
    topic = status.topics.get(role) if status is not None else None
    if health.state == "starting" and topic is not None and topic.state == "missing":
        return FeedHealth("starting", None, f"topic {topic.topic} does not exist yet", None, health.stale_after_s)
    return health


def topic_feed(
    settings: Settings,
    role: str,
    status: ConsumerStatus | None,
    fresh: Freshness,
    clock: Clock,
    upstream: Failure | None = None,
) -> FeedHealth:
    interval = expected_interval_s(settings, role)
    stale_after = interval * settings.health_stale_factor if interval is not None else None
    failure = upstream or _topic_failure(role, status, fresh, clock)
    return _starting_reason(role, status, data_health(stale_after, fresh, clock, failure))


def feed_health(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: Mapping[str, Freshness],
    clock: Clock,
    source: SourceReport | None = None,
) -> dict[Feed, FeedHealth]:
    """Chicago's feeds: Kafka, the schema registry, each input topic and, for a real source, its adapter
    (``source``: what it last reported)."""
    if not runs(settings, "cta"):
        off = _off("Chicago", settings)
        return {feed: off for feed in FEEDS}
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
            upstream = Failure(kafka.since, "Kafka is down: showing the last known state")
        elif registry.state == "failed" and role in AVRO_ROLES:
            upstream = Failure(registry.since, "schema registry unreachable: records wait to be decoded")
        feeds[role] = topic_feed(settings, role, status, freshness.get(role, Freshness()), clock, upstream)  # type: ignore[index]
    if not settings.simulated_source:
        for role in SIMULATION_ONLY:
            feeds[role] = FeedHealth("off", reason=no_simulated_data(settings, source, role))  # type: ignore[index]
        feeds["source"] = source_health(settings, source, clock)
    return feeds


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


def london_feed_health(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: Mapping[str, Freshness],
    series: SeriesStatus,
    clock: Clock,
) -> dict[LondonFeed, FeedHealth]:
    """London's feeds: its Kafka consumer's topics and OpenSearch (the charts' source)."""
    if not runs(settings, "london"):
        off = _off("London", settings)
        return {feed: off for feed in LONDON_FEEDS}
    kafka = kafka_health(status, clock)
    feeds: dict[LondonFeed, FeedHealth] = {"kafka": kafka}
    for role in LONDON_TOPIC_ROLES:
        upstream = (
            Failure(kafka.since, "Kafka is down: showing the last known state") if kafka.state == "failed" else None
        )
        feeds[role] = topic_feed(settings, role, status, freshness.get(role, Freshness()), clock, upstream)  # type: ignore[index]
    feeds["opensearch"] = opensearch_health(settings, series, clock)
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


# ---- the work: jobs, connectors, consumer groups ------------------------------------------------------


def work_health(snapshot: WorkSnapshot | None, clock: Clock) -> dict[str, Any]:
    """The work's rows with a feed-like ``health`` each: ok, starting (within the grace) or failed."""
    if snapshot is None:
        return {"inspected": False, "checked_at": None, "error": None, "items": []}
    items = []
    for item in snapshot.items:
        if item.state == "running":
            health: FeedState = "ok"
        elif item.state in ("failed", "stalled") or not clock.in_grace:
            health = "failed"
        else:  # starting, missing or unknown: the pipeline may still be setting it up
            health = "starting"
        items.append(
            {
                "kind": item.kind,
                "name": item.name,
                "state": item.state,
                "detail": item.detail,
                "ok": item.state == "running",
                "health": health,
                "since": snapshot.since_ms.get((item.kind, item.name)),
            }
        )
    error = snapshot.error
    if (
        snapshot.refreshing_since_ms is not None
        and clock.now - snapshot.refreshing_since_ms > WORK_INSPECTION_STALLED_S * 1000
    ):
        error = f"the inspection has not returned for {(clock.now - snapshot.refreshing_since_ms) / 1000:.0f} s"
    return {"inspected": True, "checked_at": snapshot.checked_at_ms, "error": error, "items": items}


# ---- overall -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overall:
    status: OverallStatus
    waiting_for: list[str]
    problems: list[str]


def overall(feeds: Iterable[tuple[str, FeedHealth]], work: Mapping[str, Any], clock: Clock) -> Overall:
    """``starting`` until every counted feed and work item is ok, then ``ok``; ``degraded`` once any fails."""
    waiting: list[str] = []
    problems: list[str] = []
    for label, health in feeds:
        if health.state == "starting":
            waiting.append(f"{label} ({health.reason})")
        elif health.degraded:
            problems.append(f"{label} {health.state}: {health.reason}")
    for item in work.get("items", []):
        described = f"{item['kind']} {item['name']} ({item['state']}{': ' + item['detail'] if item['detail'] else ''})"
        if item["health"] == "starting":
            waiting.append(described)
        elif item["health"] == "failed":
            problems.append(described)
    if work.get("error"):
        problems.append(f"work inspection: {work['error']}")
    elif work.get("inspected") and work.get("checked_at") is None:
        (waiting if clock.in_grace else problems).append("work (not inspected yet)")
    status: OverallStatus = "degraded" if problems else "starting" if waiting else "ok"
    return Overall(status, waiting, problems)


# ---- the /healthz body ---------------------------------------------------------------------------------


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


def _section_status(feeds: Mapping[str, FeedHealth]) -> str:
    states = {health.state for health in feeds.values()}
    if states == {"off"}:
        return "off"
    return "degraded" if states & {"stale", "failed", "degraded"} else "starting" if "starting" in states else "ok"


@dataclass(frozen=True, slots=True)
class LondonInputs:
    """What London's health is judged from: its consumer, its state's freshness, OpenSearch's series."""

    status: ConsumerStatus | None
    freshness: Mapping[str, Freshness]
    series: SeriesStatus


def london_health(settings: Settings, inputs: LondonInputs, clock: Clock) -> dict[str, Any]:
    """London's part of /healthz: its Kafka topics and OpenSearch, each with its state, since when and why."""
    return _london_section(settings, inputs, clock, london_feed_health(settings, *_fields(inputs), clock))


def _fields(inputs: LondonInputs) -> tuple[ConsumerStatus | None, Mapping[str, Freshness], SeriesStatus]:
    return inputs.status, inputs.freshness, inputs.series


def _london_section(
    settings: Settings, inputs: LondonInputs, clock: Clock, feeds: Mapping[LondonFeed, FeedHealth]
) -> dict[str, Any]:
    status, freshness, series = _fields(inputs)
    running = runs(settings, "london")
    reason = _readiness(status) if running else None  # not running is not "not ready": the page says it is off
    if reason is None and status is not None:
        reason = _loading(status)
    streams = (settings.opensearch_entries_stream, settings.opensearch_exits_stream)
    return {
        "status": _section_status(feeds),
        "running": running,
        "not_running": None if running else not_running("London", settings),
        "reason": reason,
        "degraded": [feed for feed, health in feeds.items() if health.degraded],
        "feeds": {feed: health.as_json() for feed, health in feeds.items()},
        "topics": _topics_view(LondonConsumer.topic_roles(settings), status, freshness, clock.now),
        "opensearch": {
            "url": settings.opensearch_url,
            "data_streams": list(streams),
            "waiting_for": list(series.waiting_for),
            "last_ok_at": series.last_ok_ms,
            "error": series.error,
        },
    }


def health_report(
    settings: Settings,
    status: ConsumerStatus | None,
    freshness: Mapping[str, Freshness],
    clients: int,
    clock: Clock,
    london: LondonInputs | None = None,
    work: WorkSnapshot | None = None,
    source: SourceReport | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz, also pushed to every page once a second.

    ``london``: London's inputs (its section is added, and counts when London runs); ``work``: the
    latest inspection of the pipeline's work (None: this dashboard does not inspect it); ``source``:
    what a real feed's adapter last reported (None: the simulation, or nothing read).
    """
    # The dashboard is ready when the consumer of the first network that runs is (London only: Chicago's never starts).
    ready = london.status if not runs(settings, "cta") and london is not None else status
    reason = _readiness(ready)
    if reason is None and ready is not None:
        if ready.registry_error:  # Avro topics cannot load without it: the more useful reason
            reason = f"{ready.registry_error} ({settings.schema_registry_url}); retrying"
        else:
            reason = _loading(ready)
    feeds = feed_health(settings, status, freshness, clock, source)
    work_view = work_health(work, clock)
    counted = [(str(feed), health) for feed, health in feeds.items() if health.state != "off"]
    london_feeds = london_feed_health(settings, *_fields(london), clock) if london is not None else {}
    counted += [
        (f"london {feed}", health)
        for feed, health in london_feeds.items()
        if health.state != "off" and (feed != "kafka" or not runs(settings, "cta"))  # one broker: counted once
    ]
    summary = overall(counted, work_view, clock)
    body: dict[str, Any] = {
        "status": summary.status,
        "reason": reason,
        "waiting_for": summary.waiting_for,
        "problems": summary.problems,
        "networks": [network for network in ("cta", "london") if runs(settings, network)],  # type: ignore[arg-type]
        "not_running": None if runs(settings, "cta") else not_running("Chicago", settings),
        "degraded": [feed for feed, health in feeds.items() if health.degraded],
        "feeds": {feed: health.as_json() for feed, health in feeds.items()},
        "source": source_view(settings, source),
        "work": work_view,
        "started_at": clock.started_ms,
        "start_grace_s": clock.grace_ms / 1000,
        "kafka": {
            "bootstrap_servers": settings.bootstrap_servers,
            "connected": bool(ready and ready.kafka_connected),
            "error": ready.kafka_error if ready else None,
        },
        "schema_registry": {"url": settings.schema_registry_url, "error": status.registry_error if status else None},
        "topics": _topics_view(DashboardConsumer.topic_roles(settings), status, freshness, clock.now),
        "dead_letters": {"topic": settings.topic_dead_letters, "by_input": status.dead_letters if status else {}},
        "websocket_clients": clients,
    }
    if london is not None:
        body["london"] = _london_section(settings, london, clock, london_feeds)
    return (200 if reason is None else 503), body


def _topics_view(
    topic_roles: dict[str, str], status: ConsumerStatus | None, freshness: Mapping[str, Freshness], now: int
) -> dict[str, dict[str, Any]]:
    names = {role: topic for topic, role in topic_roles.items()}
    view = {}
    for role in names:
        topic_status = status.topics.get(role) if status else None
        fresh = freshness.get(role, Freshness())
        last = newest_record_ms(fresh)
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
