"""Small helpers the integration tests share: real topics, real consumers, no mocks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.processes import running_service
from transit_status.config import Settings
from transit_status.producers.kafka import read_counts


def create_topic(settings: Settings, partitions: int = 1, prefix: str = "test") -> str:
    """A new uniquely named topic."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})  # keep it alive until done
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(timeout=15)
    # Created is not yet writable: wait until every partition has a leader.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        topic = admin.list_topics(name, timeout=5).topics.get(name)
        if topic and len(topic.partitions) == partitions and all(p.leader >= 0 for p in topic.partitions.values()):
            break
        time.sleep(0.1)
    return name


def consume(settings: Settings, topic: str, expected: int, timeout_s: float = 20.0) -> list[Message]:
    """Read ``topic`` from the beginning until ``expected`` records arrived or the time is up."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                messages.append(message)
    finally:
        consumer.close()
    return messages


def end_offsets(settings: Settings, topic: str, isolation_level: str = "read_committed") -> dict[int, int]:
    """End offset of every partition as a reader at ``isolation_level`` sees it: unchanged offsets mean
    nothing was written. The last stable offset for read_committed (librdkafka's default), the high
    watermark for read_uncommitted: the first below the second means a transaction is still open."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": "test-offsets",
            "isolation.level": isolation_level,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        offsets = {}
        for partition in metadata.topics[topic].partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            offsets[partition] = high
        return offsets
    finally:
        consumer.close()


def read_all(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every committed record of ``topic`` up to its end (isolation.level=read_committed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            # End of partition (its last stable offset, past transaction markers) is reported.
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions]
        consumer.assign(partitions)
        at_end: set[int] = set()
        messages: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout_s} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                continue
            at_end.discard(message.partition())
            messages.append(message)
        return messages
    finally:
        consumer.close()


# Supervisor name of each producer service (``serve simulate`` runs as "simulation"): its counts' folder.
COUNTS_NAME = {"simulate": "simulation", "barriers": "barriers"}


def producer_runs(settings: Settings, service: str) -> list[dict[str, Any]]:
    """Every run's delivery counts of producer ``service`` (``producers/kafka.py``: CountsFile), oldest first."""
    return read_counts(settings.delivery_counts_dir(COUNTS_NAME.get(service, service)))


def acknowledged(settings: Settings, service: str) -> dict[str, Any]:
    """What producer ``service`` reports after a clean stop: one run, final, nothing failed or in flight;
    returns its counts (``delivered`` per topic, ``delivered_by_key`` per topic and key)."""
    runs = producer_runs(settings, service)
    assert len(runs) == 1, f"{service}: expected one run's counts, found {len(runs)}"
    (run,) = runs
    assert run["final"], f"{service} did not write its final counts: {run}"
    assert run["failed"] == {} and run["in_flight"] == 0, f"{service}: deliveries failed or unresolved: {run}"
    assert run["generated"] == run["delivered"], run
    return run


def assert_sigterm_loses_nothing(
    service: str, settings: Settings, log_path: Path, first_topic: str, topics: Sequence[str]
) -> dict[str, int]:
    """Run producer ``service`` until ``first_topic`` has records, SIGTERM it, and check it stopped
    cleanly with exactly the records it reported as acknowledged in each of ``topics``; returns those counts."""
    with running_service(service, settings, log_path) as child:
        child.wait_for(lambda: read_all(settings, first_topic, timeout_s=10), 90, f"the first records on {first_topic}")
        exit_code = child.stop(timeout_s=settings.service_stop_grace_s + 10)
    log = child.log()
    assert exit_code == 0, log[-3000:]
    assert "Traceback" not in log
    delivered: dict[str, int] = acknowledged(settings, service)["delivered"]
    for topic in topics:
        # Idempotent producer, no other writer: what was acknowledged is exactly what the topic holds.
        assert len(read_all(settings, topic)) == delivered[topic], topic
    return delivered
