"""The pipeline's work, beside its processes: SQL jobs, connectors and their tasks, consumer groups.

A process that runs is not yet work being done: a JobManager restarted without HA has no jobs, a
Connect task that lost its database stays FAILED until someone restarts it, and a consumer may sit
connected while its input grows. This module says what must be running for the networks chosen
(:func:`expected_work`) and what is (:func:`inspect_work`), as :class:`WorkItem` rows. It only
looks; the watchdog (``pipeline/watchdog.py``) restores, and ``platform status`` and the dashboard's
``/healthz`` report the same rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import httpx
from confluent_kafka import Consumer, TopicPartition

from transit_status.config import Settings
from transit_status.pipeline import connectors
from transit_status.pipeline.sql_jobs import (
    ACTIVE_STATES,
    CTA_JOBS,
    CTA_RUN_TIMES,
    CTA_SERVICE_HEALTH,
    LONDON_BARRIERS,
    LONDON_CROWDING,
    LONDON_JOBS,
    TURNSTILE_SUMMARY,
    SqlJob,
    flink_source_group,
)

log = logging.getLogger(__name__)
# The groups' consumers report every refused connection while Kafka restarts; the work item says it once.
quiet_kafka_logger = logging.getLogger("transit_status.pipeline.work.librdkafka")
quiet_kafka_logger.addHandler(logging.NullHandler())
quiet_kafka_logger.propagate = False

WorkKind = Literal["job", "connector", "group"]
WorkState = Literal["running", "starting", "missing", "failed", "stalled", "duplicate", "unknown"]
HTTP_TIMEOUT_S = 5.0
KAFKA_TIMEOUT_S = 5.0
# A job that is on its way to running: not a fault yet, but not running either.
STARTING_JOB_STATES = ACTIVE_STATES - {"RUNNING"}


@dataclass(frozen=True)
class WorkItem:
    """One piece of work and its state; ``detail`` says why when it is not running."""

    kind: WorkKind
    name: str
    state: WorkState
    detail: str = ""
    surplus: tuple[str, ...] = ()
    """For a duplicate job: the ids of the runs to cancel (all but the oldest)."""

    @property
    def ok(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        return f"{self.kind} {self.name}: {self.state}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class ConnectorWork:
    """A connector the pipeline registers, and how (its config, built from the settings when needed)."""

    name: str
    config: Callable[[], dict[str, str]]

    @property
    def consumer_group(self) -> str:
        # A sink connector's tasks consume as group connect-<name> (Connect's default).
        return f"connect-{self.name}"


@dataclass(frozen=True)
class GroupWork:
    """A consumer group that commits its offsets, and the topics it reads."""

    group: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class ExpectedWork:
    jobs: tuple[SqlJob, ...]
    connectors: tuple[ConnectorWork, ...]
    groups: tuple[GroupWork, ...]


def expected_work(settings: Settings) -> ExpectedWork:
    """What must run on the platform for ``settings.run_networks``, beside the processes."""
    jobs: list[SqlJob] = []
    connector_work: list[ConnectorWork] = []
    groups: list[GroupWork] = []
    if "cta" in settings.networks_run:
        jobs += CTA_JOBS
        connector_work.append(
            ConnectorWork(connectors.STATIONS_CONNECTOR, lambda: connectors.stations_connector_config(settings))
        )
        groups.append(GroupWork(flink_source_group(settings, TURNSTILE_SUMMARY), (settings.topic_turnstiles,)))
        groups.append(GroupWork(flink_source_group(settings, CTA_RUN_TIMES), (settings.topic_arrivals,)))
        groups.append(GroupWork(flink_source_group(settings, CTA_SERVICE_HEALTH), (settings.topic_arrivals,)))
    if "london" in settings.networks_run:
        jobs += LONDON_JOBS
        sink = ConnectorWork(
            settings.london_postgres_sink_connector, lambda: connectors.london_postgres_sink_config(settings)
        )
        connector_work += [
            ConnectorWork(
                connectors.london_stations_connector_name(settings),
                lambda: connectors.london_stations_connector_config(settings),
            ),
            sink,
        ]
        barriers = (settings.topic_london_entries, settings.topic_london_exits)
        enriched = (settings.topic_london_station_entries, settings.topic_london_station_exits)
        groups += [
            GroupWork(flink_source_group(settings, LONDON_BARRIERS), barriers),
            GroupWork(flink_source_group(settings, LONDON_CROWDING), (settings.topic_london_station_windows,)),
            GroupWork(settings.london_opensearch_sink_group, enriched),
            GroupWork(sink.consumer_group, enriched),
        ]
    return ExpectedWork(tuple(jobs), tuple(connector_work), tuple(groups))


# ---- jobs ----------------------------------------------------------------------------------------


def job_items(settings: Settings, jobs: tuple[SqlJob, ...]) -> list[WorkItem]:
    try:
        response = httpx.get(f"{settings.flink_rest_url}/jobs/overview", timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        on_cluster = response.json()["jobs"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        reason = f"Flink's JobManager does not answer at {settings.flink_rest_url} ({type(error).__name__})"
        return [WorkItem("job", job.job_name(settings), "unknown", reason) for job in jobs]
    items = []
    for job in jobs:
        item = job_item(job.job_name(settings), on_cluster)
        if (
            item.state == "failed"
            and (failed := _newest_run(job.job_name(settings), on_cluster)).get("state") == "FAILED"
        ):
            # Say why it failed, or a resubmission that fails the same way every time looks like progress.
            item = replace(item, detail=f"{item.detail}: {failure_of(settings, str(failed['jid']))}")
        items.append(item)
    return items


def _newest_run(name: str, on_cluster: list[dict[str, Any]]) -> dict[str, Any]:
    runs = [job for job in on_cluster if job.get("name") == name]
    return max(runs, key=lambda job: job.get("start-time", 0), default={})


def job_item(name: str, on_cluster: list[dict[str, Any]]) -> WorkItem:
    """The state of job ``name`` from the JobManager's ``/jobs/overview`` list."""
    runs = sorted((job for job in on_cluster if job.get("name") == name), key=lambda job: -job.get("start-time", 0))
    active = [job for job in runs if job.get("state") in ACTIVE_STATES]
    if len(active) > 1:
        # Two runs of one job fence each other's transactions: e.g. a submission whose answer came
        # too late for its client, then submitted again. The oldest has the most progress: it stays.
        keep, *others = sorted(active, key=lambda job: job.get("start-time", 0))
        detail = f"{len(active)} runs active; keeping {keep['jid']}"
        return WorkItem("job", name, "duplicate", detail, surplus=tuple(str(job["jid"]) for job in others))
    if active:
        job = active[0]
        tasks = job.get("tasks", {})
        total, running = tasks.get("total", 0), tasks.get("running", 0)
        if job["state"] == "RUNNING" and total > 0 and running == total:
            return WorkItem("job", name, "running")
        return WorkItem("job", name, "starting", f"{job['state'].lower()}, {running}/{total} tasks running")
    if runs:
        return WorkItem("job", name, "failed", f"last run {runs[0].get('state', '?').lower()}")
    return WorkItem("job", name, "missing", "not on the cluster")


