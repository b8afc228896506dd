"""The embedded platform's services, one module each.

Every module has ``specs(settings) -> list[ServiceSpec]``: how the service is prepared and
started, when it is ready, and which signal stops it. Adding a service is one module and one
line in :data:`SERVICE_MODULES` (the order is the order ``platform status`` lists them in; start
order follows each spec's ``after``).
"""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.platform.service import ServiceSpec
from transit_status.platform.services import (
    connect,
    flink,
    kafka,
    mariadb,
    opensearch,
    postgres,
    rest_proxy,
    schema_registry,
)

SERVICE_MODULES = (postgres, kafka, schema_registry, connect, rest_proxy, mariadb, opensearch, flink)


def platform_services(settings: Settings) -> list[ServiceSpec]:
    """Every service of the embedded platform."""
    return [spec for module in SERVICE_MODULES for spec in module.specs(settings)]
