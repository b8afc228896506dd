"""This project's Confluent-compatible Schema Registry (``platform/schema_registry/``), stored in Kafka."""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.platform.service import ServiceSpec, http_ok, python_service


def specs(settings: Settings) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name="schema-registry",
            port=settings.schema_registry_port,
            after=("kafka",),
            prepare=lambda: python_service("registry", settings),
            is_ready=lambda: http_ok(f"{settings.schema_registry_url}/subjects"),
        )
    ]
