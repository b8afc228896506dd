"""Dead letters: a record no consumer could decode, kept byte for byte with where it came from.

Not Faust-specific: any consumer (the Faust worker, the dashboard) builds a :class:`DeadLetter` from
the rejected record's coordinates, bytes and a short reason, and publishes it to
``settings.topic_dead_letters``. The original key, value and headers are kept unchanged so the
record can be replayed; the ``dlq.*`` headers (see docs/ARCHITECTURE.md) say where it came from,
why it was rejected and by whom.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer

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

    def log(self) -> None:
        log.warning(
            "dead letter: %s rejected %s[%d]@%d: %s",
            self.consumer,
            self.topic,
            self.partition,
            self.offset,
            self.short_error,
        )


def normalise_headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """Headers as ``(name, bytes)`` pairs, whatever client delivered them (list, tuple, dict or None)."""
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, dict) else headers
    return tuple((str(name), value if isinstance(value, bytes) else bytes(value or b"")) for name, value in items)


def publish(producer: Producer, settings: Settings, letter: DeadLetter) -> None:
    """Log ``letter`` and queue it on the dead-letter topic with a confluent-kafka producer.

    Delivery follows the producer's own guarantees; call ``producer.flush()`` (or poll) as usual.
    """
    letter.log()
    producer.produce(
        settings.topic_dead_letters,
        key=letter.key,
        value=letter.value,
        headers=letter.headers(),
        on_delivery=_report_failed_delivery,
    )


def _report_failed_delivery(error: Any, message: Any) -> None:
    if error is not None:
        log.error("could not publish a dead letter to %s: %s", message.topic(), error)
