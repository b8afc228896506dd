"""A real feed as a pipeline process: poll (or replay), derive arrivals, produce them like the simulation.

:func:`run_feed` is the process's loop (``settings.source`` says which feed): it produces every arrival
into ``settings.topic_arrivals`` through the shared Avro producer
(:class:`~transit_status.producers.kafka.EventProducer`, the arrival contract), writes the feed's
health to ``settings.feed_health_file`` from its start and after every poll, and returns only when
``stop`` is set (or a replay has played its last poll). A bad response, an unknown id, even an adapter
bug on one poll is logged and reported as a degraded feed; the loop goes on. So is a start-up step
that fails (the static GTFS at a URL, Kafka's topics): retried with backoff, never an exit. Only a
user's mistake (a recording or static file on disk that is none) ends it at start, in one line.
:func:`record_feed` is ``transit-status record``: the same polls, written to a directory instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.feeds import cta, gtfs_rt
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedRequest, LiveSource, Poll, Source
from transit_status.feeds.recording import Recorder, RecordingError, ReplaySource, read_recording
from transit_status.networks import fetched_static_gtfs, load_network
from transit_status.networks.gtfs import GtfsError, read_gtfs_bytes, read_tables, static_feed
from transit_status.networks.saved_gtfs import save_static_gtfs
from transit_status.simulation.events import ArrivalEvent

log = logging.getLogger(__name__)

START_BACKOFF_MAX_S = 300.0
"""The longest wait between two tries of a start-up step: an agency's server back up is noticed within it."""
HEALTH_REFRESH_S = 30.0
"""How often a feed waiting to retry its start rewrites its health (the dashboard's staleness is 144 s+)."""
STATIC_STEP = "static-gtfs"
TOPICS_STEP = "kafka-topics"


class Adapter(Protocol):
    health: FeedHealth

    def on_poll(self, poll: Poll) -> list[ArrivalEvent]: ...


@dataclass
class Feed:
    """What a source needs to run: where its polls come from, and the adapter that reads them."""

    kind: str
    """cta-train-tracker or gtfs-rt (a replay says which it recorded)."""
    source: Source
    adapter: Adapter
    requests: list[FeedRequest]
    static: bytes | None = None


def live_requests(settings: Settings, kind: str) -> list[FeedRequest]:
    if kind == "cta-train-tracker":
        return [
            cta.positions_request(settings.cta_train_tracker_url, settings.cta_train_tracker_key.get_secret_value())
        ]
    return gtfs_rt.feed_requests(
        settings.gtfs_rt_vehicle_positions_url, settings.gtfs_rt_trip_updates_url, settings.gtfs_rt_alerts_url
    )


class StartProblem(Exception):
    """Something the feed needs at start is not there yet (the static GTFS at a URL, Kafka's topics).

    Unlike a :class:`TransitError` (a user's mistake: a missing key or URL, a recording or a static file
    on disk that is no such thing, which no retry can cure), it is retried with backoff while the feed
    reports itself degraded, with the reason and since when.
    """


@dataclass
class FeedPlan:
    """What the settings say to run, checked without the network: the source and its requests."""

    kind: str
    source: Source
    requests: list[FeedRequest]
    static: bytes | None = None
    """The static GTFS when the plan holds it already (a gtfs-rt recording carries its own)."""


def plan_feed(settings: Settings) -> FeedPlan:
    """The source ``settings.source`` names; :class:`TransitError` for a user's mistake (no network used)."""
    replay = settings.replay_dir
    if replay is not None:
        try:
            recording = read_recording(replay)
        except RecordingError as problem:
            raise TransitError(str(problem)) from None
        if recording.source not in ("cta-train-tracker", "gtfs-rt"):
            raise TransitError(f"the recording's source {recording.source!r} is not one this version reads")
        static = recording.static_path.read_bytes() if recording.static_path is not None else None
        if recording.source == "gtfs-rt" and static is None and not settings.gtfs_static:
            raise TransitError("a gtfs-rt replay without its static GTFS needs gtfs_static")
        return FeedPlan(recording.source, ReplaySource(recording, settings.replay_speed), [], static)
    if settings.source in ("cta-train-tracker", "gtfs-rt"):
        kind = settings.source
        requests = live_requests(settings, kind)
        interval = settings.cta_train_tracker_poll_s if kind == "cta-train-tracker" else settings.gtfs_rt_poll_s
        return FeedPlan(
            kind, LiveSource(requests, interval, settings.feed_timeout_s, settings.feed_retry_attempts), requests
        )
    raise TransitError(f"source {settings.source!r} is no real feed (the simulation runs as `serve simulate`)")


