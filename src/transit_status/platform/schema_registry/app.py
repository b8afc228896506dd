"""HTTP API of the registry: the Confluent Schema Registry REST API (the subset Avro clients use).

The routes live in :mod:`.routes`, one router per resource (subjects, schemas, compatibility, config,
mode); each gets the registry through a dependency. This module wires them to an app with Confluent's
error bodies. Requests may use ``application/vnd.schemaregistry.v1+json``,
``application/vnd.schemaregistry+json``, ``application/json`` or ``application/octet-stream`` bodies
(anything else is 415); every answer (errors included) is ``application/vnd.schemaregistry.v1+json``.
Unknown query parameters are ignored, boolean ones accept any case (the Python client sends
``True``/``False``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from transit_status.config import Settings, load_settings
from transit_status.platform.schema_registry.errors import RegistryError
from transit_status.platform.schema_registry.routes import ROUTERS
from transit_status.platform.schema_registry.routes.common import MEDIA_TYPE, reply
from transit_status.platform.schema_registry.store import SchemaRegistry

log = logging.getLogger(__name__)

__all__ = ["MEDIA_TYPE", "create_app", "reply"]

_HTTP_REASONS = {404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type"}


class RawPathRouting:
    """Route on the raw (still percent-encoded) path, so a subject may contain an encoded ``/``.

    Clients encode subject names with ``quote(name, safe='')``; the routes decode each path
    parameter themselves, exactly once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            raw_path = scope["raw_path"].split(b"?", 1)[0]
            scope = {**scope, "path": raw_path.decode("latin-1")}
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, *, registry: SchemaRegistry | None = None) -> FastAPI:
    """The registry's ASGI app.

    With ``registry`` (already started) the app serves it and leaves its lifecycle to the caller;
    otherwise it builds one from ``settings`` (default: ``load_settings()``), starts it when the app
    starts (failing startup if Kafka is unreachable) and closes it on shutdown.
    """
    owned = registry is None
    service = registry if registry is not None else SchemaRegistry.from_settings(settings or load_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owned:
            await run_in_threadpool(service.start)
        try:
            yield
        finally:
            if owned:
                await run_in_threadpool(service.close)

    app = FastAPI(title="transit-status schema registry", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.registry = service  # what the routes' `Registry` dependency hands them
    _install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(RawPathRouting)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def registry_error(_: Request, exc: RegistryError) -> Response:
        return reply(exc.to_body(), exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        reason = _HTTP_REASONS.get(exc.status_code, str(exc.detail))
        body = {"error_code": exc.status_code, "message": f"HTTP {exc.status_code} {reason}"}
        return reply(body, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return reply({"error_code": 422, "message": f"Invalid request: {exc.errors()}"}, 422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.error("Unexpected error serving %s %s", request.method, request.url.path, exc_info=exc)
        return reply({"error_code": 500, "message": "Internal Server Error"}, 500)
