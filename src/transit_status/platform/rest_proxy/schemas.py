"""Schemas from the schema registry, over HTTP with Confluent's own client, mapped to proxy errors."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from transit_status.avro.wire import registry_client
from transit_status.config import Settings
from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.avro_json import AvroSchema, InvalidSchemaError, parse_schema

log = logging.getLogger(__name__)

REGISTRY_TIMEOUT_S = 10
# What "cannot reach the registry" means: the client's transport failing (refused, reset, DNS, timeouts).
# Anything else came back from whatever answers there, and is reported as that.
UNREACHABLE = (httpx.TransportError, OSError)
_T = TypeVar("_T")


@functools.lru_cache(maxsize=512)
def parse_schema_cached(text: str) -> AvroSchema:
    """:func:`parse_schema`, remembered: producers send the same inline schema with every request."""
    return parse_schema(text)


def parse_inline_schema(text: str, role: str) -> AvroSchema:
    try:
        return parse_schema_cached(text)
    except InvalidSchemaError as exc:
        raise errors.invalid_schema(f"{role}_schema: {exc}") from None


def make_registry_client(settings: Settings) -> SchemaRegistryClient:
    # Fails fast: a request should not hang for long when the registry is down.
    return registry_client(settings, REGISTRY_TIMEOUT_S)


class SchemaRegistryGateway:
    """Looks schemas up by id and registers inline schemas under TopicNameStrategy subjects.

    Every answer is the registry's own, asked for each request: a cached id outlives a hard delete
    (``DELETE /subjects/{s}?permanent=true``), and a record framed with it could never be decoded
    (issue 16). confluent-kafka's client caches both lookups for ever, so it is told to forget before
    each call. Only when the registry cannot be reached at all does the last answer it gave serve (a
    registry restart does not stop the producers); that is logged once per outage.
    """

    def __init__(self, settings: Settings, client: SchemaRegistryClient | None = None) -> None:
        self.url = settings.schema_registry_url
        self.client = client or make_registry_client(settings)
        self._by_id: dict[int, AvroSchema] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._serving_from_memory = False

    def _unreachable(self, exc: Exception) -> errors.RestError:
        reason = str(exc) or type(exc).__name__
        return errors.RestError(
            500,
            errors.BACKEND_ERROR,
            f"Schema registry error: cannot reach the schema registry at {self.url}: {reason}",
        )

    def _remembered(self, exc: Exception, what: str) -> None:
        if not self._serving_from_memory:
            self._serving_from_memory = True
            log.warning(
                "rest-proxy: cannot reach the schema registry at %s (%s); %s from its last answer until it is back",
                self.url,
                str(exc) or type(exc).__name__,
                what,
            )

    def _answered(self) -> None:
        if self._serving_from_memory:
            self._serving_from_memory = False
            log.info("rest-proxy: the schema registry at %s answers again", self.url)

    def _ask(self, call: Callable[[], _T]) -> _T:
        """``call`` against the registry itself, never the client's cache (see the class docstring)."""
        self.client.clear_caches()
        return call()

    def _unexpected(self, exc: Exception) -> errors.RestError:
        log.error("rest-proxy: unexpected failure asking the schema registry at %s", self.url, exc_info=exc)
        return errors.RestError(
            500,
            errors.BACKEND_ERROR,
            f"Schema registry error: unexpected answer from the schema registry at {self.url}: "
            f"{type(exc).__name__}: {exc}",
        )

    def _registry_failure(self, exc: SchemaRegistryError) -> errors.RestError:
        status = exc.http_status_code
        message = f"{exc.error_message} (schema registry error {exc.error_code})"
        if status >= 500 or status < 400:
            return errors.RestError(500, errors.BACKEND_ERROR, f"Schema registry error: {message}")
        if status == 422:
            return errors.invalid_schema(f"the schema registry rejected the schema: {message}")
        if status == 409:
            return errors.RestError(409, errors.CONFLICT, message)
        error_code = exc.error_code if isinstance(exc.error_code, int) and exc.error_code > 0 else status
        return errors.RestError(status, error_code, message)

    async def fetch(self, schema_id: int, role: str) -> AvroSchema:
        """The Avro schema the registry holds under ``schema_id`` now (a deleted id is a 422)."""
        try:
            schema = await asyncio.to_thread(self._ask, lambda: self.client.get_schema(schema_id))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                self._by_id.pop(schema_id, None)
                raise errors.invalid_schema(
                    f"{role}_schema_id {schema_id} is not known to the schema registry "
                    f"({exc.error_message}, schema registry error {exc.error_code})"
                ) from None
            raise self._registry_failure(exc) from None
        except UNREACHABLE as exc:
            remembered = self._by_id.get(schema_id)
            if remembered is None:
                raise self._unreachable(exc) from None
            self._remembered(exc, "schema ids are checked")
            return remembered
        except Exception as exc:
            raise self._unexpected(exc) from None
        self._answered()
        if (schema.schema_type or "AVRO") != "AVRO":
            raise errors.invalid_schema(f"{role}_schema_id {schema_id} is a {schema.schema_type} schema, not Avro")
        if schema.references:
            raise errors.invalid_schema(
                f"{role}_schema_id {schema_id} uses schema references, which this proxy does not support"
            )
        try:
            parsed = parse_schema_cached(schema.schema_str or "")
        except InvalidSchemaError as exc:
            raise errors.invalid_schema(f"{role}_schema_id {schema_id}: {exc}") from None
        self._by_id[schema_id] = parsed
        return parsed

    async def register(self, subject: str, schema: AvroSchema) -> int:
        """The id of ``schema`` under ``subject`` now, registering it if it is new there (again after a delete)."""
        try:
            schema_id = await asyncio.to_thread(
                self._ask, lambda: self.client.register_schema(subject, Schema(schema.text, "AVRO"))
            )
        except SchemaRegistryError as exc:
            raise self._registry_failure(exc) from None
        except UNREACHABLE as exc:
            remembered = self._ids.get((subject, schema.text))
            if remembered is None:
                raise self._unreachable(exc) from None
            self._remembered(exc, "inline schemas get their ids")
            return remembered
        except Exception as exc:
            raise self._unexpected(exc) from None
        self._answered()
        self._ids[(subject, schema.text)] = schema_id
        self._by_id[schema_id] = schema
        return schema_id