def failure_of(settings: Settings, job_id: str) -> str:
    """The first line of a failed run's root exception (Flink's ``/jobs/{id}/exceptions``)."""
    try:
        response = httpx.get(f"{settings.flink_rest_url}/jobs/{job_id}/exceptions", timeout=HTTP_TIMEOUT_S)
        root = response.json().get("rootException") or ""
    except (httpx.HTTPError, ValueError):
        return "its exceptions could not be read"
    return _first_line(root) if root else "no exception recorded"


# ---- connectors ----------------------------------------------------------------------------------


def connector_items(settings: Settings, wanted: tuple[ConnectorWork, ...]) -> list[WorkItem]:
    try:
        response = httpx.get(f"{settings.connect_url}/connectors", params={"expand": "status"}, timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        statuses = response.json()
    except (httpx.HTTPError, ValueError) as error:
        reason = f"Kafka Connect does not answer at {settings.connect_url} ({type(error).__name__})"
        return [WorkItem("connector", connector.name, "unknown", reason) for connector in wanted]
    return [connector_item(connector.name, statuses.get(connector.name, {}).get("status")) for connector in wanted]


def connector_item(name: str, status: dict[str, Any] | None) -> WorkItem:
    """The state of connector ``name`` from Connect's ``GET /connectors?expand=status`` entry."""
    if status is None:
        return WorkItem("connector", name, "missing", "not registered")
    parts = [("connector", status.get("connector", {}))]
    parts += [(f"task {task.get('id')}", task) for task in status.get("tasks", [])]
    failed = [
        f"{what} failed: {_first_line(part.get('trace', ''))}" for what, part in parts if part.get("state") == "FAILED"
    ]
    if failed:
        return WorkItem("connector", name, "failed", "; ".join(failed))
    if not status.get("tasks"):
        return WorkItem("connector", name, "starting", "no task assigned yet")
    waiting = [f"{what} {part.get('state', '?').lower()}" for what, part in parts if part.get("state") != "RUNNING"]
    if waiting:
        return WorkItem("connector", name, "starting", "; ".join(waiting))
    return WorkItem("connector", name, "running")


def _first_line(trace: str) -> str:
    return (trace.strip().splitlines() or ["no trace"])[0][:300]


# ---- consumer groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupOffsets:
    committed: int
    """Sum of the group's committed offsets over its topics' partitions (unset counts as 0)."""
    end: int
    """Sum of the same partitions' end offsets, as a read_committed reader sees them."""

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


class GroupReader:
    """Reads consumer groups' committed offsets and their topics' end offsets.

    Through a consumer per group (never joining it), not the admin client: librdkafka's admin
    ListConsumerGroupOffsets crashed the process (segfault in rdk:main) on a NOT_COORDINATOR answer
    while the broker restarted, as reported in confluent-kafka-javascript#374.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumers: dict[str, Consumer] = {}

    def _consumer(self, group: str) -> Consumer:
        if group not in self._consumers:
            self._consumers[group] = Consumer(
                {
                    **self.settings.kafka_client_config(),
                    "group.id": group,
                    "enable.auto.commit": False,
                    # End offsets as a read_committed reader sees them (the last stable offset).
                    "isolation.level": "read_committed",
                    "socket.timeout.ms": 3000,
                    "logger": quiet_kafka_logger,
                }
            )
        return self._consumers[group]

    def offsets(self, group: GroupWork) -> GroupOffsets | None:
        """The group's committed and end offsets now; None when a topic does not exist (yet)."""
        consumer = self._consumer(group.group)
        metadata = consumer.list_topics(timeout=KAFKA_TIMEOUT_S)
        partitions = []
        for topic in group.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                return None
            partitions += [TopicPartition(topic, p) for p in found.partitions]
        committed = sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=KAFKA_TIMEOUT_S))
        end = sum(consumer.get_watermark_offsets(tp, timeout=KAFKA_TIMEOUT_S, cached=False)[1] for tp in partitions)
        return GroupOffsets(committed, end)

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()


