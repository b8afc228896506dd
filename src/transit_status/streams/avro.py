"""The Faust worker's side of :mod:`transit_status.avro.wire`: the same decoder, awaited.

A schema id seen for the first time is fetched in a thread (the registry client is synchronous), so the
event loop keeps running. Registry outages are not the record's fault: the fetch is retried with
backoff until the registry answers, and the record is never dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception_type, wait_exponential

from transit_status.avro.wire import AvroDecoder, BadRecord, RegistryUnavailable, registry_client, schema_id_of

__all__ = ["ConfluentAvroDecoder", "UndecodableRecord", "schema_id_of"]

log = logging.getLogger(__name__)

UndecodableRecord = BadRecord  # the name the stream agents catch


class ConfluentAvroDecoder:
    """Decodes Confluent-framed Avro bytes; asks the registry for each schema id once."""

    def __init__(self, registry_url: str, timeout_s: float = 10.0) -> None:
        self._decoder = AvroDecoder(registry_client(registry_url, timeout_s))

    async def close(self) -> None:
        """Nothing to release: kept so the worker can close every decoder alike."""

    async def decode(self, data: bytes | None) -> Any:
        """The record in ``data``; raises :class:`UndecodableRecord` for bytes that are not valid."""
        schema_id = schema_id_of(data, "record")
        if not self._decoder.has_schema(schema_id):
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(RegistryUnavailable),
                wait=wait_exponential(multiplier=0.5, max=5.0),
                before_sleep=before_sleep_log(log, logging.WARNING),
            ):
                with attempt:
                    await asyncio.to_thread(self._decoder.writer_schema, schema_id, "record")
        return self._decoder.decode(data, "record")

    def decode_cached(self, data: bytes | None) -> Any:
        """Like :meth:`decode` when the schema is cached; ``KeyError`` when it must be fetched first."""
        if not self._decoder.has_schema(schema_id_of(data, "record")):
            raise KeyError("schema not fetched yet")
        return self._decoder.decode(data, "record")