def make_adapter(settings: Settings, plan: FeedPlan, health: FeedHealth) -> Adapter:
    """The adapter of ``plan``. For gtfs-rt this process is the one that fetches the static GTFS (path or
    URL, :func:`~transit_status.networks.fetched_static_gtfs`) and saves it, with its append-only stop-id
    map, for the dashboard and the stream worker (``networks/saved_gtfs.py``); the zip is kept in
    ``plan.static``. A recording's own static GTFS is read from it, as every process reads it.

    A static GTFS at a URL that cannot be fetched or read, or a state directory it cannot be saved in, is a
    :class:`StartProblem` (the agency's server may be down, or mid-update); one on disk that cannot be
    read is a :class:`TransitError`.
    """
    if plan.kind == "cta-train-tracker":
        return cta.TrainTrackerAdapter(load_network(settings), health, settings.feed_stale_polls)
    where = fetched_static_gtfs(settings)
    if where is None:  # a replay with its recording's static GTFS: the same bytes, so the same numbers, everywhere
        try:
            static = static_feed(read_tables(plan.static or b""))
        except GtfsError as problem:
            raise TransitError(str(problem)) from None
        return gtfs_rt.GtfsRealtimeAdapter(static, health, settings.feed_stale_polls)
    remote = where.startswith(("http://", "https://"))
    directory = settings.static_gtfs_dir
    try:
        data = read_gtfs_bytes(where, timeout_s=settings.feed_timeout_s)
        saved = save_static_gtfs(directory, where, data)
    except OSError as problem:  # the state directory (a path's read errors are GtfsErrors)
        raise StartProblem(f"cannot save the static GTFS in {directory}: {problem.strerror or problem}") from None
    except Exception as problem:  # whatever a stranger's zip makes the reader raise: not this process's end
        message = str(problem) if isinstance(problem, GtfsError) else f"unreadable static GTFS ({problem!r:.120})"
        if remote:
            raise StartProblem(message) from None
        if isinstance(problem, GtfsError | KeyError | ValueError):
            raise TransitError(message) from None
        raise
    plan.static = data
    network = saved.feed.network
    log.info(
        "static GTFS saved for the dashboard and the stream worker in %s: %d lines, %d stations, %d new stop ids",
        directory, len(network.lines), len(network.stations), saved.new_ids,
    )  # fmt: skip
    if saved.replaced:
        log.warning(
            "the static GTFS differs from the one saved before: the stops it adds got new numbers, the others "
            "kept theirs; the dashboard and the stream worker read it when they restart"
        )
    return gtfs_rt.GtfsRealtimeAdapter(saved.feed, health, settings.feed_stale_polls)


def open_feed(settings: Settings) -> Feed:
    """The source and adapter ``settings.source`` names, in one try (``record``, tests): a user's mistake or
    a start-up problem is a :class:`TransitError`. ``serve feed`` retries start-up problems instead."""
    plan = plan_feed(settings)
    try:
        adapter = make_adapter(settings, plan, FeedHealth(plan.kind))
    except StartProblem as problem:
        _close(plan.source)
        raise TransitError(str(problem)) from None
    return Feed(plan.kind, plan.source, adapter, plan.requests, plan.static)


T = TypeVar("T")


def until_ready(
    step: Callable[[], T], name: str, health: FeedHealth, health_file: Path, stop: threading.Event, backoff_s: float
) -> T | None:
    """``step()``'s result once it has worked, retried with exponential backoff (from ``backoff_s``, at most
    :data:`START_BACKOFF_MAX_S`) while it raises :class:`StartProblem`; each failure is the feed's health,
    degraded with the reason. None when ``stop`` is set first (the wait ends at once)."""
    delay = backoff_s
    while not stop.is_set():
        try:
            result = step()
        except StartProblem as problem:
            health.start_step(name, str(problem))
            health.write(health_file)
            log.info("%s: %s; trying again in %.0f s", name, problem, delay)
            _wait_writing_health(delay, health, health_file, stop)
            delay = min(delay * 2, START_BACKOFF_MAX_S)
            continue
        health.start_step(name, None)
        health.write(health_file)
        return result
    return None


