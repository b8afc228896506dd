"""London's barrier taps through the real producer path into real Kafka: JSON as the original design
shaped it, Avro through the registry, and `transit-status serve barriers` stopping without loss."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import acknowledged, assert_sigterm_loses_nothing, read_all
from transit_status.config import Settings
from transit_status.london.barriers import ENTRY, EXIT, BarrierEvent
from transit_status.london.producer import BarrierProducer, london_barriers, run_for
from transit_status.platform.ports import private_topics
from transit_status.topics import ensure_topics, london_barrier_topics

pytestmark = pytest.mark.platform

MORNING_PEAK = datetime(2023, 6, 7, 8, 0)  # a Wednesday, London time
SIMULATED = timedelta(minutes=15)  # journeys take 5 minutes and more: exits come after a while


def produce_minutes(settings: Settings) -> list[BarrierEvent]:
    ensure_topics(settings, london_barrier_topics(settings))
    with BarrierProducer(settings) as producer:
        taps = run_for(london_barriers(settings, start=MORNING_PEAK), producer, SIMULATED)
        assert producer.stats.failed == Counter()
    return taps


def expected_by_topic(settings: Settings, taps: list[BarrierEvent]) -> dict[str, list[tuple[str, str, int]]]:
    """Topic -> (station name, card, delta) of every tap, in the order produced."""
    topics = {ENTRY: settings.topic_london_entries, EXIT: settings.topic_london_exits}
    by_topic: dict[str, list[tuple[str, str, int]]] = {topic: [] for topic in topics.values()}
    for tap in taps:
        by_topic[topics[tap.delta]].append((tap.station_name, tap.card, tap.delta))
    return by_topic


def assert_same_taps_in_station_order(read: list[tuple[str, str, int]], sent: list[tuple[str, str, int]]) -> None:
    assert Counter(read) == Counter(sent)
    # Keyed by station: each station's taps are read in the order they were produced.
    for station in {name for name, _, _ in sent}:
        assert [r for r in read if r[0] == station] == [s for s in sent if s[0] == station], station


def test_json_taps_arrive_in_the_original_shape_keyed_by_station_name(platform: Settings) -> None:
    settings = private_topics(platform, f"barriers-json-{uuid.uuid4().hex[:6]}", london_barrier_scale=0.02)
    assert settings.london_barrier_format == "json"
    taps = produce_minutes(settings)
    expected = expected_by_topic(settings, taps)
    assert len(expected[settings.topic_london_entries]) > 200 and expected[settings.topic_london_exits]
    for topic, sent in expected.items():
        records = read_all(settings, topic)
        read = []
        for record in records:
            value = json.loads(record.value())
            assert set(value) == {"user", "delta"}, value  # exactly the original fields
            assert isinstance(value["user"], str) and value["delta"] in (1, -1)
            read.append((record.key().decode(), value["user"], value["delta"]))
        assert_same_taps_in_station_order(read, sent)
    assert {delta for _, _, delta in expected[settings.topic_london_entries]} == {1}
    assert {delta for _, _, delta in expected[settings.topic_london_exits]} == {-1}


def test_avro_taps_decode_with_the_registrys_schemas(platform: Settings) -> None:
    settings = private_topics(
        platform, f"barriers-avro-{uuid.uuid4().hex[:6]}", london_barrier_scale=0.02, london_barrier_format="avro"
    )
    taps = produce_minutes(settings)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    for topic, sent in expected_by_topic(settings, taps).items():
        read = []
        for record in read_all(settings, topic):
            key = deserializer(record.key(), SerializationContext(topic, MessageField.KEY))
            value = deserializer(record.value(), SerializationContext(topic, MessageField.VALUE))
            read.append((key["station"], value["user"], value["delta"]))
        assert_same_taps_in_station_order(read, sent)
        subjects = httpx.get(f"{settings.schema_registry_url}/subjects", timeout=10).json()
        assert {f"{topic}-key", f"{topic}-value"} <= set(subjects)  # TopicNameStrategy


def test_serve_barriers_stops_on_sigterm_without_losing_a_tap(platform: Settings, tmp_path: Path) -> None:
    # Fast, so taps are in flight when the signal arrives; few travellers, to spare a busy machine.
    settings = private_topics(
        platform, f"barriers-stop-{uuid.uuid4().hex[:6]}", simulation_speed=600.0, london_barrier_scale=0.01
    )
    topics = (settings.topic_london_entries, settings.topic_london_exits)
    delivered = assert_sigterm_loses_nothing(
        "barriers", settings, tmp_path / "barriers.log", settings.topic_london_exits, topics
    )
    assert all(delivered[topic] > 0 for topic in topics)
    # Acknowledged per station too: each station's records in Kafka are the taps counted for it.
    by_station = acknowledged(settings, "barriers")["delivered_by_key"]
    for topic in topics:
        assert Counter(record.key().decode() for record in read_all(settings, topic)) == by_station[topic], topic
