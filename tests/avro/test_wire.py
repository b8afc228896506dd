"""Confluent wire-format decoding: which bytes are a record, which are bad, and when the registry is at fault."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from transit_status.avro.wire import (
    AvroDecoder,
    BadRecord,
    RegistryUnavailable,
    frame,
    registry_client,
    schema_id_of,
)
from transit_status.config import Settings, load_settings
from transit_status.platform.ports import free_ports
from transit_status.schemas import load_schema

WEATHER = {"temperature": 21.5, "status": "sunny"}


def avro_body(schema_text: str, datum: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema_text)), datum)
    return out.getvalue()


@pytest.fixture
def in_memory_registry() -> tuple[SchemaRegistryClient, int]:
    """confluent-kafka's in-memory registry (pure tests only) holding weather_value; returns it and the id."""
    registry = SchemaRegistryClient.new_client({"url": "mock://avro-wire-tests"})
    return registry, registry.register_schema("weather-value", Schema(load_schema("weather_value"), "AVRO"))


def test_the_header_is_magic_byte_0_and_the_schema_id_in_four_bytes() -> None:
    assert frame(7, b"\x02") == b"\x00\x00\x00\x00\x07\x02"
    assert schema_id_of(frame(7, b"\x02")) == 7
    assert schema_id_of(frame(2**32 - 1, b"")) == 2**32 - 1


@pytest.mark.parametrize("data", [None, b"", b"\x00\x00", b"\x01\x00\x00\x00\x07\x02", b"plain text"])
def test_bytes_without_the_wire_format_header_are_bad_records(data: bytes | None) -> None:
    with pytest.raises(BadRecord, match="key"):
        schema_id_of(data, "key")


def test_a_framed_record_decodes_with_its_writer_schema(in_memory_registry: tuple[SchemaRegistryClient, int]) -> None:
    registry, schema_id = in_memory_registry
    decoder = AvroDecoder(registry)

    assert decoder.decode(frame(schema_id, avro_body(load_schema("weather_value"), WEATHER))) == WEATHER
    assert decoder.has_schema(schema_id)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x01", "does not decode with schema id"),  # truncated
        (avro_body(load_schema("weather_value"), WEATHER) + b"\x00\x00", "2 bytes left over"),
    ],
)
def test_a_body_that_does_not_match_its_schema_is_a_bad_record(
    in_memory_registry: tuple[SchemaRegistryClient, int], body: bytes, reason: str
) -> None:
    registry, schema_id = in_memory_registry
    with pytest.raises(BadRecord, match=reason):
        AvroDecoder(registry).decode(frame(schema_id, body))


def test_a_schema_id_the_registry_does_not_know_is_a_bad_record(
    in_memory_registry: tuple[SchemaRegistryClient, int],
) -> None:
    registry, _ = in_memory_registry
    decoder = AvroDecoder(registry)
    for _ in range(2):  # the second time from the decoder's memory of unknown ids
        with pytest.raises(BadRecord, match="schema id 987654"):
            decoder.decode(frame(987_654, b"\x02"), "value")


def test_a_registry_that_does_not_answer_is_not_the_records_fault() -> None:
    (closed_port,) = free_ports(1)
    decoder = AvroDecoder(
        registry_client(load_settings(schema_registry_endpoint=f"http://127.0.0.1:{closed_port}"), timeout_s=2)
    )

    with pytest.raises(RegistryUnavailable, match="unreachable"):
        decoder.decode(frame(1, b"\x02"))
    assert not decoder.has_schema(1)  # asked again next time: the record may well be fine


@pytest.mark.platform
def test_records_of_the_official_serializer_decode_through_the_real_registry(platform: Settings) -> None:
    registry = registry_client(platform)
    serializer = AvroSerializer(registry, load_schema("weather_value"))
    data = serializer(WEATHER, SerializationContext("avro-wire-test", MessageField.VALUE))
    decoder = AvroDecoder(registry)

    assert decoder.decode(data) == WEATHER
    with pytest.raises(BadRecord, match="does not know"):
        decoder.decode(frame(987_654_321, data[5:]))
