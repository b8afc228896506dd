"""This project's Confluent-compatible Schema Registry (``platform/schema_registry/``), stored in Kafka."""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.platform.service import ServiceSpec, python_http_service


def specs(settings: Settings) -> list[ServiceSpec]:
    url = f"{settings.schema_registry_url}/subjects"
    return [python_http_service("schema-registry", "registry", settings.schema_registry_port, url, settings)]
