"""Avro records in Confluent's wire format: magic byte 0, a 4-byte big-endian schema id, Avro binary.

The one decoder every consumer uses. confluent-kafka frames the bytes and fetches writer schemas from
the registry (its client caches them by id); fastavro reads the body. Besides a record, a decode has
two outcomes, and the caller must treat them differently:

* :class:`BadRecord`: the bytes are at fault (not framed, unknown schema id, body does not match its
  schema). Dead-letter the record and go on.
* :class:`RegistryUnavailable`: the registry did not answer. The record may well be fine: retry it
  later, never dead-letter it.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import fastavro
import httpx
from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    prefix_schema_id_deserializer,
    prefix_schema_id_serializer,
)
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.serde import SchemaId

from transit_status.config import Settings

MAGIC_BYTE = 0
HEADER_SIZE = 5  # magic byte + schema id
# An id the registry does not know is asked again after this long, not once for every record carrying it.
UNKNOWN_ID_TTL_S = 30.0


class BadRecord(ValueError):
    """The record cannot be decoded or breaks its topic's contract; the message says why (``dlq.error``)."""


class RegistryUnavailable(RuntimeError):
    """The schema registry could not answer; the record may well be fine."""


def registry_client(settings: Settings, timeout_s: float = 10.0) -> SchemaRegistryClient:
    """confluent-kafka's registry client (URL and auth from the settings), failing fast: callers decide
    themselves when to try again."""
    return SchemaRegistryClient(
        settings.schema_registry_client_config(
            **{"timeout": timeout_s, "max.retries": 1, "retries.wait.ms": 200, "retries.max.wait.ms": 1000}
        )
    )


def frame(schema_id: int, body: bytes) -> bytes:
    """Avro binary ``body`` written with schema ``schema_id``, in the wire format."""
    return prefix_schema_id_serializer(body, None, SchemaId("AVRO", schema_id))


def schema_id_of(data: bytes | None, what: str = "value") -> int:
    """The schema id framing ``data``; :class:`BadRecord` if ``data`` is not in the wire format."""
    return _unframe(data, what)[0]


def _unframe(data: bytes | None, what: str) -> tuple[int, io.BytesIO]:
    if data is None:
        raise BadRecord(f"{what} is null")
    if len(data) < HEADER_SIZE or data[0] != MAGIC_BYTE:
        raise BadRecord(f"{what} is not in Confluent Avro wire format (magic byte 0 + schema id)")
    schema_id = SchemaId("AVRO")
    body = prefix_schema_id_deserializer(data, None, schema_id)
    return schema_id.id, body  # type: ignore[return-value]  # set by the deserializer


def short_reason(error: BaseException, limit: int = 200) -> str:
    """An exception as a one-line reason of at most ``limit`` characters."""
    text = " ".join((str(error) or type(error).__name__).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class AvroDecoder:
    """Decodes wire-format records; each writer schema is fetched and parsed once per id."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self.registry = registry
        self._schemas: dict[int, Any] = {}
        self._unknown_until: dict[int, float] = {}

    def has_schema(self, schema_id: int) -> bool:
        """Whether decoding a record with ``schema_id`` needs no registry call."""
        return schema_id in self._schemas

    def decode(self, data: bytes | None, what: str = "value") -> dict[str, Any]:
        """The Avro record in ``data`` (``what`` names it in reasons: "key", "value")."""
        schema_id, body = _unframe(data, what)
        schema = self.writer_schema(schema_id, what)
        try:
            record = fastavro.schemaless_reader(body, schema, None)
        except Exception as exc:  # fastavro raises many kinds on garbage; all mean the same here
            raise BadRecord(f"{what} does not decode with schema id {schema_id}: {short_reason(exc)}") from exc
        left_over = len(body.getbuffer()) - body.tell()
        if left_over:
            raise BadRecord(f"{what} has {left_over} bytes left over after the record")
        if not isinstance(record, dict):
            raise BadRecord(f"{what} is not an Avro record")
        return record

    def writer_schema(self, schema_id: int, what: str = "value") -> Any:
        """The parsed schema registered under ``schema_id``, from the cache or the registry."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        if self._unknown_until.get(schema_id, 0.0) > time.monotonic():
            raise BadRecord(f"{what} names schema id {schema_id}, which the registry does not know")
        try:
            registered = self.registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                self._unknown_until[schema_id] = time.monotonic() + UNKNOWN_ID_TTL_S
                raise BadRecord(f"{what} names schema id {schema_id}, which the registry does not know") from exc
            raise RegistryUnavailable(f"schema registry error for id {schema_id}: {short_reason(exc)}") from exc
        except (httpx.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"schema registry unreachable: {short_reason(exc)}") from exc
        if (registered.schema_type or "AVRO") != "AVRO":
            raise BadRecord(f"{what} schema id {schema_id} is {registered.schema_type}, not Avro")
        try:
            parsed = fastavro.parse_schema(json.loads(registered.schema_str or ""), named_schemas={})
        except Exception as exc:
            raise BadRecord(f"{what} schema id {schema_id} is not a usable Avro schema: {short_reason(exc)}") from exc
        self._schemas[schema_id] = parsed
        return parsed
