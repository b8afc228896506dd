"""Decoding Avro records in Confluent's wire format, with writer schemas fetched once per id.

Wire format: magic byte 0, a 4-byte big-endian schema id, then Avro binary written with that
schema. Schemas are immutable per id, so each is fetched from the registry once and cached.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
import time
from typing import Any

import httpx
from fastavro import parse_schema, schemaless_reader

log = logging.getLogger(__name__)

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
# Registry outages are not the record's fault: retry (the record is not a dead letter), with backoff.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)
# An id the registry does not know is asked again after this long, not for every record that has it.
UNKNOWN_ID_TTL_S = 30.0


class UndecodableRecord(ValueError):
    """The bytes are not a record we can read; the message says why (it becomes ``dlq.error``)."""


class ConfluentAvroDecoder:
    """Decodes Confluent-framed Avro bytes; asks the registry for each schema id once."""

    def __init__(self, registry_url: str, timeout_s: float = 10.0) -> None:
        self._registry_url = registry_url.rstrip("/")
        self._timeout_s = timeout_s
        self._schemas: dict[int, Any] = {}
        self._unknown_until: dict[int, float] = {}
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def decode(self, data: bytes | None) -> Any:
        """The datum in ``data``; raises :class:`UndecodableRecord` for bytes that are not valid."""
        schema_id = schema_id_of(data)
        schema = self._schemas.get(schema_id)
        if schema is None:
            schema = await self._fetch(schema_id)
        return read_datum(data, schema)  # type: ignore[arg-type]

    def decode_cached(self, data: bytes | None) -> Any:
        """Like :meth:`decode` when the schema is cached; ``KeyError`` when it must be fetched first."""
        return read_datum(data, self._schemas[schema_id_of(data)])  # type: ignore[arg-type]

    async def _fetch(self, schema_id: int) -> Any:
        if self._unknown_until.get(schema_id, 0.0) > time.monotonic():
            raise UndecodableRecord(f"schema id {schema_id} is not in the schema registry")
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self._registry_url, timeout=self._timeout_s)
        attempt = 0
        while True:
            try:
                response = await self._client.get(f"/schemas/ids/{schema_id}")
            except httpx.HTTPError as error:
                problem = f"schema registry unreachable at {self._registry_url} ({error})"
            else:
                if response.status_code == 404:
                    self._unknown_until[schema_id] = time.monotonic() + UNKNOWN_ID_TTL_S
                    raise UndecodableRecord(f"schema id {schema_id} is not in the schema registry")
                if response.status_code == 200:
                    schema = self._parse(schema_id, response.json())
                    self._schemas[schema_id] = schema
                    return schema
                problem = f"schema registry answered {response.status_code} for schema id {schema_id}"
            delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
            log.warning("%s; retrying in %.1f s", problem, delay)
            attempt += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _parse(schema_id: int, body: dict[str, Any]) -> Any:
        if body.get("schemaType", "AVRO") != "AVRO":
            raise UndecodableRecord(f"schema id {schema_id} is a {body['schemaType']} schema, not Avro")
        try:
            return parse_schema(json.loads(body["schema"]))
        except Exception as error:
            raise UndecodableRecord(f"schema id {schema_id} is not a valid Avro schema: {error}") from None


def schema_id_of(data: bytes | None) -> int:
    if not data:
        raise UndecodableRecord("empty record, expected Confluent Avro (magic byte 0 + schema id)")
    if len(data) < HEADER.size or data[0] != MAGIC_BYTE:
        raise UndecodableRecord(f"not Confluent Avro: starts with {data[:5]!r}, expected magic byte 0")
    return HEADER.unpack_from(data)[1]


def read_datum(data: bytes, schema: Any) -> Any:
    buffer = io.BytesIO(data)
    buffer.seek(HEADER.size)
    try:
        datum = schemaless_reader(buffer, schema, None)
    except Exception as error:
        raise UndecodableRecord(f"Avro body does not match schema: {type(error).__name__}: {error}") from None
    if buffer.tell() != len(data):
        raise UndecodableRecord(f"{len(data) - buffer.tell()} bytes left after the Avro datum")
    return datum
