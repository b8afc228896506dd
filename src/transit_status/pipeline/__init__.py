"""The pipeline: what runs on the platform (processes, topics, connectors, SQL jobs) and how it starts."""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.pipeline.services import pipeline_services
from transit_status.platform.service import ServiceSpec, with_dependencies
from transit_status.platform.services import platform_services


def whole_stack(settings: Settings) -> list[ServiceSpec]:
    """What `transit-status run` starts: the pipeline's processes for ``settings.run_networks`` and
    the platform services they depend on, derived from each process's ``after`` and ``needs`` (so
    ``--network cta`` starts no MariaDB or OpenSearch, ``--network london`` no REST Proxy)."""
    pipeline = pipeline_services(settings)
    platform = platform_services(settings)
    return with_dependencies(platform + pipeline, [spec.name for spec in pipeline])


__all__ = ["pipeline_services", "whole_stack"]
