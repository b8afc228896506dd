"""Bounded recovery (issue 14): London's replayed tables stay compacted while they are written, and a
dashboard started on a long-written topic is live within the bound.

Real processes, nothing mocked: the activity topics are created from ``topics.london_derived_topics``
(the production spec) on the session's broker (the production broker settings); a transactional
producer writes count changes as Flink's exactly-once upsert sink did before it buffered them (every
change a record, one transaction per "checkpoint"); the dashboard is a real ``serve dashboard``
process. Without compaction of the topics in use, the records left and the records the dashboard
reads on start are all those written, and the assertions on them fail.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import time
import uuid
from bisect import bisect_right
from collections.abc import Iterator
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from tests.dashboard.support import Topics, run_dashboard, wait_for
from transit_status.config import Settings
from transit_status.platform.ports import private_topics
from transit_status.topics import REPLAYED_TABLE_ROLL_MS, ensure_topics, london_derived_topics

pytestmark = pytest.mark.platform

LINES = [f"line-{n:02d}" for n in range(11)]
STATIONS = [f"Station {n:03d}" for n in range(270)]
CHANGES_PER_TRANSACTION = 1_000  # per topic: a tap changes one station's count and one line's
TRANSACTIONS_PER_S = 5.0
WRITE_S = 32.0
RECOVERY_BOUND_S = 30.0
# Records newer than this may be uncompacted: the active segment's age, the cleaner's pause (2 s),
# and slack for a cleaning run on a busy machine.
UNCOMPACTED_S = REPLAYED_TABLE_ROLL_MS / 1000 + 6.0


class ChangelogWriter:
    """Count changes on the line and station activity topics in transactions, as an exactly-once sink.

    In a process of its own, so the test's readers and the writer do not share one interpreter lock.
    """

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with librdkafka threads
        self._stop = context.Event()
        self._reports: multiprocessing.Queue[tuple[float, int] | tuple[str, dict[str, int]]] = context.Queue()
        self._process = context.Process(
            target=write_changelog,
            args=(
                settings.bootstrap_servers,
                settings.topic_london_line_activity,
                settings.topic_london_station_activity,
                self._stop,
                self._reports,
            ),
            name="changelog-writer",
            daemon=True,
        )
        self.committed_at: list[float] = [time.monotonic()]
        self.committed: list[int] = [0]  # records per topic committed by committed_at[i]
        self.final: dict[str, dict[str, int]] = {}

    def start(self) -> None:
        self.committed_at = [time.monotonic()]
        self._process.start()

    def stop(self) -> None:
        """Stop writing; the latest count of every key is then in ``final``."""
        self._stop.set()
        deadline = time.monotonic() + 60
        while len(self.final) < 2 and time.monotonic() < deadline:
            self.update(timeout_s=1.0)
        self._process.join(30)
        assert self.final.keys() == {"lines", "stations"}, (
            f"the writer ended without its counts ({self._process.exitcode})"
        )

    def update(self, timeout_s: float = 0.0) -> None:
        """Take in the writer's reports of committed transactions (and its final counts)."""
        assert self._process.is_alive() or not self._reports.empty() or self.final, "the writer died"
        try:
            while True:
                first, second = self._reports.get(timeout=timeout_s)
                if isinstance(first, str):
                    self.final[first] = second  # type: ignore[assignment]
                else:
                    self.committed_at.append(first)
                    self.committed.append(second)  # type: ignore[arg-type]
                timeout_s = 0.0
        except queue.Empty:
            pass

    def committed_by(self, moment: float) -> int:
        """Records per topic committed at or before ``moment`` (monotonic clock, the same in every process)."""
        self.update()
        return self.committed[max(0, bisect_right(self.committed_at, moment) - 1)]

    def written_between(self, start: float, end: float) -> int:
        """Records per topic that may have been committed within (start, end]: every transaction that
        had not committed by ``start`` and had by ``end``, plus the one under way at either end."""
        return self.committed_by(end) - self.committed_by(start) + 2 * CHANGES_PER_TRANSACTION


