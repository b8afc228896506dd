"""The broker with the official confluent-kafka Avro serializer and our Schema Registry."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import consume, create_topic
from transit_status.config import Settings

pytestmark = pytest.mark.platform

ARRIVAL_SCHEMA = """
{"type": "record", "name": "arrival", "namespace": "test.transit",
 "fields": [{"name": "station_id", "type": "int"}, {"name": "train_id", "type": "string"},
            {"name": "direction", "type": "string"}, {"name": "prev_station_id", "type": ["null", "int"]}]}
"""


def test_avro_records_round_trip_through_broker_and_registry(platform: Settings) -> None:
    topic = create_topic(platform)
    registry = SchemaRegistryClient({"url": platform.schema_registry_url})
    serializer = AvroSerializer(registry, ARRIVAL_SCHEMA)
    deserializer = AvroDeserializer(registry)
    records = [
        {"station_id": 40380, "train_id": "BL001", "direction": "a", "prev_station_id": None},
        {"station_id": 40370, "train_id": "BL001", "direction": "a", "prev_station_id": 40380},
        {"station_id": 40900, "train_id": "RL007", "direction": "b", "prev_station_id": 41190},
    ]
    delivered = []
    with_errors = []
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers, "enable.idempotence": True})
    for record in records:
        producer.produce(
            topic,
            value=serializer(record, SerializationContext(topic, MessageField.VALUE)),
            on_delivery=lambda err, msg: (with_errors if err else delivered).append(err or msg.offset()),
        )
        producer.poll(0)
    assert producer.flush(15) == 0
    assert not with_errors
    assert len(delivered) == len(records)

    messages = consume(platform, topic, expected=len(records))
    decoded = [deserializer(m.value(), SerializationContext(topic, MessageField.VALUE)) for m in messages]
    assert decoded == records
    # The serializer registered the schema under the topic's value subject (TopicNameStrategy).
    assert registry.get_latest_version(f"{topic}-value").schema_id is not None
