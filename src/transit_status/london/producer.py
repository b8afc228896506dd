"""London's barrier taps to Kafka: ``transit-status serve barriers``.

Entries go to ``settings.topic_london_entries`` and exits to ``settings.topic_london_exits`` (by
default ``entries`` and ``exits``, as in the original design), keyed by the station's name so one
station's taps stay in order in one partition. ``settings.london_barrier_format`` picks the
encoding:

* ``json``, the original design's shape: the key is the name as UTF-8 text, the value
  ``{"user": "<card>", "delta": 1}`` (``-1`` for an exit).
* ``avro``: the same fields in Confluent's wire format, schemas ``barrier_key`` (``{"station"}``)
  and ``barrier_value`` (``{"user", "delta"}``) registered under ``<topic>-key`` and ``<topic>-value``
  (TopicNameStrategy).

Records go through the shared idempotent producer (:class:`~transit_status.producers.kafka.DeliveringProducer`):
``poll(0)`` after every produce, delivery callbacks counting what the broker acknowledged, and a
flush on close, so a stop loses nothing that was handed over.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.london.barriers import ENTRY, BarrierConfig, BarrierEvent, BarrierSimulation
from transit_status.networks import load_network_from
from transit_status.networks.london import NETWORK_NAME
from transit_status.producers.kafka import DeliveringProducer
from transit_status.schemas import load_schema
from transit_status.simulation import SimulationClock, run_realtime
from transit_status.topics import ensure_topics, london_barrier_topics

log = logging.getLogger(__name__)

Encoder = Callable[[str, BarrierEvent], tuple[bytes, bytes]]
"""(topic, event) -> (key bytes, value bytes)."""


def barrier_value(event: BarrierEvent) -> dict[str, str | int]:
    return {"user": event.card, "delta": event.delta}


def json_encoder() -> Encoder:
    def encode(topic: str, event: BarrierEvent) -> tuple[bytes, bytes]:
        return event.station_name.encode(), json.dumps(barrier_value(event), separators=(",", ":")).encode()

    return encode


def avro_encoder(registry: SchemaRegistryClient) -> Encoder:
    key_serializer = AvroSerializer(registry, load_schema("barrier_key"))
    value_serializer = AvroSerializer(registry, load_schema("barrier_value"))

    def encode(topic: str, event: BarrierEvent) -> tuple[bytes, bytes]:
        key = key_serializer({"station": event.station_name}, SerializationContext(topic, MessageField.KEY))
        value = value_serializer(barrier_value(event), SerializationContext(topic, MessageField.VALUE))
        return key, value  # type: ignore[return-value]

    return encode


def encoder_for(settings: Settings, registry: SchemaRegistryClient | None = None) -> Encoder:
    """The encoder of ``settings.london_barrier_format`` (the registry's client made if none is given)."""
    if settings.london_barrier_format == "avro":
        return avro_encoder(registry or SchemaRegistryClient(settings.schema_registry_client_config()))
    return json_encoder()


class BarrierProducer(DeliveringProducer):
    """Produces barrier taps to the entries and exits topics (context-managed)."""

    def __init__(
        self, settings: Settings, registry: SchemaRegistryClient | None = None, counts_dir: Path | None = None
    ) -> None:
        super().__init__(settings, "transit-status-barriers", counts_dir)
        self._encode = encoder_for(settings, registry)

    def topic_of(self, event: BarrierEvent) -> str:
        return self.settings.topic_london_entries if event.delta == ENTRY else self.settings.topic_london_exits

    def send(self, event: BarrierEvent) -> None:
        topic = self.topic_of(event)
        key, value = self._encode(topic, event)
        # Acknowledged taps counted per station too: a test compares each station's counts with them.
        self._produce(topic, key, value, partial(self._on_delivery, key=event.station_name))

    def send_all(self, events: Iterable[BarrierEvent]) -> None:
        for event in events:
            self.send(event)
        self.poll()


def london_barriers(settings: Settings, start: datetime | None = None) -> BarrierSimulation:
    """The barrier simulation the settings describe (seed, scale) from ``<data dir>/tfl``; ``start``: default now."""
    network = load_network_from(NETWORK_NAME, settings.data_dir / NETWORK_NAME)
    config = BarrierConfig(ridership_scale=settings.london_barrier_scale)
    if start is None and settings.london_barrier_start:
        start = datetime.fromisoformat(settings.london_barrier_start)  # naive: London time
    return BarrierSimulation(network, start=start, seed=settings.simulation_seed, config=config)


def run_for(barriers: BarrierSimulation, producer: BarrierProducer, simulated: timedelta) -> list[BarrierEvent]:
    """Produce ``simulated`` time's taps as fast as possible (tests, benchmarks), flush; returns the taps."""
    sent: list[BarrierEvent] = []
    end = barriers.now + simulated
    while barriers.now < end:
        batch = barriers.advance(min(end, barriers.now + timedelta(minutes=1)))
        producer.send_all(batch)
        sent += batch
    producer.flush()
    return sent


def run_barriers(settings: Settings, stop: threading.Event) -> None:
    """``transit-status serve barriers``: London's barriers in real time until ``stop`` is set.

    On stop the producer is flushed: every tap handed to it is in Kafka (or logged as undelivered).
    What it generated, what the broker acknowledged (per topic and station) and what failed are in a
    JSON file under ``settings.delivery_counts_dir("barriers")``, rewritten every second and at the end.
    """
    try:
        ensure_topics(settings, london_barrier_topics(settings))
    except KafkaException as error:
        raise TransitError(f"Kafka refused to create the topics at {settings.bootstrap_servers} ({error})") from None
    barriers = london_barriers(settings)
    log.info(
        "London barriers from %s at %.0fx, seed %d, %s, %.0f%% of travellers",
        barriers.local_time().isoformat(timespec="seconds"), settings.simulation_speed, settings.simulation_seed,
        settings.london_barrier_format, 100 * settings.london_barrier_scale,
    )  # fmt: skip
    clock = SimulationClock(barriers.now, speed=settings.simulation_speed)
    with BarrierProducer(settings, counts_dir=settings.delivery_counts_dir("barriers")) as producer:
        for batch in run_realtime(barriers, clock, interval_s=0.1, should_stop=stop.is_set):
            producer.send_all(batch)
        producer.flush()
        log.info("stopped at %s; delivered %s; failed %s", barriers.local_time().isoformat(timespec="seconds"),
                 dict(producer.stats.delivered), dict(producer.stats.failed))  # fmt: skip
    # After the producer's close: its final counts (everything flushed) are written by then.
    log.info("delivery counts in %s", producer.counts.path if producer.counts else None)
