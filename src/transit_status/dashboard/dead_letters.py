"""The dashboard's dead-letter publisher: bad input records go to ``settings.topic_dead_letters`` unchanged.

What a dead letter is (bytes, ``dlq.*`` headers, log line) lives in ``transit_status.dead_letters``.
Specific to the dashboard: it re-reads its inputs on every start, so before its first dead letter it
reads the tail of the dead-letter topic and skips records it already dead-lettered in an earlier run
(no duplicate per restart); and publishing never raises into the consumer loop.
"""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from transit_status.config import Settings
from transit_status.dead_letters import DeadLetter, Origin, publish, rejected_by
from transit_status.topics import KafkaUnavailableError, dead_letters_topic, ensure_topics

log = logging.getLogger(__name__)

CONSUMER_NAME = "dashboard"
DEDUP_TAIL = 5000
"""How many of the newest dead letters per partition are checked for earlier runs' copies."""
DEDUP_BUDGET_S = 5.0


class DeadLetterPublisher:
    """Publishes bad records; never raises into the consumer loop (failures are logged and counted)."""

    def __init__(self, settings: Settings, consumer: str = CONSUMER_NAME) -> None:
        self.settings = settings
        self.topic = settings.topic_dead_letters
        self.consumer_name = consumer
        self._producer: Producer | None = None
        self._already_sent: set[Origin] | None = None
        self.published = 0
        self.skipped_duplicates = 0
        self.failed = 0

    def publish(self, record: Message, error: str) -> bool:
        """Send ``record`` to the dead-letter topic; False if it was a duplicate or could not be queued."""
        letter = DeadLetter.from_message(record, error, self.consumer_name)
        try:
            producer = self._ensure_ready()
            assert self._already_sent is not None
            if letter.origin in self._already_sent:
                self.skipped_duplicates += 1
                letter.log("dead-lettered by an earlier run, not sent again")
                return False
            publish(producer, self.settings, letter, on_failure=self._count_failure)
            producer.poll(0)
            self._already_sent.add(letter.origin)
            self.published += 1
            return True
        except (KafkaException, KafkaUnavailableError, BufferError) as exc:
            self.failed += 1
            log.error(
                "could not dead-letter %s[%s]@%s (%s): %s", letter.topic, letter.partition, letter.offset, error, exc
            )
            return False

    def _count_failure(self, error: KafkaError) -> None:
        self.failed += 1

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
            # Brokers here do not auto-create topics: create it as topics.py specifies if it is missing.
            ensure_topics(self.settings, [dead_letters_topic(self.settings)], timeout_s=10)
            self._already_sent = self._earlier_dead_letters()
            self._producer = Producer(
                {
                    **self.settings.kafka_client_config(),
                    "client.id": f"transit-status-{self.consumer_name}-dlq",
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                }
            )
        return self._producer

    def _earlier_dead_letters(self) -> set[Origin]:
        """Where this consumer's dead letters among the topic's newest records came from."""
        seen: set[Origin] = set()
        consumer = Consumer(
            {
                **self.settings.kafka_client_config(),
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
                rejection = rejected_by(message.headers())
                if rejection is not None and rejection[0] == self.consumer_name:
                    seen.add(rejection[1])
            if remaining:
                log.warning("read only part of %s's tail for duplicates within %.0fs", self.topic, DEDUP_BUDGET_S)
        except KafkaException as exc:
            log.warning("could not read %s for earlier dead letters: %s", self.topic, exc)
        finally:
            consumer.close()
        return seen
