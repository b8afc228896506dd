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

Each network judges its own feeds with these rules (``cta/health.py``, ``london/health.py``) and hands
its part of the report over as a :class:`NetworkHealth`; :func:`health_report` puts them together.
Expected intervals come from the simulation's speed and Flink's checkpoint interval
(:func:`simulated_interval_s`; a real source: its poll interval). A topic that is quiet by nature (an
alerts topic: nothing to say while service is healthy) is judged by :func:`quiet_feed`: its topic and
Kafka, never the age of its newest record. The pipeline's work (SQL jobs,
connectors, consumer groups, from ``pipeline/work.py``, refreshed in the background by
:mod:`work_monitor`) is judged beside the feeds: starting within the grace, failed after it or
once it fails or stalls.

The overall ``status`` is ``starting`` until every counted feed and work item is ok (nothing
failed or stale meanwhile), then ``ok`` or ``degraded``; ``waiting_for`` and ``problems`` say
what is missing, one short line each. The HTTP status is the dashboard's own readiness, as before:
200 once its consumer runs, Kafka answers and existing topics are loaded, 503 with a ``reason``
before; a degraded or still-starting pipeline never makes the dashboard unready, and a degraded
feed never empties the page: the state keeps what it last knew.

Everything here is pure (statuses, freshness and a clock in), so the rules are unit-tested. Nothing
here knows either network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from transit_status.config import Settings
from transit_status.dashboard.consumer import NOT_CONNECTED_YET, ConsumerStatus
from transit_status.dashboard.state import Freshness
from transit_status.dashboard.work_monitor import WorkSnapshot

FeedState = Literal["starting", "ok", "stale", "failed", "degraded", "off"]
OverallStatus = Literal["starting", "ok", "degraded"]
Healthz = Callable[[], tuple[int, dict[str, Any]]]
"""What /healthz answers now: (HTTP status, body), as :func:`health_report` makes them."""

MIN_INTERVAL_S = 1.0
"""However fast the simulation, records reach the dashboard in batches; below a second is noise."""
WORK_INSPECTION_STALLED_S = 60.0
"""An inspection of the work that has not returned for this long is itself a problem."""
KAFKA_DOWN = "Kafka is down: showing the last known state"


def simulated_interval_s(settings: Settings, simulated_s: float, flink_output: bool = False) -> float:
    """Real seconds for ``simulated_s`` of the simulation, never below a second; an exactly-once Flink
    output is visible only at the checkpoint after its record, so it waits one more interval."""
    interval = max(simulated_s / settings.simulation_speed, MIN_INTERVAL_S)
    return interval + settings.flink_checkpoint_interval_s if flink_output else interval


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


def off(network: str, settings: Settings) -> FeedHealth:
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
    interval: float | None,
    status: ConsumerStatus | None,
    fresh: Freshness,
    clock: Clock,
    upstream: Failure | None = None,
) -> FeedHealth:
    """A topic's feed from its data: stale once its newest record is older than ``interval`` (real
    seconds; None: no rate expected) x ``settings.health_stale_factor``; failed with ``upstream``'s reason
    or when its topic is missing after the start."""
    stale_after = interval * settings.health_stale_factor if interval is not None else None
    failure = upstream or _topic_failure(role, status, fresh, clock)
    return _starting_reason(role, status, data_health(stale_after, fresh, clock, failure))


def consumer_failure(what: str, status: ConsumerStatus | None, clock: Clock) -> Failure | None:
    """A feed read by a consumer of its own: failed once that consumer has not run for the start grace, or
    reports Kafka unreachable (the page's main consumer may still reach it: a consumer of its own may not)."""
    if status is None or not status.running:
        return None if clock.in_grace else Failure(clock.grace_ends, f"the {what} consumer is not running")
    if not status.kafka_connected and status.kafka_error != NOT_CONNECTED_YET:
        return Failure(status.kafka_down_since_ms, f"the {what} consumer: {status.kafka_error or 'Kafka unreachable'}")
    return None


def quiet_feed(
    role: str, status: ConsumerStatus | None, fresh: Freshness, clock: Clock, upstream: Failure | None = None
) -> FeedHealth:
    """A topic that is quiet by nature (alerts: nothing to say while service is healthy): ok once its
    topic is read, however old its newest record; failed when what it needs is down or its topic is
    missing after the start; starting until then. Its producer's death is for the job's own checks
    (the work, and the job's steady outputs) to show, never guessed from the quiet."""
    last = newest_record_ms(fresh)
    failure = upstream or _topic_failure(role, status, fresh, clock)
    if failure is not None:
        return FeedHealth("failed", failure.since, failure.reason, last)
    topic = status.topics.get(role) if status is not None else None
    if topic is not None and topic.state == "live":
        return FeedHealth("ok", None, None, last)
    if topic is not None and topic.state == "missing":
        return FeedHealth("starting", None, f"topic {topic.topic} does not exist yet", last)
    if topic is not None and topic.state == "loading":
        return FeedHealth("starting", None, topic.detail, last)
    return FeedHealth("starting", None, "not read yet", last)


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


