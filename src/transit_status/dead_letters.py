"""Dead letters: a record no consumer could decode, kept byte for byte with where it came from.

Shared by every consumer (the Faust worker, the dashboard): build a :class:`DeadLetter` from the
rejected record (confluent-kafka ``Message``, aiokafka ``ConsumerRecord`` or Faust ``Message``) and
a short reason, and publish it to ``settings.topic_dead_letters`` (:func:`publish` with a
confluent-kafka producer; the stream worker appends it to its input partition's transaction
instead, see ``streams/dead_letters.py``). The original key, value and headers are kept unchanged so
the record can be replayed; the ``dlq.*`` headers (see docs/ARCHITECTURE.md) say where it came
from, why it was rejected and by whom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Producer

from transit_status.config import Settings

log = logging.getLogger(__name__)

HEADER_TOPIC = "dlq.topic"
HEADER_PARTITION = "dlq.partition"
HEADER_OFFSET = "dlq.offset"
HEADER_ERROR = "dlq.error"
HEADER_CONSUMER = "dlq.consumer"
DLQ_HEADERS = (HEADER_TOPIC, HEADER_PARTITION, HEADER_OFFSET, HEADER_ERROR, HEADER_CONSUMER)
# A reason is a short diagnosis, not a stack trace: keep headers small.
MAX_ERROR_LENGTH = 300

Headers = list[tuple[str, bytes]]
Origin = tuple[str, int, int]
"""Where a rejected record was: (topic, partition, offset)."""


@dataclass(frozen=True)
class DeadLetter:
    """One rejected record: its coordinates, its original bytes, why and by whom."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str
    consumer: str
    original_headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)

    @classmethod
    def from_message(cls, message: Any, error: str, consumer: str) -> DeadLetter:
        """From a confluent-kafka ``Message``, an aiokafka ``ConsumerRecord`` or a Faust ``Message``.

        confluent-kafka exposes the coordinates as methods, aiokafka and Faust as attributes.
        """

        def read(name: str) -> Any:
            attribute = getattr(message, name)
            return attribute() if callable(attribute) else attribute

        return cls(
            topic=read("topic"),
            partition=read("partition"),
            offset=read("offset"),
            key=read("key"),
            value=read("value"),
            error=error,
            consumer=consumer,
            original_headers=normalise_headers(read("headers")),
        )

    @property
    def origin(self) -> Origin:
        return (self.topic, self.partition, self.offset)

    @property
    def short_error(self) -> str:
        reason = " ".join(self.error.split())
        return reason if len(reason) <= MAX_ERROR_LENGTH else reason[: MAX_ERROR_LENGTH - 1] + "…"

    def headers(self) -> Headers:
        """The original headers (minus stale ``dlq.*`` ones), then this rejection's ``dlq.*`` headers."""
        kept = [(name, value) for name, value in self.original_headers if name not in DLQ_HEADERS]
        return [
            *kept,
            (HEADER_TOPIC, self.topic.encode()),
            (HEADER_PARTITION, str(self.partition).encode()),
            (HEADER_OFFSET, str(self.offset).encode()),
            (HEADER_ERROR, self.short_error.encode()),
            (HEADER_CONSUMER, self.consumer.encode()),
        ]

    def log(self, outcome: str = "dead-lettered") -> None:
        log.warning(
            "bad record on %s[%d]@%d (%s by %s): %s",
            self.topic,
            self.partition,
            self.offset,
            outcome,
            self.consumer,
            self.short_error,
        )


def normalise_headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """Headers as ``(name, bytes)`` pairs, whatever client delivered them (list, tuple, dict or None)."""
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, dict) else headers
    return tuple((str(name), value if isinstance(value, bytes) else bytes(value or b"")) for name, value in items)


def rejected_by(headers: Any) -> tuple[str, Origin] | None:
    """(consumer, origin) from a dead letter's ``dlq.*`` headers; None if they are missing or malformed."""
    found = dict(normalise_headers(headers))
    try:
        origin = (found[HEADER_TOPIC].decode(), int(found[HEADER_PARTITION]), int(found[HEADER_OFFSET]))
        return found[HEADER_CONSUMER].decode(errors="replace"), origin
    except (KeyError, ValueError):
        return None


def publish(
    producer: Producer,
    settings: Settings,
    letter: DeadLetter,
    on_failure: Callable[[KafkaError], None] | None = None,
) -> None:
    """Queue ``letter`` on the dead-letter topic with a confluent-kafka producer, and log it.

    Delivery follows the producer's own guarantees; call ``producer.flush()`` (or poll) as usual. A
    failed delivery is logged, then handed to ``on_failure`` (e.g. to count it).
    """

    def report_failed_delivery(error: KafkaError | None, message: Any) -> None:
        if error is not None:
            log.error("could not publish a dead letter to %s: %s", message.topic(), error)
            if on_failure is not None:
                on_failure(error)

    producer.produce(
        settings.topic_dead_letters,
        key=letter.key,
        value=letter.value,
        headers=letter.headers(),
        on_delivery=report_failed_delivery,
    )
    letter.log()
