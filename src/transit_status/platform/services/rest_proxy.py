"""This project's Confluent REST Proxy v2 produce API (``platform/rest_proxy/``).

It waits for the registry itself, so registry and proxy both start as soon as Kafka is ready.
"""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.platform.service import ServiceSpec, python_http_service


def specs(settings: Settings) -> list[ServiceSpec]:
    url = f"{settings.rest_proxy_url}/topics"
    return [
        python_http_service(
            "rest-proxy", "rest-proxy", settings.rest_proxy_port, url, settings, uses=("schema-registry",)
        )
    ]