def write_changelog(
    bootstrap_servers: str,
    line_topic: str,
    station_topic: str,
    stop: EventType,
    reports: multiprocessing.Queue[tuple[float, int] | tuple[str, dict[str, int]]],
) -> None:
    """The writer process: one transaction of count changes every 1/TRANSACTIONS_PER_S s until stopped."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "transactional.id": f"test-recovery-{uuid.uuid4().hex[:8]}",
            "linger.ms": 5,
        }
    )
    producer.init_transactions(30)
    lines = dict.fromkeys(LINES, 0)
    stations = dict.fromkeys(STATIONS, 0)
    taps = committed = 0
    while not stop.is_set():
        started = time.monotonic()
        producer.begin_transaction()
        for _ in range(CHANGES_PER_TRANSACTION):
            station, line = STATIONS[taps % len(STATIONS)], LINES[taps % len(LINES)]
            taps += 1
            stations[station] += 1
            lines[line] += 1
            entries = stations[station]
            producer.produce(
                station_topic,
                key=json.dumps({"station": station}),
                value=json.dumps(
                    {"station": station, "known": True, "entries": entries, "exits": 0, "inside": entries}
                ),
            )
            entries = lines[line]
            producer.produce(
                line_topic,
                key=json.dumps({"line": line}),
                value=json.dumps({"line": line, "entries": entries, "exits": 0, "inside": entries}),
            )
            producer.poll(0)
        producer.commit_transaction(30)
        committed += CHANGES_PER_TRANSACTION
        reports.put((time.monotonic(), committed))
        stop.wait(max(0.0, 1 / TRANSACTIONS_PER_S - (time.monotonic() - started)))
    reports.put(("lines", lines))
    reports.put(("stations", stations))


def count_records(settings: Settings, topic: str) -> int:
    """Committed records a reader of ``topic`` from the beginning finds, up to each partition's end."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"test-count-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        at_end: set[int] = set()
        count = 0
        deadline = time.monotonic() + 30
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for message in consumer.consume(10_000, 0.5):
                if message.error() is None:
                    count += 1
                    at_end.discard(message.partition())
                elif message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
        return count
    finally:
        consumer.close()


@pytest.fixture
def topics(platform: Settings) -> Settings:
    settings = private_topics(platform, f"recovery-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings.with_overrides(partitions=2), london_derived_topics(settings))
    return settings


@pytest.fixture
def writer(topics: Settings) -> Iterator[ChangelogWriter]:
    writer = ChangelogWriter(topics)
    writer.start()
    try:
        yield writer
    finally:
        if not writer.final:
            writer.stop()


def test_replayed_topics_stay_compacted_in_use_and_the_london_page_is_live_again_within_the_bound(
    topics: Settings, writer: ChangelogWriter, tmp_path: Path
) -> None:
    started = writer.committed_at[0]
    line_topic, station_topic = topics.topic_london_line_activity, topics.topic_london_station_activity

    # While the writer goes on, a reader finds the keys plus the newest ~16 s of changes, not everything.
    samples = []
    for at_s in (WRITE_S - 10, WRITE_S):
        time.sleep(max(0.0, started + at_s - time.monotonic()))
        for topic, keys in ((line_topic, LINES), (station_topic, STATIONS)):
            began = time.monotonic()
            found = count_records(topics, topic)
            recent = writer.written_between(began - UNCOMPACTED_S, time.monotonic())
            samples.append((topic, round(began - started), found, writer.committed_by(began), recent))
            assert found <= len(keys) + recent, samples
    assert writer.committed_by(time.monotonic()) >= CHANGES_PER_TRANSACTION * WRITE_S, "the writer fell behind"

    # A dashboard started now, with the writer still going, is live within the bound and reads
    # only what compaction left (plus what arrives meanwhile).
    launched = time.monotonic()
    with run_dashboard(topics, Topics(topics), tmp_path) as dashboard:

        def loaded() -> dict[str, object] | None:
            london = dashboard.get("/healthz").json()["london"]
            live = all(t["state"] == "live" for t in london["topics"].values())
            return london if live and london["status"] != "unavailable" else None

        london = wait_for(loaded, RECOVERY_BOUND_S, "London live after the start", dashboard, every_s=0.1)
        live_after_s = time.monotonic() - launched
        reads: list[tuple[str, int, int]] = []
        assert live_after_s <= RECOVERY_BOUND_S
        for role, keys in (("line_activity", LINES), ("station_activity", STATIONS)):
            read = london["topics"][role]["records"]
            reads.append((role, read, writer.committed_by(time.monotonic())))
            assert read <= len(keys) + writer.written_between(launched - UNCOMPACTED_S, time.monotonic()), (role, read)

        # And the state is the latest count of every key once the writer stops.
        writer.stop()
        wait_for(
            lambda: (
                {row["line"]: row["entries"] for row in dashboard.get("/api/london/lines").json()}
                == writer.final["lines"]
            ),
            20,
            "the latest count of every line",
            dashboard,
        )
        stations = {row["station"]: row["entries"] for row in dashboard.get("/api/london/stations").json()}
        assert stations == writer.final["stations"]
    print(f"recovery: live after {live_after_s:.1f} s; read (role, records, written) {reads}")
    print(f"samples (topic, s, found, written, bound) {samples}")
