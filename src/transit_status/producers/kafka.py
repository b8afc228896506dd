"""One shared confluent-kafka Producer per process, with Avro serializers for the simulation's events.

Follows confluent-kafka's own examples: an idempotent producer, ``AvroSerializer`` with schemas
from ``.avsc`` files registered in the Schema Registry, ``poll(0)`` after every produce so
delivery callbacks run, a delivery callback that counts and logs, and ``flush`` on close.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from transit_status.config import Settings
from transit_status.schemas import load_schema
from transit_status.simulation.events import ArrivalEvent, TurnstileEvent
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class DeliveryStats:
    """What was handed to the producer, what the broker acknowledged and what failed, per topic (and
    acknowledged per key): the ground truth a test or a benchmark compares a pipeline's outputs with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generated: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.delivered_by_key: dict[str, Counter[str]] = {}
        self.turnstiles_by_station: Counter[int] = Counter()

    def handed_over(self, topic: str) -> None:
        with self._lock:
            self.generated[topic] += 1

    def record(
        self, topic: str, error: KafkaError | None, station_id: int | None = None, key: str | None = None
    ) -> None:
        with self._lock:
            if error is not None:
                self.failed[topic] += 1
                return
            self.delivered[topic] += 1
            if station_id is not None:
                self.turnstiles_by_station[station_id] += 1
                key = str(station_id)
            if key is not None:
                self.delivered_by_key.setdefault(topic, Counter())[key] += 1

    def not_delivered(self, topic: str) -> None:
        """A failure outside Kafka's callbacks (the weather's REST Proxy gave up)."""
        with self._lock:
            self.failed[topic] += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy as plain JSON types (``in_flight``: handed over, neither acknowledged nor failed)."""
        with self._lock:
            return {
                "generated": dict(self.generated),
                "delivered": dict(self.delivered),
                "failed": dict(self.failed),
                "in_flight": sum(self.generated.values()) - sum(self.delivered.values()) - sum(self.failed.values()),
                "delivered_by_key": {topic: dict(keys) for topic, keys in self.delivered_by_key.items()},
            }


_RUN_NUMBERS = itertools.count()


class ProducerStopped(Exception):
    """A stop came while the producer's local queue was full: the record was not handed over."""


class CountsFile:
    """One run's :class:`DeliveryStats` as a JSON file, rewritten at most every ``every_s`` and at the end.

    Each run gets its own file (``<start ms>-<pid>-<n>.json`` in ``directory``), so a restarted producer
    never overwrites what an earlier run reported. Written atomically (rename), so a reader never sees
    half a file. After a ``kill -9`` the file lags by up to ``every_s``: ``final`` false says so.
    """

    def __init__(self, directory: Path, every_s: float = 1.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.started_ms = now_ms()
        # The run number keeps two files of one process apart when they start within the same millisecond.
        self.path = directory / f"{self.started_ms}-{os.getpid()}-{next(_RUN_NUMBERS):04d}.json"
        self.every_s = every_s
        self._last = float("-inf")  # the first write is never held back

    def write(self, stats: DeliveryStats, final: bool = False) -> None:
        if not final and time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        body = {"pid": os.getpid(), "started_ms": self.started_ms, "written_ms": now_ms(), "final": final}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({**body, **stats.snapshot()}, sort_keys=True))
        os.replace(temporary, self.path)


def read_counts(directory: Path) -> list[dict[str, Any]]:
    """Every run's counts in ``directory``, oldest run first (tests, benchmarks)."""
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


