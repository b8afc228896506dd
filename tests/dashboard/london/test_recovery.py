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

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from tests.dashboard.london.changelog_writer import CHANGES_PER_TRANSACTION, LINES, STATIONS, ChangelogWriter
from tests.dashboard.support import Topics, run_dashboard, wait_for
from transit_status.config import Settings
from transit_status.platform.ports import private_topics
from transit_status.topics import REPLAYED_TABLE_ROLL_MS, ensure_topics, london_derived_topics

pytestmark = pytest.mark.platform

WRITE_S = 32.0
RECOVERY_BOUND_S = 30.0
# Records newer than this may be uncompacted: the active segment's age, the cleaner's pause (2 s),
# and slack for a cleaning run on a busy machine.
UNCOMPACTED_S = REPLAYED_TABLE_ROLL_MS / 1000 + 6.0


def count_records(settings: Settings, topic: str) -> int:
    """Committed records a reader of ``topic`` from the beginning finds below each partition's end
    offset as it starts (as the dashboard's start-up load counts them: the writer goes on).

    Not "until end of partition": with a transaction committed every 200 ms, every long-polled fetch at
    the end returns new records, so a reader that waits for an empty fetch may never see one.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"test-count-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        reading = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in reading])
        count = 0
        deadline = time.monotonic() + 90
        while reading:
            assert time.monotonic() < deadline, f"could not read {topic} to the end offsets {ends}"
            for message in consumer.consume(10_000, 0.5):
                if message.error() is not None or message.partition() not in reading:
                    continue
                if message.offset() < ends[message.partition()]:
                    count += 1
                # The end offset may be a commit marker, which no reader receives: the next record passes it.
                if message.offset() >= ends[message.partition()] - 1:
                    reading.discard(message.partition())
                    consumer.pause([TopicPartition(topic, message.partition())])
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
    try:
        yield writer
    finally:
        if not writer.final:
            writer.stop()


def test_replayed_topics_stay_compacted_in_use_and_the_london_page_is_live_again_within_the_bound(
    topics: Settings, writer: ChangelogWriter, tmp_path: Path
) -> None:
    started = writer.start()
    line_topic, station_topic = topics.topic_london_line_activity, topics.topic_london_station_activity

    # While the writer goes on, a reader finds the keys plus the newest ~16 s of changes, not everything.
    samples = []
    for at_s in (WRITE_S - 10, WRITE_S):
        time.sleep(max(0.0, started + at_s - time.monotonic()))
        for topic, keys in ((line_topic, LINES), (station_topic, STATIONS)):
            began = time.monotonic()
            found = count_records(topics, topic)
            recent = writer.written_between(began - UNCOMPACTED_S, time.monotonic())
            old = writer.committed_by(began - UNCOMPACTED_S)
            samples.append((topic, round(began - started), found, writer.committed_by(began), recent))
            # Able to fail: records older than the bound were written, and uncompacted they would count.
            assert old >= 3 * CHANGES_PER_TRANSACTION, f"the writer was too slow to show anything: {samples}"
            assert found <= len(keys) + recent, samples

    # A dashboard started now, with the writer still going, is live within the bound and reads
    # only what compaction left (plus what arrives meanwhile).
    launched = time.monotonic()
    with run_dashboard(topics, Topics(topics), tmp_path) as dashboard:

        def loaded() -> dict[str, object] | None:
            london = dashboard.get("/healthz").json()["london"]
            live = all(t["state"] == "live" for t in london["topics"].values())
            return london if live and london["reason"] is None else None  # reason: what it still loads

        london = wait_for(loaded, RECOVERY_BOUND_S, "London live after the start", dashboard, every_s=0.1)
        live_after_s = time.monotonic() - launched
        reads: list[tuple[str, int, int]] = []
        assert live_after_s <= RECOVERY_BOUND_S
        for role, keys in (("line_activity", LINES), ("station_activity", STATIONS)):
            read = london["topics"][role]["records"]
            reads.append((role, read, writer.committed_by(time.monotonic())))
            bound = len(keys) + writer.written_between(launched - UNCOMPACTED_S, time.monotonic())
            assert read <= bound, (role, read, bound, samples)

        # And the state is the latest count of every key once the writer stops.
        writer.stop()
        wait_for(
            lambda: (
                {row["line"]: row["entries"] for row in dashboard.get("/api/london/lines").json()}
                == writer.final["lines"]
            ),
            60,  # the dashboard catches up with what the writer wrote meanwhile
            "the latest count of every line",
            dashboard,
        )
        stations = {row["station"]: row["entries"] for row in dashboard.get("/api/london/stations").json()}
        assert stations == writer.final["stations"]
    print(f"recovery: live after {live_after_s:.1f} s; read (role, records, written) {reads}")
    print(f"samples (topic, s, found, written, bound) {samples}")


def test_an_activity_topic_of_an_older_release_gets_todays_compaction_settings(platform: Settings) -> None:
    """A state directory from before this change: the topic exists with one-hour segments (the old
    spec). Starting again (ensure_topics) sets the spec's keys and leaves the rest alone."""
    settings = private_topics(platform, f"old-{uuid.uuid4().hex[:8]}")
    topic = settings.topic_london_line_activity
    old = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"}
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1, config={**old, "retention.bytes": "123456789"})])[topic].result(15)
    wait_for(lambda: topic in admin.list_topics(timeout=5).topics, 15, "the old topic")

    ensure_topics(settings, london_derived_topics(settings))

    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(15)
    spec = next(spec for spec in london_derived_topics(settings) if spec.name == topic)
    assert {key: configs[key].value for key in spec.config} == spec.config
    assert configs["segment.ms"].value == str(REPLAYED_TABLE_ROLL_MS)
    assert configs["retention.bytes"].value == "123456789"  # not the spec's: left as it was
