"""A Confluent-compatible schema registry (Avro), written in Python, storing its state in Kafka.

Run it with ``python -m transit_status.platform.schema_registry`` (settings from ``TRANSIT_*``), or
embed it: ``SchemaRegistry.from_settings(settings)`` + ``create_app(registry=...)``.
"""

from transit_status.platform.schema_registry.app import create_app
from transit_status.platform.schema_registry.compatibility import CompatibilityLevel
from transit_status.platform.schema_registry.kafka_log import SchemaLogUnavailable
from transit_status.platform.schema_registry.store import SchemaRegistry

__all__ = ["CompatibilityLevel", "SchemaLogUnavailable", "SchemaRegistry", "create_app"]
