"""``POST /topics/{topic}`` and ``POST /topics/{topic}/partitions/{partition}``: the v2 produce API.

A request is checked completely -- body, both schemas, the topic and its partitions, every record
serialised and sized -- before an inline schema is registered or a record sent, so a refused request
writes nothing anywhere. Only a broker-side failure of an individual record is reported per record in
``offsets``, as Confluent's proxy does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from transit_status.avro.wire import frame
from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.avro_json import AvroSchema
from transit_status.platform.rest_proxy.errors import RestError
from transit_status.platform.rest_proxy.kafka import OutgoingRecord
from transit_status.platform.rest_proxy.produce_request import (
    CONFLUENT_FRAMING_BYTES,
    ProduceRequest,
    check_record_size,
    parse_json,
    parse_produce_request,
    serialize_avro,
    serialize_binary,
    serialize_json,
)
from transit_status.platform.rest_proxy.routes.common import (
    Accepting,
    EmbeddedFormat,
    Kafka,
    KafkaJSONResponse,
    Registry,
)
from transit_status.platform.rest_proxy.routes.topics import partition_number
from transit_status.platform.rest_proxy.schemas import parse_inline_schema

router = APIRouter()

# In each route the embedded format is resolved before Accepting: a wrong Content-Type (415) is the
# more useful answer than a wrong Accept (406).


@router.post("/topics/{topic}")
async def produce_to_topic(
    request: Request, fmt: EmbeddedFormat, kafka: Kafka, registry: Registry, topic: str, _: None = Accepting
) -> KafkaJSONResponse:
    produce_request = parse_produce_request(parse_json(await request.body()))
    return await produce(kafka, registry, topic, fmt, produce_request)


@router.post("/topics/{topic}/partitions/{partition}")
async def produce_to_partition(
    request: Request,
    fmt: EmbeddedFormat,
    kafka: Kafka,
    registry: Registry,
    topic: str,
    partition: str,
    _: None = Accepting,
) -> KafkaJSONResponse:
    number = partition_number(partition)
    produce_request = parse_produce_request(parse_json(await request.body())).to_partition(number)
    return await produce(kafka, registry, topic, fmt, produce_request)


def _inline_schemas(fmt: str, request: ProduceRequest) -> tuple[AvroSchema | None, AvroSchema | None]:
    """What can be checked without I/O: schema presence and syntax (Avro only)."""
    if fmt != "avro":
        return None, None
    has_key_schema = request.key_schema is not None or request.key_schema_id is not None
    if not has_key_schema and any(record.key is not None for record in request.records):
        raise RestError(422, errors.KEY_SCHEMA_MISSING, errors.KEY_SCHEMA_MISSING_MESSAGE)
    has_value_schema = request.value_schema is not None or request.value_schema_id is not None
    if not has_value_schema and any(record.value is not None for record in request.records):
        raise RestError(422, errors.VALUE_SCHEMA_MISSING, errors.VALUE_SCHEMA_MISSING_MESSAGE)
    for role, text, schema_id in (
        ("key", request.key_schema, request.key_schema_id),
        ("value", request.value_schema, request.value_schema_id),
    ):
        if text is not None and schema_id is not None:
            raise errors.bad_request(f"Give either {role}_schema or {role}_schema_id, not both")
    key_schema = parse_inline_schema(request.key_schema, "key") if request.key_schema is not None else None
    value_schema = parse_inline_schema(request.value_schema, "value") if request.value_schema is not None else None
    return key_schema, value_schema


def _serialized(
    fmt: str, request: ProduceRequest, key_schema: AvroSchema | None, value_schema: AvroSchema | None
) -> list[tuple[bytes | None, bytes | None]]:
    """Every record's key and value bytes (Avro not yet framed), each checked against the size limit."""
    serialized: list[tuple[bytes | None, bytes | None]] = []
    for record in request.records:
        where = f"records[{record.index}]"
        if fmt == "avro":
            key = serialize_avro(key_schema, record.key, f"{where}.key")
            value = serialize_avro(value_schema, record.value, f"{where}.value")
        elif fmt == "json":
            key, value = serialize_json(record.key, f"{where}.key"), serialize_json(record.value, f"{where}.value")
        else:
            key, value = serialize_binary(record.key, f"{where}.key"), serialize_binary(record.value, f"{where}.value")
        serialized.append((key, value))
    framing = CONFLUENT_FRAMING_BYTES if fmt == "avro" else 0
    for record, (key, value) in zip(request.records, serialized, strict=True):
        check_record_size(record.index, key, value, framing)
    return serialized


async def produce(kafka: Kafka, registry: Registry, topic: str, fmt: str, request: ProduceRequest) -> KafkaJSONResponse:
    key_schema, value_schema = _inline_schemas(fmt, request)

    # No up-front refusal of a topic that exists: one not listed yet is waited for (it may just have
    # been created), and only a topic that stays absent is 40401.
    info = await kafka.topic_for_produce(topic, request.wanted_partitions)
    if info is None:
        raise errors.topic_not_found()
    if any(partition not in info.partitions for partition in request.wanted_partitions):
        raise errors.partition_not_found()

    # Schemas by id only need reading; registering an inline schema waits until nothing can be refused.
    if request.key_schema_id is not None:
        key_schema = await registry.fetch(request.key_schema_id, "key")
    if request.value_schema_id is not None:
        value_schema = await registry.fetch(request.value_schema_id, "value")
    serialized = _serialized(fmt, request, key_schema, value_schema)

    key_schema_id, value_schema_id = request.key_schema_id, request.value_schema_id
    if fmt == "avro":
        if key_schema is not None and key_schema_id is None:
            key_schema_id = await registry.register(f"{topic}-key", key_schema)
        if value_schema is not None and value_schema_id is None:
            value_schema_id = await registry.register(f"{topic}-value", value_schema)
        serialized = [
            (
                None if key is None else frame(key_schema_id, key),  # type: ignore[arg-type]
                None if value is None else frame(value_schema_id, value),  # type: ignore[arg-type]
            )
            for key, value in serialized
        ]

    outgoing = [
        OutgoingRecord(key=key, value=value, partition=record.partition)
        for record, (key, value) in zip(request.records, serialized, strict=True)
    ]
    results = await kafka.produce(topic, outgoing)
    if results and all(result.topic_missing for result in results):
        raise errors.topic_not_found()  # deleted after the check: Confluent maps the delivery error to 40401
    return KafkaJSONResponse(
        {
            "offsets": [result.as_json() for result in results],
            "key_schema_id": key_schema_id,
            "value_schema_id": value_schema_id,
        }
    )
