"""This project's Confluent REST Proxy v2 produce API (``platform/rest_proxy/``)."""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.platform.service import ServiceSpec, http_ok, python_service


def specs(settings: Settings) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name="rest-proxy",
            port=settings.rest_proxy_port,
            # It waits for the registry itself, so both start as soon as Kafka is ready.
            after=("kafka",),
            prepare=lambda: python_service("rest-proxy", settings),
            is_ready=lambda: http_ok(f"{settings.rest_proxy_url}/topics"),
        )
    ]
