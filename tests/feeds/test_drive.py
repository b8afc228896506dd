"""The poll loop (`drive`) around what may fail besides the adapter: the producer (the Avro serializer
registering its schema while the registry is down, Kafka refusing a record) and the health file. The
feed goes on degraded, says why, and produces every arrival once the producer takes them again, in order.

The polls are the CONSTRUCTED Train Tracker recording (recordings/README.md), replayed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from transit_status.config import load_settings
from transit_status.feeds import runner
from transit_status.feeds.runner import Feed, drive, open_feed
from transit_status.platform.ports import isolated_settings
from transit_status.producers.kafka import EventProducer
from transit_status.simulation.events import ArrivalEvent

RECORDING = Path(__file__).parent / "recordings" / "cta-train-tracker-constructed"


def replay(tmp_path: Path) -> Feed:
    return open_feed(load_settings(state_dir=tmp_path, source=f"replay:{RECORDING}", replay_speed=1000.0))


def every_arrival(tmp_path: Path) -> list[ArrivalEvent]:
    arrivals: list[ArrivalEvent] = []
    drive(replay(tmp_path / "reference"), threading.Event(), arrivals.append, lambda: None)
    return arrivals


def reported(feed: Feed) -> str:
    health = feed.adapter.health
    return f"{health.state}: {health.reason}" if health.reason else health.state


class Outage:
    """An ``emit`` that refuses arrivals while ``down`` (as the serializer does while the registry is down)."""

    def __init__(self) -> None:
        self.down = True
        self.produced: list[ArrivalEvent] = []

    def __call__(self, arrival: ArrivalEvent) -> None:
        if self.down:
            raise ConnectionError("Schema Registry unreachable")
        self.produced.append(arrival)


def test_arrivals_the_producer_refuses_are_kept_and_produced_in_order_once_it_takes_them(tmp_path: Path) -> None:
    expected = every_arrival(tmp_path)
    assert len(expected) == 4 and all(a for a in expected)
    feed = replay(tmp_path / "state")
    emit = Outage()
    states: list[str] = []

    def after_poll() -> None:
        states.append(reported(feed))
        if len(states) == 2:
            emit.down = False  # the registry is back for the third poll

    drive(feed, threading.Event(), emit, after_poll)
    assert states[1].startswith("degraded: producer: ")  # the second poll's arrivals were refused
    assert "ConnectionError: Schema Registry unreachable" in states[1]
    assert states[2] == "ok"
    key = [(a.train_id, a.station_id, a.at) for a in expected]
    assert [(a.train_id, a.station_id, a.at) for a in emit.produced] == key  # none lost, none twice, in order


def test_a_finished_replay_keeps_trying_what_the_producer_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PENDING_RETRY_S", 0.01)
    expected = every_arrival(tmp_path)
    feed = replay(tmp_path / "state")
    emit = Outage()
    retries: list[str] = []

    def after_poll() -> None:
        retries.append(reported(feed))
        if len(retries) == 5:
            emit.down = False  # two tries after the replay's last poll

    drive(feed, threading.Event(), emit, after_poll)  # returns once everything is produced
    assert len(emit.produced) == len(expected) and feed.adapter.health.state == "ok"
    assert retries[3].startswith("degraded: producer: 4 arrival(s) waiting")


def test_a_stop_ends_the_wait_and_says_how_many_arrivals_were_not_produced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = replay(tmp_path / "state")
    stop = threading.Event()
    polls: list[int] = []

    def after_poll() -> None:
        polls.append(1)
        if len(polls) == 3:
            stop.set()

    drive(feed, stop, Outage(), after_poll)
    assert feed.adapter.health.counts["arrivals_not_produced"] == 4
    assert any("4 arrival(s) the producer did not take" in r.getMessage() for r in caplog.records)


def test_a_real_producer_whose_registry_is_down_degrades_the_feed_and_never_ends_the_loop(tmp_path: Path) -> None:
    # Nothing listens at this state's registry or Kafka ports: the Avro serializer fails on the first
    # arrival as it registers the schema (before the fix this escaped drive() and ended the process).
    settings = isolated_settings(tmp_path / "platform")
    feed = replay(tmp_path / "state")
    stop = threading.Event()
    states: list[str] = []

    def after_poll() -> None:
        states.append(reported(feed))
        if len(states) == 3:
            stop.set()

    producer = EventProducer(settings, client_id="test-feed")
    try:
        assert drive(feed, stop, producer.send_arrival, after_poll) == 3
    finally:
        producer.producer.purge()
        producer.close()
    assert states[0] == "ok" and states[2].startswith("degraded: producer: 4 arrival(s) waiting: ")
    assert feed.adapter.health.counts["arrivals_not_produced"] == 4


def test_a_health_file_that_cannot_be_written_degrades_the_feed_but_the_polls_go_on(tmp_path: Path) -> None:
    feed = replay(tmp_path / "state")
    produced: list[ArrivalEvent] = []
    calls: list[str] = []

    def after_poll() -> None:
        calls.append(reported(feed))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")

    assert drive(feed, threading.Event(), produced.append, after_poll) == 3
    assert calls[1] == "degraded: health-file: OSError: [Errno 28] No space left on device"
    assert feed.adapter.health.state == "ok" and len(produced) == 4  # written again: cleared
