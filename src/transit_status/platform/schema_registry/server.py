"""The registry as a served process (``transit-status serve registry``): Kafka-backed store + API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fastapi import FastAPI

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.platform.schema_registry.app import create_app
from transit_status.platform.schema_registry.kafka_log import SchemaLogUnavailable
from transit_status.platform.schema_registry.store import SchemaRegistry

KAFKA_WAIT_S = 15.0


@contextlib.contextmanager
def serving_registry(settings: Settings) -> Iterator[FastAPI]:
    """The registry's app over its store, read to the end of the schemas topic first; closed after."""
    registry = SchemaRegistry.from_settings(
        settings, replication_factor=settings.topic_replicas, startup_timeout_s=KAFKA_WAIT_S
    )
    try:
        registry.start()
    except SchemaLogUnavailable as error:
        registry.close()
        raise TransitError(f"{error}; Kafka must be running first: `transit-status platform up`") from None
    try:
        yield create_app(registry=registry)
    finally:
        registry.close()
