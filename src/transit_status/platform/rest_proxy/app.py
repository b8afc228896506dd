"""A Confluent REST Proxy (API v2) compatible HTTP front for producing to Kafka and reading topic metadata.

Produce requests are validated completely -- body, every record, both schemas -- before the first record
is sent, so a bad request never writes anything. Only a broker-side failure of an individual record (after
validation) is reported per record in ``offsets``, as Confluent's proxy does.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from transit_status.config import Settings
from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.avro_json import AvroConversionError, AvroSchema
from transit_status.platform.rest_proxy.errors import RestError
from transit_status.platform.rest_proxy.kafka import MAX_RECORD_BYTES, KafkaGateway, OutgoingRecord, TopicInfo
from transit_status.platform.rest_proxy.schemas import SchemaRegistryGateway, parse_inline_schema

log = logging.getLogger(__name__)

V2_JSON = "application/vnd.kafka.v2+json"
EMBEDDED_FORMATS = {
    "application/vnd.kafka.avro.v2+json": "avro",
    "application/vnd.kafka.json.v2+json": "json",
    "application/vnd.kafka.binary.v2+json": "binary",
}
ACCEPTABLE = frozenset({V2_JSON, "application/vnd.kafka+json", "application/json", "*/*", "application/*"})


class KafkaJSONResponse(JSONResponse):
    media_type = V2_JSON


def error_response(error: RestError) -> KafkaJSONResponse:
    return KafkaJSONResponse(error.body(), status_code=error.status)


# ---- content negotiation ---------------------------------------------------------------------------
def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def check_accept(request: Request) -> None:
    header = request.headers.get("accept", "").strip()
    if not header:
        return
    for entry in header.split(","):
        media_range, *params = (part.strip() for part in entry.split(";"))
        if media_range.lower() in ACCEPTABLE and not any(_is_q_zero(param) for param in params):
            return
    raise RestError(406, errors.NOT_ACCEPTABLE, f"HTTP 406 Not Acceptable: responses are {V2_JSON}")


def _is_q_zero(param: str) -> bool:
    name, _, value = param.partition("=")
    if name.strip().lower() != "q":
        return False
    try:
        return float(value) == 0
    except ValueError:
        return False


def embedded_format(request: Request) -> str:
    content_type = _media_type(request.headers.get("content-type", ""))
    fmt = EMBEDDED_FORMATS.get(content_type)
    if fmt is None:
        supported = ", ".join(EMBEDDED_FORMATS)
        shown = content_type or "none"
        raise RestError(
            415,
            errors.UNSUPPORTED_MEDIA_TYPE,
            f"HTTP 415 Unsupported Media Type: Content-Type {shown} is not supported; use one of {supported}",
        )
    return fmt


# ---- request parsing --------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token {name!r}: NaN and Infinity are not valid JSON")


@dataclass(frozen=True)
class IncomingRecord:
    index: int
    key: Any
    value: Any
    partition: int | None


@dataclass(frozen=True)
class ProduceRequest:
    records: list[IncomingRecord]
    key_schema: str | None
    key_schema_id: int | None
    value_schema: str | None
    value_schema_id: int | None


async def read_json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"Malformed JSON in request body: {exc}") from None
    except RecursionError:
        raise errors.bad_request("Malformed JSON in request body: nested too deeply") from None


def _optional_schema_id(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    # Schema ids are 32-bit (they are framed into every Avro record as 4 bytes).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise errors.bad_request(f"{field} must be a schema id (an integer), got {json.dumps(value)[:60]}")
    return value


def _optional_schema_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)  # a schema given as a JSON object rather than a string: accept it
    raise errors.bad_request(f"{field} must be a string holding an Avro schema, got {json.dumps(value)[:60]}")


def parse_produce_request(body: Any) -> ProduceRequest:
    if not isinstance(body, dict):
        raise errors.bad_request("The request body must be a JSON object with a records array")
    records = body.get("records")
    if records is None or records == []:
        raise errors.unprocessable("records may not be empty: send at least one record")
    if not isinstance(records, list):
        raise errors.bad_request("records must be a JSON array of record objects")
    parsed: list[IncomingRecord] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise errors.bad_request(f"records[{index}] must be a JSON object with a value (and optional key)")
        partition = record.get("partition")
        if partition is not None and (isinstance(partition, bool) or not isinstance(partition, int)):
            raise errors.bad_request(f"records[{index}].partition must be an integer")
        parsed.append(IncomingRecord(index, record.get("key"), record.get("value"), partition))
    return ProduceRequest(
        records=parsed,
        key_schema=_optional_schema_text(body, "key_schema"),
        key_schema_id=_optional_schema_id(body, "key_schema_id"),
        value_schema=_optional_schema_text(body, "value_schema"),
        value_schema_id=_optional_schema_id(body, "value_schema_id"),
    )


# ---- serialisation ----------------------------------------------------------------------------------
def serialize_binary(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.bad_request(f"{where} must be a base64 string for the binary format")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise errors.bad_request(f"{where} is not valid base64") from None


def serialize_json(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.bad_request(f"{where} contains text that is not valid Unicode") from None


def confluent_framed(schema_id: int, payload: bytes) -> bytes:
    """Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary."""
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def serialize_avro(schema: AvroSchema | None, value: Any, where: str) -> bytes | None:
    if value is None or schema is None:
        return None  # like Confluent's serializers, null stays a Kafka null (e.g. a tombstone)
    try:
        return schema.encode(value, where)
    except AvroConversionError as exc:
        raise errors.json_avro_conversion(str(exc)) from None
    except RecursionError:
        raise errors.json_avro_conversion(f"{where}: the value is nested too deeply") from None


# ---- the application --------------------------------------------------------------------------------
@dataclass
class ProxyState:
    kafka: KafkaGateway
    registry: SchemaRegistryGateway


def create_app(settings: Settings) -> FastAPI:
    """The REST proxy as an ASGI app; Kafka and registry clients live for the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kafka = KafkaGateway(settings)
        kafka.start()
        app.state.proxy = ProxyState(kafka=kafka, registry=SchemaRegistryGateway(settings))
        log.info(
            "rest-proxy: serving on %s (Kafka %s, schema registry %s)",
            settings.rest_proxy_url,
            settings.bootstrap_servers,
            settings.schema_registry_url,
        )
        try:
            yield
        finally:
            log.info("rest-proxy: shutting down, flushing the producer")
            kafka.close()

    app = FastAPI(title="transit-status REST proxy", lifespan=lifespan, docs_url=None, redoc_url=None)

    def state(request: Request) -> ProxyState:
        return request.app.state.proxy

    @app.exception_handler(RestError)
    async def _rest_error(request: Request, exc: RestError) -> KafkaJSONResponse:
        level = logging.WARNING if exc.status >= 500 else logging.INFO
        log.log(level, "%s %s -> %d/%d %s", request.method, request.url.path, exc.status, exc.error_code, exc.message)
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> KafkaJSONResponse:
        return error_response(RestError(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}"))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> KafkaJSONResponse:
        return error_response(errors.bad_request(f"Invalid request: {exc.errors()}"))

    @app.middleware("http")
    async def _never_a_stack_trace(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception:
            log.exception("rest-proxy: unexpected error on %s %s", request.method, request.url.path)
            return error_response(
                RestError(500, errors.INTERNAL_SERVER_ERROR, "Internal server error (see the REST proxy's log)")
            )

    @app.get("/")
    async def root(request: Request) -> KafkaJSONResponse:
        check_accept(request)
        return KafkaJSONResponse({})

    @app.get("/topics")
    async def list_topics(request: Request) -> KafkaJSONResponse:
        check_accept(request)
        topics = await state(request).kafka.topics()
        return KafkaJSONResponse(sorted(name for name in topics if not name.startswith("__")))

    async def existing_topic(request: Request, topic: str) -> TopicInfo:
        info = await state(request).kafka.topic(topic)
        if info is None:
            raise errors.topic_not_found()
        return info

    @app.get("/topics/{topic}")
    async def describe_topic(request: Request, topic: str) -> KafkaJSONResponse:
        check_accept(request)
        info = await existing_topic(request, topic)
        configs = await state(request).kafka.topic_configs(topic)
        return KafkaJSONResponse({"name": info.name, "configs": configs, "partitions": _partitions_json(info)})

    @app.get("/topics/{topic}/partitions")
    async def list_partitions(request: Request, topic: str) -> KafkaJSONResponse:
        check_accept(request)
        return KafkaJSONResponse(_partitions_json(await existing_topic(request, topic)))

    @app.post("/topics/{topic}")
    async def produce_to_topic(request: Request, topic: str) -> KafkaJSONResponse:
        return await produce(request, topic, path_partition=None)

    @app.post("/topics/{topic}/partitions/{partition}")
    async def produce_to_partition(request: Request, topic: str, partition: str) -> KafkaJSONResponse:
        if not (partition.isascii() and partition.isdigit()):
            raise errors.partition_not_found()
        return await produce(request, topic, path_partition=int(partition))

    async def produce(request: Request, topic: str, path_partition: int | None) -> KafkaJSONResponse:
        fmt = embedded_format(request)
        check_accept(request)
        produce_request = parse_produce_request(await read_json_body(request))
        records = produce_request.records
        if path_partition is not None:
            records = [IncomingRecord(r.index, r.key, r.value, path_partition) for r in records]
        proxy = state(request)

        # 1. What can be checked locally: schema presence and syntax.
        key_schema = value_schema = None
        if fmt == "avro":
            has_key_schema = produce_request.key_schema is not None or produce_request.key_schema_id is not None
            if not has_key_schema and any(record.key is not None for record in records):
                raise RestError(422, errors.KEY_SCHEMA_MISSING, errors.KEY_SCHEMA_MISSING_MESSAGE)
            has_value_schema = produce_request.value_schema is not None or produce_request.value_schema_id is not None
            if not has_value_schema and any(record.value is not None for record in records):
                raise RestError(422, errors.VALUE_SCHEMA_MISSING, errors.VALUE_SCHEMA_MISSING_MESSAGE)
            for role, text, schema_id in (
                ("key", produce_request.key_schema, produce_request.key_schema_id),
                ("value", produce_request.value_schema, produce_request.value_schema_id),
            ):
                if text is not None and schema_id is not None:
                    raise errors.bad_request(f"Give either {role}_schema or {role}_schema_id, not both")
            if produce_request.key_schema is not None:
                key_schema = parse_inline_schema(produce_request.key_schema, "key")
            if produce_request.value_schema is not None:
                value_schema = parse_inline_schema(produce_request.value_schema, "value")

        # 2. The topic and every requested partition must exist (topics are never created here).
        wanted = sorted({r.partition for r in records if r.partition is not None})
        info = await proxy.kafka.topic_with_partitions(topic, wanted)
        if info is None:
            raise errors.topic_not_found()
        if any(partition not in info.partitions for partition in wanted):
            raise errors.partition_not_found()

        # 3. Schemas given by id come from the registry.
        if produce_request.key_schema_id is not None:
            key_schema = await proxy.registry.fetch(produce_request.key_schema_id, "key")
        if produce_request.value_schema_id is not None:
            value_schema = await proxy.registry.fetch(produce_request.value_schema_id, "value")

        # 4. Serialise every record before anything is registered or sent.
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        for record in records:
            where = f"records[{record.index}]"
            if fmt == "avro":
                keys.append(serialize_avro(key_schema, record.key, f"{where}.key"))
                values.append(serialize_avro(value_schema, record.value, f"{where}.value"))
            elif fmt == "json":
                keys.append(serialize_json(record.key, f"{where}.key"))
                values.append(serialize_json(record.value, f"{where}.value"))
            else:
                keys.append(serialize_binary(record.key, f"{where}.key"))
                values.append(serialize_binary(record.value, f"{where}.value"))

        # 5. Inline schemas are registered under TopicNameStrategy subjects; ids frame the Avro payloads.
        key_schema_id = produce_request.key_schema_id
        value_schema_id = produce_request.value_schema_id
        if fmt == "avro":
            if key_schema is not None and key_schema_id is None:
                key_schema_id = await proxy.registry.register(f"{topic}-key", key_schema)
            if value_schema is not None and value_schema_id is None:
                value_schema_id = await proxy.registry.register(f"{topic}-value", value_schema)
            keys = [None if k is None else confluent_framed(key_schema_id, k) for k in keys]  # type: ignore[arg-type]
            values = [None if v is None else confluent_framed(value_schema_id, v) for v in values]  # type: ignore[arg-type]
        else:
            key_schema_id = value_schema_id = None

        for record, key, value in zip(records, keys, values, strict=True):
            size = len(key or b"") + len(value or b"")
            if size > MAX_RECORD_BYTES:
                raise RestError(
                    413,
                    413,
                    f"records[{record.index}] is {size} bytes serialised; records may be at most "
                    f"{MAX_RECORD_BYTES} bytes",
                )
        outgoing = [
            OutgoingRecord(key=key, value=value, partition=record.partition)
            for record, key, value in zip(records, keys, values, strict=True)
        ]
        results = await proxy.kafka.produce(topic, outgoing)
        return KafkaJSONResponse(
            {
                "offsets": [result.as_json() for result in results],
                "key_schema_id": key_schema_id,
                "value_schema_id": value_schema_id,
            }
        )

    return app


def _partitions_json(info: TopicInfo) -> list[dict[str, Any]]:
    return [
        {
            "partition": partition.partition,
            "leader": partition.leader,
            "replicas": [
                {
                    "broker": broker,
                    "leader": broker == partition.leader,
                    "in_sync": broker in partition.in_sync,
                }
                for broker in partition.replicas
            ],
        }
        for partition in sorted(info.partitions.values(), key=lambda p: p.partition)
    ]
