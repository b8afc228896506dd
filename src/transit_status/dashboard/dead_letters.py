"""A small dead-letter publisher: bad input records go to ``settings.topic_dead_letters`` unchanged.

The original key and value bytes are kept, with headers ``dlq.topic``, ``dlq.partition``,
``dlq.offset``, ``dlq.error`` and ``dlq.consumer`` (docs/ARCHITECTURE.md). The dashboard re-reads
its inputs on every start, so before its first dead letter it reads the tail of the dead-letter
topic and skips records it already dead-lettered in an earlier run (no duplicate per restart).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from transit_status.config import Settings

log = logging.getLogger(__name__)

CONSUMER_NAME = "dashboard"
ERROR_LIMIT = 500
"""dlq.error is a short reason; longer texts are cut."""
DEDUP_TAIL = 5000
"""How many of the newest dead letters per partition are checked for earlier runs' copies."""
DEDUP_BUDGET_S = 5.0


class SourceRecord(Protocol):
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


def dead_letter_headers(record: SourceRecord, error: str, consumer: str = CONSUMER_NAME) -> list[tuple[str, bytes]]:
    reason = error if len(error) <= ERROR_LIMIT else error[: ERROR_LIMIT - 3] + "..."
    return [
        ("dlq.topic", str(record.topic()).encode()),
        ("dlq.partition", str(record.partition()).encode()),
        ("dlq.offset", str(record.offset()).encode()),
        ("dlq.error", reason.encode()),
        ("dlq.consumer", consumer.encode()),
    ]


class DeadLetterPublisher:
    """Publishes bad records; never raises into the consumer loop (failures are logged and counted)."""

    def __init__(self, settings: Settings, consumer: str = CONSUMER_NAME) -> None:
        self.settings = settings
        self.topic = settings.topic_dead_letters
        self.consumer_name = consumer
        self._producer: Producer | None = None
        self._already_sent: set[tuple[str, int, int]] | None = None
        self.published = 0
        self.skipped_duplicates = 0
        self.failed = 0

    def publish(self, record: SourceRecord, error: str) -> bool:
        """Send ``record`` to the dead-letter topic; False if it was a duplicate or could not be queued."""
        try:
            producer = self._ensure_ready()
            identity = (str(record.topic()), int(record.partition() or 0), int(record.offset() or 0))
            assert self._already_sent is not None
            if identity in self._already_sent:
                self.skipped_duplicates += 1
                return False
            producer.produce(
                self.topic,
                key=record.key(),
                value=record.value(),
                headers=dead_letter_headers(record, error, self.consumer_name),
                on_delivery=self._on_delivery,
            )
            producer.poll(0)
            self._already_sent.add(identity)
            self.published += 1
            return True
        except (KafkaException, BufferError) as exc:
            self.failed += 1
            log.error("could not dead-letter %s[%s]@%s: %s", record.topic(), record.partition(), record.offset(), exc)
            return False

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            log.error("dead letter to %s not delivered: %s", self.topic, error)

    def poll(self) -> None:
        if self._producer is not None:
            self._producer.poll(0)

    def close(self, timeout_s: float = 10.0) -> None:
        if self._producer is not None:
            remaining = self._producer.flush(timeout_s)
            if remaining:
                log.error("%d dead letters were not delivered before shutdown", remaining)
            self._producer = None

    # ---- setup (lazy: nothing happens until the first bad record) -----------------------------------
    def _ensure_ready(self) -> Producer:
        if self._producer is None:
            self._ensure_topic()
            self._already_sent = self._earlier_dead_letters()
            self._producer = Producer(
                {
                    "bootstrap.servers": self.settings.bootstrap_servers,
                    "client.id": f"transit-status-{self.consumer_name}-dlq",
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                }
            )
        return self._producer

    def _ensure_topic(self) -> None:
        """Create the dead-letter topic if it is missing (brokers here do not auto-create topics)."""
        admin = AdminClient({"bootstrap.servers": self.settings.bootstrap_servers})
        metadata = admin.list_topics(timeout=10)
        if self.topic in metadata.topics and metadata.topics[self.topic].error is None:
            return
        new = NewTopic(
            self.topic,
            num_partitions=1,
            replication_factor=self.settings.replication_factor,
            config={"cleanup.policy": "delete"},
        )
        try:
            admin.create_topics([new], operation_timeout=10)[self.topic].result(timeout=15)
            log.info("created dead-letter topic %s", self.topic)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            raise

    def _earlier_dead_letters(self) -> set[tuple[str, int, int]]:
        """(topic, partition, offset) of this consumer's dead letters among the topic's newest records."""
        seen: set[tuple[str, int, int]] = set()
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "group.id": f"transit-status-{self.consumer_name}-dlq-scan-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            metadata = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            assignment, remaining = [], set()
            for partition in metadata.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10)
                if high > low:
                    assignment.append(TopicPartition(self.topic, partition, max(low, high - DEDUP_TAIL)))
                    remaining.add(partition)
            if not assignment:
                return seen
            consumer.assign(assignment)
            deadline = time.monotonic() + DEDUP_BUDGET_S
            while remaining and time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is None:
                    continue
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition())
                    continue
                headers = {name: value for name, value in message.headers() or [] if value is not None}
                if headers.get("dlq.consumer", b"").decode(errors="replace") != self.consumer_name:
                    continue
                try:
                    seen.add(
                        (
                            headers["dlq.topic"].decode(),
                            int(headers["dlq.partition"]),
                            int(headers["dlq.offset"]),
                        )
                    )
                except (KeyError, ValueError):
                    continue
            if remaining:
                log.warning("read only part of %s's tail for duplicates within %.0fs", self.topic, DEDUP_BUDGET_S)
        except KafkaException as exc:
            log.warning("could not read %s for earlier dead letters: %s", self.topic, exc)
        finally:
            consumer.close()
        return seen
