"""A real feed as a pipeline process: poll (or replay), derive arrivals, produce them like the simulation.

:func:`run_feed` is the process's loop (``settings.source`` says which feed): it produces every arrival
into ``settings.topic_arrivals`` through the shared Avro producer
(:class:`~transit_status.producers.kafka.EventProducer`, the arrival contract), writes the feed's
health to ``settings.feed_health_file`` after every poll, and returns only when ``stop`` is set (or a
replay has played its last poll). A bad response, an unknown id, even an adapter bug on one poll is
logged and reported as a degraded feed; the loop goes on. :func:`record_feed` is ``transit-status
record``: the same polls, written to a directory instead (``recording.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.feeds import cta, gtfs_rt
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedRequest, LiveSource, Poll, Source
from transit_status.feeds.recording import Recorder, RecordingError, ReplaySource, read_recording
from transit_status.networks import load_network
from transit_status.networks.gtfs import GtfsError, StaticFeed, read_gtfs_bytes, read_tables, static_feed
from transit_status.simulation.events import ArrivalEvent

log = logging.getLogger(__name__)


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


def open_feed(settings: Settings) -> Feed:
    """The source and adapter ``settings.source`` names; :class:`TransitError` when it cannot be opened."""
    replay = settings.replay_dir
    static_bytes: bytes | None = None
    if replay is not None:
        try:
            recording = read_recording(replay)
        except RecordingError as problem:
            raise TransitError(str(problem)) from None
        kind = recording.source
        source: Source = ReplaySource(recording, settings.replay_speed)
        requests: list[FeedRequest] = []
        if recording.static_path is not None:
            static_bytes = recording.static_path.read_bytes()
    elif settings.source in ("cta-train-tracker", "gtfs-rt"):
        kind = settings.source
        requests = live_requests(settings, kind)
        interval = settings.cta_train_tracker_poll_s if kind == "cta-train-tracker" else settings.gtfs_rt_poll_s
        source = LiveSource(requests, interval, settings.feed_timeout_s, settings.feed_retry_attempts)
    else:
        raise TransitError(f"source {settings.source!r} is no real feed (the simulation runs as `serve simulate`)")
    health = FeedHealth(kind)
    adapter: Adapter
    if kind == "cta-train-tracker":
        adapter = cta.TrainTrackerAdapter(load_network(settings), health, settings.feed_stale_polls)
    elif kind == "gtfs-rt":
        if static_bytes is None:
            if not settings.gtfs_static:
                raise TransitError("a gtfs-rt replay without its static GTFS needs gtfs_static")
            static_bytes = _gtfs(settings.gtfs_static)
        adapter = gtfs_rt.GtfsRealtimeAdapter(_static(static_bytes), health, settings.feed_stale_polls)
    else:
        raise TransitError(f"the recording's source {kind!r} is not one this version reads")
    return Feed(kind, source, adapter, requests, static_bytes)


def _gtfs(where: str) -> bytes:
    try:
        return read_gtfs_bytes(where)
    except GtfsError as problem:
        raise TransitError(str(problem)) from None


def _static(data: bytes) -> StaticFeed:
    try:
        return static_feed(read_tables(data))
    except GtfsError as problem:
        raise TransitError(str(problem)) from None


def drive(
    feed: Feed, stop: threading.Event, emit: Callable[[ArrivalEvent], None], after_poll: Callable[[], None]
) -> int:
    """Feed every poll to the adapter and its arrivals to ``emit`` until ``stop`` (or the replay ends);
    returns the number of polls. One poll's failure, whatever it is, never ends the loop."""
    polls = 0
    for poll in feed.source.polls(stop):
        polls += 1
        try:
            arrivals = feed.adapter.on_poll(poll)
        except Exception as error:  # a defect on one response must not stop the trains
            log.exception("poll %d could not be read", poll.number)
            feed.adapter.health.report("adapter", f"{type(error).__name__} reading poll {poll.number}")
            arrivals = []
        for arrival in arrivals:
            emit(arrival)
        after_poll()
    return polls


def run_feed(settings: Settings, stop: threading.Event) -> None:
    """The real feed ``settings.source`` names, into the arrivals topic, until ``stop`` is set.

    The entry point for a pipeline process (``serve`` wiring comes with the dashboard's per-network
    layout): the same contract and producer as the simulation, so the stream processors do not change.
    """
    from confluent_kafka import KafkaException

    from transit_status.producers.kafka import EventProducer
    from transit_status.topics import ensure_topics

    feed = open_feed(settings)
    try:
        ensure_topics(settings)
    except KafkaException as error:
        raise TransitError(f"Kafka refused to create the topics at {settings.bootstrap_servers} ({error})") from None
    health_file = settings.feed_health_file
    # This run's health from its start ("starting"): a file an earlier run left (another source, a day
    # old) would otherwise stand for this one until its first poll, up to all its retries later.
    feed.adapter.health.write(health_file)
    log.info("reading %s (%s); health in %s", feed.kind, settings.source.split(":", 1)[0], health_file)
    counts_dir = settings.delivery_counts_dir("feed")
    with _closing(feed), EventProducer(settings, counts_dir=counts_dir, client_id="transit-status-feed") as producer:

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
        close = getattr(feed.source, "close", None)
        if close is not None:
            close()