@dataclass
class ProgressTracker:
    """Tells a group that stands still while its input grows from one that keeps up.

    Stalled: its committed offsets have not moved for ``stall_after_s`` while its input grew. An
    idle input is fine, and so is a lag that does not grow: a transaction's commit marker takes an
    offset no reader commits past, so a transactional topic read to its end still shows a small lag.
    """

    stall_after_s: float
    _moved: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    """group -> (committed offsets, end offsets, when) as of the last time its offsets moved"""

    def item(self, group: str, offsets: GroupOffsets | None, now: float) -> WorkItem:
        if offsets is None:
            self._moved.pop(group, None)
            return WorkItem("group", group, "starting", "its topics do not exist yet")
        committed, end, since = self._moved.get(group, (-1, -1, now))
        if offsets.committed != committed or offsets.end == end:
            # It moved, or there is nothing new to read: progress is measured from here.
            self._moved[group] = (offsets.committed, offsets.end, now)
            return WorkItem("group", group, "running", f"lag {offsets.lag}")
        if now - since >= self.stall_after_s:
            grown = offsets.end - end
            return WorkItem(
                "group", group, "stalled", f"no progress for {now - since:.0f} s while {grown} records arrived"
            )
        return WorkItem("group", group, "running", f"lag {offsets.lag}")

    def give_time(self, group: str, now: float) -> None:
        """After acting on a stalled group (its tasks restarted), give it a full ``stall_after_s`` again
        before calling it stalled: a rebalance and a first commit take a while."""
        if group in self._moved:
            committed, end, _ = self._moved[group]
            self._moved[group] = (committed, end, now)


def group_items(groups: tuple[GroupWork, ...], tracker: ProgressTracker, reader: GroupReader) -> list[WorkItem]:
    now = time.monotonic()
    items = []
    for group in groups:
        try:
            offsets = reader.offsets(group)
        except Exception as error:  # KafkaException and the futures' errors: Kafka cannot say now
            items.append(WorkItem("group", group.group, "unknown", f"Kafka cannot tell ({error})"[:300]))
            continue
        items.append(tracker.item(group.group, offsets, now))
    return items


# ---- everything --------------------------------------------------------------------------------------


def inspect_work(
    settings: Settings, tracker: ProgressTracker | None = None, reader: GroupReader | None = None
) -> list[WorkItem]:
    """The state of every job and connector and, given a tracker (which remembers progress) and a
    reader (which keeps its consumers between calls), of every group."""
    expected = expected_work(settings)
    items = job_items(settings, expected.jobs) + connector_items(settings, expected.connectors)
    if tracker is not None and reader is not None:
        items += group_items(expected.groups, tracker, reader)
    return items
