"""The pipeline: what runs on the platform (processes, topics, connectors, SQL jobs) and how it starts."""

from __future__ import annotations

from transit_status.config import Settings
from transit_status.pipeline.services import pipeline_services
from transit_status.platform.service import ServiceSpec
from transit_status.platform.services import platform_services


def whole_stack(settings: Settings) -> list[ServiceSpec]:
    """The platform's services and the pipeline's processes: what `transit-status run` starts."""
    return platform_services(settings) + pipeline_services(settings)


__all__ = ["pipeline_services", "whole_stack"]
