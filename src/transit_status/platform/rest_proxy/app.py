"""A Confluent REST Proxy (API v2) compatible HTTP front for producing to Kafka and reading topic metadata.

The routes live in :mod:`.routes`, one router per resource (topics, produce); they get the Kafka and
schema-registry clients through dependencies. This module opens those clients for the app's lifespan
and answers every error with Confluent's ``{"error_code", "message"}`` body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from transit_status.config import Settings
from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.errors import RestError
from transit_status.platform.rest_proxy.kafka import KafkaGateway
from transit_status.platform.rest_proxy.routes import ROUTERS
from transit_status.platform.rest_proxy.routes.common import KafkaJSONResponse, ProxyState, error_response
from transit_status.platform.rest_proxy.schemas import SchemaRegistryGateway

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The REST proxy as an ASGI app; Kafka and registry clients live for the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kafka = KafkaGateway(settings)
        kafka.start()
        app.state.proxy = ProxyState(kafka=kafka, registry=SchemaRegistryGateway(settings))
        log.info(
            "rest-proxy: serving on %s (Kafka %s, schema registry %s)",
            settings.rest_proxy_url,
            settings.bootstrap_servers,
            settings.schema_registry_url,
        )
        try:
            yield
        finally:
            log.info("rest-proxy: shutting down, flushing the producer")
            kafka.close()

    app = FastAPI(title="transit-status REST proxy", lifespan=lifespan, docs_url=None, redoc_url=None)
    _install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RestError)
    async def _rest_error(request: Request, exc: RestError) -> KafkaJSONResponse:
        level = logging.WARNING if exc.status >= 500 else logging.INFO
        log.log(level, "%s %s -> %d/%d %s", request.method, request.url.path, exc.status, exc.error_code, exc.message)
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> KafkaJSONResponse:
        return error_response(RestError(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}"))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> KafkaJSONResponse:
        return error_response(errors.bad_request(f"Invalid request: {exc.errors()}"))

    @app.middleware("http")
    async def _never_a_stack_trace(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception:
            log.exception("rest-proxy: unexpected error on %s %s", request.method, request.url.path)
            return error_response(
                RestError(500, errors.INTERNAL_SERVER_ERROR, "Internal server error (see the REST proxy's log)")
            )