def _wait_writing_health(seconds: float, health: FeedHealth, health_file: Path, stop: threading.Event) -> None:
    """Wait ``seconds`` (less if stopped), rewriting the health file every :data:`HEALTH_REFRESH_S`: the
    dashboard takes a file left unwritten for a few polls' time for a feed process that hangs (stale)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not stop.wait(min(left, HEALTH_REFRESH_S)):
        health.write(health_file)


def start_feed(settings: Settings, stop: threading.Event) -> Feed | None:
    """The feed, once it has what it needs to start; None when stopped first.

    A user's mistake raises :class:`TransitError` at once (one line, exit 1). The health file says
    ``starting`` from the first moment (a file an earlier run left, of another source or a day old, never
    stands for this one), and ``degraded`` with the reason while the static GTFS cannot be had.
    """
    plan = plan_feed(settings)
    health = FeedHealth(plan.kind)
    health_file = settings.feed_health_file
    health.write(health_file)
    try:
        adapter = until_ready(
            lambda: make_adapter(settings, plan, health), STATIC_STEP, health, health_file, stop,
            settings.feed_start_backoff_s,
        )  # fmt: skip
    except BaseException:
        _close(plan.source)
        raise
    if adapter is None:
        _close(plan.source)
        return None
    return Feed(plan.kind, plan.source, adapter, plan.requests, plan.static)


ADAPTER = "adapter"
PRODUCER = "producer"
HEALTH_FILE = "health-file"
MAX_PENDING = 50_000
"""Arrivals kept for the next try while the producer cannot take them (the registry or Kafka down): hours
of a large network. Beyond it the oldest are dropped, counted and logged, never silently."""
PENDING_RETRY_S = 5.0
"""How often a finished replay tries again to produce what is still pending."""


def drive(
    feed: Feed, stop: threading.Event, emit: Callable[[ArrivalEvent], None], after_poll: Callable[[], None]
) -> int:
    """Feed every poll to the adapter and its arrivals to ``emit`` until ``stop`` (or the replay ends);
    returns the number of polls. One poll's failure, whatever it is, never ends the loop.

    An adapter that fails on a poll, an ``emit`` that fails (the Avro serializer cannot register the
    schema while the registry is down, Kafka refuses the record) and an ``after_poll`` that fails (the
    health file cannot be written) make the feed degraded, with the reason; the next good poll clears it.
    An arrival ``emit`` refused stays pending, in order, and is tried again after the next poll (and, once
    a replay has ended, every :data:`PENDING_RETRY_S` until ``stop``): none is dropped unsaid.
    """
    health = feed.adapter.health
    pending: deque[ArrivalEvent] = deque()
    polls = 0
    for poll in feed.source.polls(stop):
        polls += 1
        try:
            arrivals = feed.adapter.on_poll(poll)
        except Exception as error:  # a defect on one response must not stop the trains
            log.exception("poll %d could not be read", poll.number)
            health.report(ADAPTER, f"{type(error).__name__} reading poll {poll.number}")
            arrivals = []
        else:
            health.problem(ADAPTER, None)  # read again: whatever failed before is behind us
        _keep(pending, arrivals, health)
        _emit_pending(pending, emit, health)
        _after_poll(after_poll, health)
    while pending and not stop.is_set() and not stop.wait(PENDING_RETRY_S):
        _emit_pending(pending, emit, health)  # a finished replay: what the producer refused is still due
        _after_poll(after_poll, health)
    if pending:
        health.count("arrivals_not_produced", len(pending))
        log.error("stopped with %d arrival(s) the producer did not take; they are not produced", len(pending))
    return polls


def _keep(pending: deque[ArrivalEvent], arrivals: list[ArrivalEvent], health: FeedHealth) -> None:
    pending.extend(arrivals)
    dropped = len(pending) - MAX_PENDING
    if dropped > 0:
        for _ in range(dropped):
            pending.popleft()
        health.count("arrivals_dropped", dropped)
        log.error("the producer has refused arrivals for long: dropped the %d oldest pending", dropped)


def _emit_pending(pending: deque[ArrivalEvent], emit: Callable[[ArrivalEvent], None], health: FeedHealth) -> None:
    """Hand every pending arrival to ``emit``, oldest first; at the first refusal, keep it and the rest."""
    while pending:
        try:
            emit(pending[0])
        except Exception as error:  # the registry or Kafka: a passing outage, not the process's end
            reason = f"{len(pending)} arrival(s) waiting: {type(error).__name__}: {str(error)[:160]}"
            if PRODUCER not in health.problems:
                log.warning("could not produce an arrival (%s); kept for the next try", reason)
            health.problem(PRODUCER, reason)
            return
        pending.popleft()
    health.problem(PRODUCER, None)


def _after_poll(after_poll: Callable[[], None], health: FeedHealth) -> None:
    try:
        after_poll()
    except Exception as error:  # e.g. the health file's disk is full: the trains go on
        reason = f"{type(error).__name__}: {str(error)[:160]}"
        if HEALTH_FILE not in health.problems:
            log.warning("after a poll (health file, producer's callbacks): %s; going on", reason)
        health.problem(HEALTH_FILE, reason)
    else:
        # Cleared once it works again (the file written then still names it: the next poll's does not).
        health.problem(HEALTH_FILE, None)


def run_feed(settings: Settings, stop: threading.Event) -> None:
    """The real feed ``settings.source`` names, into the arrivals topic, until ``stop`` is set.

    The entry point for a pipeline process (``serve`` wiring comes with the dashboard's per-network
    layout): the same contract and producer as the simulation, so the stream processors do not change.
    """
    from confluent_kafka import KafkaException

    from transit_status.producers.kafka import EventProducer
    from transit_status.topics import KafkaUnavailableError, ensure_topics

    feed = start_feed(settings, stop)
    if feed is None:
        return
    health_file = settings.feed_health_file

    def topics() -> bool:
        try:
            ensure_topics(settings, timeout_s=settings.feed_timeout_s)
        except (KafkaException, KafkaUnavailableError) as error:
            reason = settings.redact(f"Kafka at {settings.bootstrap_servers} cannot create the topics ({error})")
            raise StartProblem(reason) from None
        return True

    with _closing(feed):
        backoff_s = settings.feed_start_backoff_s
        if not until_ready(topics, TOPICS_STEP, feed.adapter.health, health_file, stop, backoff_s):
            return  # stopped before Kafka was there
        log.info("reading %s (%s); health in %s", feed.kind, settings.source.split(":", 1)[0], health_file)
        counts_dir = settings.delivery_counts_dir("feed")
        with EventProducer(settings, counts_dir=counts_dir, client_id="transit-status-feed", stop=stop) as producer:

            def after_poll() -> None:
                producer.poll()
                feed.adapter.health.write(health_file)

            polls = drive(feed, stop, producer.send_arrival, after_poll)
            log.info("stopped after %d polls; delivered %s", polls, dict(producer.stats.delivered))


def record_feed(
    settings: Settings,
    out: Path,
    stop: threading.Event,
    polls: int | None = None,
    report: Callable[[str], None] = log.info,
) -> int:
    """``transit-status record``: the live feed's raw responses into ``out`` until ``stop`` or ``polls``."""
    if settings.source not in ("cta-train-tracker", "gtfs-rt"):
        raise TransitError("record needs a live source: --source cta-train-tracker or --source gtfs-rt")
    feed = open_feed(settings)
    urls = {request.feed: request.url for request in feed.requests}
    try:
        recorder = Recorder(out, feed.kind, urls, feed.static)
    except RecordingError as problem:
        raise TransitError(str(problem)) from None
    done = 0
    with _closing(feed):
        try:
            for poll in feed.source.polls(stop):
                recorder.record(poll)
                feed.adapter.on_poll(poll)  # the health says what was recorded
                done += 1
                health = feed.adapter.health
                report(f"poll {done}: {health.state}{(': ' + health.reason) if health.reason else ''}")
                if polls is not None and done >= polls:
                    break
        finally:
            recorder.close()
    return done


@contextmanager
def _closing(feed: Feed) -> Iterator[None]:
    try:
        yield
    finally:
        _close(feed.source)


def _close(source: Source) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()
