"""What the stream tests share: a real worker subprocess, real producers and read_committed readers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import read_all
from tests.processes import ServiceProcess, running_service
from transit_status.config import Settings
from transit_status.networks import load_data_network
from transit_status.platform.ports import private_topics
from transit_status.platform.services.postgres import STATION_COLUMNS, station_rows
from transit_status.schemas import load_schema


def unique_settings(settings: Settings, name: str) -> Settings:
    """``settings`` with its own app id and topics, so a test shares no state with another."""
    return private_topics(settings, f"test-{name}-{uuid.uuid4().hex[:8]}")


def start_worker(settings: Settings, log_path: Path) -> ServiceProcess:
    return ServiceProcess("streams", settings, log_path).start()


def wait_worker_ready(worker: ServiceProcess, timeout_s: float = 60.0) -> None:
    """Until the worker has (again) joined the group and recovered its tables."""
    ready_before = worker.log().count("Worker ready")
    worker.wait_for(lambda: worker.log().count("Worker ready") > ready_before, timeout_s, "worker ready")


@contextmanager
def running_worker(settings: Settings, log_path: Path) -> Iterator[ServiceProcess]:
    with running_service("streams", settings, log_path) as worker:
        wait_worker_ready(worker)
        yield worker


# ---- inputs -------------------------------------------------------------------------------------
def raw_station_rows(settings: Settings) -> list[dict[str, Any]]:
    """The stations table's rows, as Connect (Debezium + ExtractNewRecordState) writes them."""
    return [dict(zip(STATION_COLUMNS, row, strict=True)) for row in station_rows(load_data_network(settings))]


def produce_raw(settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def station_record(row: dict[str, Any]) -> tuple[bytes, bytes]:
    return json.dumps({"stop_id": row["stop_id"]}).encode(), json.dumps(row).encode()


class TurnstileProducer:
    """Turnstile events in Confluent Avro, serialized like the simulation producer does."""

    def __init__(self, settings: Settings) -> None:
        registry = SchemaRegistryClient({"url": settings.schema_registry_url})
        self.topic = settings.topic_turnstiles
        self.key_serializer = AvroSerializer(registry, load_schema("turnstile_key"))
        self.value_serializer = AvroSerializer(registry, load_schema("turnstile_value"))
        self.producer = Producer(
            {"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True}
        )

    def serialize(self, station_id: int, station_name: str, at_ms: int) -> tuple[bytes, bytes]:
        value = {
            "station_id": station_id,
            "station_name": station_name,
            "line": "red",
            "simulated_at": at_ms,
            "produced_at": at_ms,
        }
        key = self.key_serializer({"station_id": station_id}, SerializationContext(self.topic, MessageField.KEY))
        return key, self.value_serializer(value, SerializationContext(self.topic, MessageField.VALUE))  # type: ignore[return-value]

    def produce(self, events: Iterable[tuple[int, str]]) -> int:
        count = 0
        now_ms = int(time.time() * 1000)
        for station_id, station_name in events:
            key, value = self.serialize(station_id, station_name, now_ms)
            self.send(key, value)
            count += 1
        self.flush()
        return count

    def send(self, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self.producer.produce(self.topic, key=key, value=value)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(60) == 0


# ---- outputs ------------------------------------------------------------------------------------
def latest_json_by_key(settings: Settings, topic: str, **read_kwargs: Any) -> dict[str, Any]:
    """Compacted view of a JSON topic: key (as text) → latest value (None for a tombstone)."""
    latest: dict[str, Any] = {}
    for message in read_all(settings, topic, **read_kwargs):
        value = message.value()
        latest[message.key().decode()] = None if value is None else json.loads(value)
    return latest