class DeliveringProducer:
    """One idempotent confluent-kafka Producer that counts what the broker acknowledged (context-managed).

    ``poll(0)`` after every produce serves delivery callbacks; ``close`` flushes, so nothing handed
    over is lost silently on a stop. With ``counts_dir`` the counts also go to a :class:`CountsFile`
    (every second from ``poll``, and last after the flush on ``close``). With ``stop``, a produce waiting
    for room in a full local queue (Kafka down) gives up once it is set (:class:`ProducerStopped`).
    """

    def __init__(
        self,
        settings: Settings,
        client_id: str,
        counts_dir: Path | None = None,
        stop: threading.Event | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.producer = Producer(
            {
                **settings.kafka_client_config(),
                "client.id": client_id,
                "enable.idempotence": True,  # no duplicates on retries, per-partition order kept
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                **(extra_config or {}),
            }
        )
        self.stats = DeliveryStats()
        self.counts = CountsFile(counts_dir) if counts_dir is not None else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _produce(self, topic: str, key: bytes, value: bytes, on_delivery: Callable[..., None] | None = None) -> None:
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, on_delivery=on_delivery or self._on_delivery)
                break
            except BufferError:
                if self.stop is not None and self.stop.is_set():
                    raise ProducerStopped(f"stopped with the local queue full: a record to {topic} not sent") from None
                # The local queue is full: serve delivery reports until there is room (or a stop).
                self.producer.poll(0.1)
        self.stats.handed_over(topic)
        self.producer.poll(0)

    def _on_delivery(self, error: KafkaError | None, message: Message, key: str | None = None) -> None:
        """Counts the record (under ``key`` too, when given: e.g. a station name, as a test compares by it)."""
        self.stats.record(message.topic(), error, key=key)
        if error is not None:
            log.error("record to %s not delivered: %s", message.topic(), error)

    def poll(self) -> None:
        self.producer.poll(0)
        if self.counts is not None:
            self.counts.write(self.stats)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still undelivered."""
        return self.producer.flush(timeout_s)

    def close(self) -> None:
        remaining = self.flush()
        if remaining:
            log.error("%d record(s) still undelivered at shutdown", remaining)
        if self.counts is not None:
            self.counts.write(self.stats, final=True)


class EventProducer(DeliveringProducer):
    """Produces arrival and turnstile events as Avro to their topics (context-managed)."""

    def __init__(
        self,
        settings: Settings,
        registry: SchemaRegistryClient | None = None,
        counts_dir: Path | None = None,
        client_id: str = "transit-status-simulation",
        stop: threading.Event | None = None,
    ) -> None:
        # client_id: a real feed's adapter (feeds/runner.py) produces the same arrivals under its own name.
        super().__init__(settings, client_id, counts_dir, stop)
        self.registry = registry or SchemaRegistryClient(settings.schema_registry_client_config())
        self._serializers = {
            name: AvroSerializer(self.registry, load_schema(name)) for name in
            ("arrival_key", "arrival_value", "turnstile_key", "turnstile_value")
        }  # fmt: skip

    def _serialize(self, schema: str, topic: str, field: MessageField, record: dict[str, Any]) -> bytes:
        return self._serializers[schema](record, SerializationContext(topic, field))  # type: ignore[return-value]

    def send_arrival(self, event: ArrivalEvent) -> None:
        topic = self.settings.topic_arrivals
        value = {
            "station_id": event.station_id,
            "station_name": event.station_name,
            "stop_id": event.stop_id,
            "train_id": event.train_id,
            "direction": event.direction,
            "line": event.line,
            "route": event.route,
            "train_status": str(event.train_status),
            "prev_station_id": event.prev_station_id,
            "prev_direction": event.prev_direction,
            "prev_departed_at": epoch_ms(event.prev_departed_at) if event.prev_departed_at else None,
            "simulated_at": epoch_ms(event.at),
            "produced_at": now_ms(),
        }
        key = self._serialize("arrival_key", topic, MessageField.KEY, {"train_id": event.train_id})
        self._produce(topic, key, self._serialize("arrival_value", topic, MessageField.VALUE, value), self._on_delivery)

    def send_turnstile(self, event: TurnstileEvent) -> None:
        topic = self.settings.topic_turnstiles
        value = {
            "station_id": event.station_id,
            "station_name": event.station_name,
            "line": event.line,
            "simulated_at": epoch_ms(event.at),
            "produced_at": now_ms(),
        }
        key = self._serialize("turnstile_key", topic, MessageField.KEY, {"station_id": event.station_id})
        station_id = event.station_id

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self.stats.record(topic, error, station_id)
            if error is not None:
                log.error("turnstile event for station %s not delivered: %s", station_id, error)

        self._produce(topic, key, self._serialize("turnstile_value", topic, MessageField.VALUE, value), on_delivery)