def readiness(status: ConsumerStatus | None) -> str | None:
    """Why the consumer's state is not ready yet (None: it is)."""
    if status is None or not status.running:
        return "starting: the Kafka consumer is not running yet"
    if not status.kafka_connected:
        return f"{status.kafka_error or 'Kafka unreachable'}; retrying"
    return None


def loading(status: ConsumerStatus) -> str | None:
    loading = [t for t in status.topics.values() if t.state in ("loading", "unknown")]
    return "starting: " + "; ".join(t.detail for t in loading) if loading else None


def section_status(feeds: Mapping[str, FeedHealth]) -> str:
    states = {health.state for health in feeds.values()}
    if states == {"off"}:
        return "off"
    return "degraded" if states & {"stale", "failed", "degraded"} else "starting" if "starting" in states else "ok"


@dataclass(frozen=True, slots=True)
class NetworkHealth:
    """One network's part of /healthz, as the network judged it (``cta/health.py``, ``london/health.py``)."""

    name: str
    """The network as ``settings.run_networks`` names it (``cta``, ``london``)."""
    running: bool
    status: ConsumerStatus | None
    """Its page's main consumer: the dashboard's readiness when it is the first network that runs."""
    feeds: Mapping[str, FeedHealth]
    section: Mapping[str, Any]
    """Its part of the body: the first network's at the top level, any other's under its name."""
    label: str = ""
    """How ``waiting_for`` and ``problems`` name its feeds: ``label + feed``."""


def health_report(
    settings: Settings,
    networks: Sequence[NetworkHealth],
    clients: int,
    clock: Clock,
    work: WorkSnapshot | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz, also pushed to every page once a second.

    ``networks``: each network's judged feeds and section, the first one's section at the top level;
    ``work``: the latest inspection of the pipeline's work (None: this dashboard does not inspect it).
    The dashboard is ready when the main consumer of the first network that runs is.
    """
    ready = next((network.status for network in networks if network.running), networks[0].status)
    reason = readiness(ready)
    if reason is None and ready is not None:
        if ready.registry_error:  # Avro topics cannot load without it: the more useful reason
            reason = f"{ready.registry_error} ({settings.schema_registry_url}); retrying"
        else:
            reason = loading(ready)
    work_view = work_health(work, clock)
    counted: list[tuple[str, FeedHealth]] = []
    kafka_counted = False  # one broker: counted once, for the first network that counts it
    for network in networks:
        for feed, health in network.feeds.items():
            if health.state == "off" or (feed == "kafka" and kafka_counted):
                continue
            kafka_counted = kafka_counted or feed == "kafka"
            counted.append((f"{network.label}{feed}", health))
    summary = overall(counted, work_view, clock)
    primary, *others = networks
    body: dict[str, Any] = {
        "status": summary.status,
        "reason": reason,
        "waiting_for": summary.waiting_for,
        "problems": summary.problems,
        "networks": [network.name for network in networks if network.running],
        **primary.section,
        "work": work_view,
        "started_at": clock.started_ms,
        "start_grace_s": clock.grace_ms / 1000,
        "kafka": {
            "bootstrap_servers": settings.bootstrap_servers,
            "connected": bool(ready and ready.kafka_connected),
            "error": ready.kafka_error if ready else None,
        },
        "websocket_clients": clients,
    }
    for network in others:
        body[network.name] = dict(network.section)
    return (200 if reason is None else 503), body


def topics_view(
    topic_roles: dict[str, str],
    status: ConsumerStatus | None,
    freshness: Mapping[str, Freshness],
    now: int,
    quiet: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each topic's view on /healthz and the page; ``quiet``: what a quiet topic with no record yet says."""
    names = {role: topic for topic, role in topic_roles.items()}
    view = {}
    for role in names:
        topic_status = status.topics.get(role) if status else None
        fresh = freshness.get(role, Freshness())
        last = newest_record_ms(fresh)
        state = topic_status.state if topic_status else "unknown"
        # A quiet topic read to its end with nothing in it waits for nothing: it has nothing to say.
        quiet_now = fresh.records == 0 and quiet is not None and role in quiet and state == "live"
        if quiet_now:
            text = quiet[role]  # type: ignore[index]
        elif fresh.records == 0:
            text = "waiting for data" + (f" (topic {names[role]} does not exist yet)" if state == "missing" else "")
        else:
            text = "live" if state == "live" else (topic_status.detail if topic_status else state)
        view[role] = {
            "topic": names[role],
            "state": state,
            "waiting": fresh.records == 0 and not quiet_now,
            "text": text,
            "records": fresh.records,
            "partitions": topic_status.partitions if topic_status else 0,
            "last_record_at": last,
            "age_s": round(max(now - last, 0) / 1000.0, 1) if last is not None else None,
        }
    return view
