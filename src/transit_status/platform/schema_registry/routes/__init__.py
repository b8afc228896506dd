"""The registry's HTTP API, one router per resource of Confluent's Schema Registry REST API."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from transit_status.platform.schema_registry.routes import compatibility, config, mode, schemas, subjects
from transit_status.platform.schema_registry.routes.common import reply

service = APIRouter()


@service.get("/")
async def root() -> Response:
    return reply({})


@service.get("/contexts")
async def contexts() -> Response:
    return reply(["."])  # one registry, the default context only


ROUTERS = (service, subjects.router, schemas.router, compatibility.router, config.router, mode.router)

__all__ = ["ROUTERS"]
