"""HTTP API of the registry: the Confluent Schema Registry REST API (the subset Avro clients use).

Requests may use ``application/vnd.schemaregistry.v1+json``, ``application/vnd.schemaregistry+json``,
``application/json`` or ``application/octet-stream`` bodies; every answer (errors included) is
``application/vnd.schemaregistry.v1+json``. Unknown query parameters are ignored, boolean ones accept
any case (the Python client sends ``True``/``False``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from transit_status.config import Settings, load_settings
from transit_status.platform.schema_registry import errors
from transit_status.platform.schema_registry.compatibility import SUPPORTED_SCHEMA_TYPES, CompatibilityLevel
from transit_status.platform.schema_registry.errors import RegistryError
from transit_status.platform.schema_registry.state import StoredSchema
from transit_status.platform.schema_registry.store import SchemaRegistry

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
_HTTP_REASONS = {404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type"}
_MODES = ("READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT")


def reply(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=MEDIA_TYPE)


def _schema_body(stored: StoredSchema) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": stored.text}
    if stored.schema_type != "AVRO":
        body["schemaType"] = stored.schema_type
    if stored.references:
        body["references"] = list(stored.references)
    return body


def _flag(request: Request, *names: str) -> bool:
    """A boolean query parameter, JAX-RS style: "true" in any case is true, anything else false."""
    return any(request.query_params.get(name, "").strip().lower() == "true" for name in names)


def _page(request: Request, items: list[Any]) -> list[Any]:
    """Confluent's ``offset``/``limit`` paging (a negative limit means no limit)."""
    try:
        offset = max(int(request.query_params.get("offset", "0")), 0)
        limit = int(request.query_params.get("limit", "-1"))
    except ValueError:
        return items
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def _subject_prefix(request: Request) -> str:
    prefix = request.query_params.get("subjectPrefix", "")
    return "" if prefix == ":*:" else prefix  # ":*:" is Confluent's "every context" default


def _decoded(segment: str) -> str:
    """A path segment, percent-decoded once (see _RawPathRouting)."""
    return unquote_to_bytes(segment.encode("latin-1")).decode("utf-8", errors="replace")


def _schema_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.schema_not_found() from None


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise errors.unprocessable_body("The request body is empty; expected a JSON object")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise errors.malformed_json(str(exc)) from None
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise errors.unprocessable_body(f"Expected a JSON object as request body, got {kind}")
    return document


class _RawPathRouting:
    """Route on the raw (still percent-encoded) path, so a subject may contain an encoded ``/``.

    Clients encode subject names with ``quote(name, safe='')``; the server decodes each path
    parameter itself, exactly once.
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
    app.state.registry = service
    _install_error_handlers(app)
    _install_routes(app, service)
    app.add_middleware(_RawPathRouting)
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


def _install_routes(app: FastAPI, registry: SchemaRegistry) -> None:
    async def blocking(function: Callable[..., Any], *args: Any) -> Any:
        # Writes wait for Kafka; keep them off the event loop.
        return await run_in_threadpool(function, *args)

    @app.get("/")
    async def root() -> Response:
        return reply({})

    # ---- subjects ------------------------------------------------------------------------------
    @app.get("/subjects")
    async def list_subjects(request: Request) -> Response:
        names = registry.subjects(
            include_deleted=_flag(request, "deleted"),
            deleted_only=_flag(request, "deleted_only", "deletedOnly"),
            prefix=_subject_prefix(request),
        )
        return reply(_page(request, names))

    @app.get("/subjects/{subject}/versions")
    async def list_versions(request: Request, subject: str) -> Response:
        versions = registry.versions(
            _decoded(subject),
            include_deleted=_flag(request, "deleted"),
            deleted_only=_flag(request, "deleted_only", "deletedOnly"),
        )
        return reply(_page(request, versions))

    @app.post("/subjects/{subject}/versions")
    async def register(request: Request, subject: str) -> Response:
        body = await _json_object(request)
        schema_id = await blocking(registry.register, _decoded(subject), body)
        return reply({"id": schema_id})

    @app.get("/subjects/{subject}/versions/{version}")
    async def get_version(request: Request, subject: str, version: str) -> Response:
        entry = registry.version(_decoded(subject), _decoded(version), include_deleted=_flag(request, "deleted"))
        return reply(entry.to_json())

    @app.get("/subjects/{subject}/versions/{version}/schema")
    async def get_version_schema(request: Request, subject: str, version: str) -> Response:
        entry = registry.version(_decoded(subject), _decoded(version), include_deleted=_flag(request, "deleted"))
        return Response(entry.schema.text, media_type=MEDIA_TYPE)

    @app.get("/subjects/{subject}/versions/{version}/referencedby")
    async def referenced_by(subject: str, version: str) -> Response:
        registry.version(_decoded(subject), _decoded(version), include_deleted=True)
        return reply([])  # schema references are not supported, so nothing refers to anything

    @app.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(request: Request, subject: str, version: str) -> Response:
        deleted = await blocking(
            registry.delete_version, _decoded(subject), _decoded(version), _flag(request, "permanent")
        )
        return reply(deleted)

    @app.post("/subjects/{subject}")
    async def lookup(request: Request, subject: str) -> Response:
        body = await _json_object(request)
        entry = registry.lookup(_decoded(subject), body, include_deleted=_flag(request, "deleted"))
        return reply(entry.to_json())

    @app.delete("/subjects/{subject}")
    async def delete_subject(request: Request, subject: str) -> Response:
        versions = await blocking(registry.delete_subject, _decoded(subject), _flag(request, "permanent"))
        return reply(versions)

    # ---- schemas -------------------------------------------------------------------------------
    @app.get("/schemas")
    async def list_schemas(request: Request) -> Response:
        entries = registry.latest_schemas(
            prefix=_subject_prefix(request),
            include_deleted=_flag(request, "deleted"),
            latest_only=_flag(request, "latestOnly"),
        )
        return reply(_page(request, [entry.to_json() for entry in entries]))

    @app.get("/schemas/types")
    async def schema_types() -> Response:
        return reply(list(SUPPORTED_SCHEMA_TYPES))

    @app.get("/schemas/ids/{schema_id}")
    async def get_schema(request: Request, schema_id: str) -> Response:
        number = _schema_id(schema_id)
        body = _schema_body(registry.schema(number))
        if _flag(request, "fetchMaxId"):
            body["maxId"] = registry.state.max_id
        return reply(body)

    @app.get("/schemas/ids/{schema_id}/schema")
    async def get_raw_schema(schema_id: str) -> Response:
        return Response(registry.schema(_schema_id(schema_id)).text, media_type=MEDIA_TYPE)

    @app.get("/schemas/ids/{schema_id}/subjects")
    async def schema_subjects(request: Request, schema_id: str) -> Response:
        usages = registry.schema_usages(_schema_id(schema_id), include_deleted=_flag(request, "deleted"))
        wanted = request.query_params.get("subject")
        names = sorted({u.subject for u in usages if wanted is None or u.subject == wanted})
        return reply(_page(request, names))

    @app.get("/schemas/ids/{schema_id}/versions")
    async def schema_versions(request: Request, schema_id: str) -> Response:
        usages = registry.schema_usages(_schema_id(schema_id), include_deleted=_flag(request, "deleted"))
        wanted = request.query_params.get("subject")
        pairs = [{"subject": u.subject, "version": u.version} for u in usages if wanted in (None, u.subject)]
        return reply(_page(request, pairs))

    # ---- compatibility ---------------------------------------------------------------------------
    async def compatibility(request: Request, subject: str, version: str | None) -> Response:
        body = await _json_object(request)
        result = registry.test_compatibility(_decoded(subject), body, version)
        answer: dict[str, Any] = {"is_compatible": result.is_compatible}
        if _flag(request, "verbose"):
            answer["messages"] = result.messages
        return reply(answer)

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility_with_version(request: Request, subject: str, version: str) -> Response:
        return await compatibility(request, subject, _decoded(version))

    @app.post("/compatibility/subjects/{subject}/versions")
    async def compatibility_with_all(request: Request, subject: str) -> Response:
        return await compatibility(request, subject, None)

    # ---- config --------------------------------------------------------------------------------
    async def update_config(request: Request, subject: str | None) -> Response:
        body = await _json_object(request)
        given = body.get("compatibility", body.get("compatibilityLevel"))
        level = CompatibilityLevel.parse(given)
        if level is None:
            raise errors.invalid_compatibility_level(given)
        await blocking(registry.set_compatibility, subject, level)
        return reply({"compatibility": level.value})

    @app.get("/config")
    async def get_global_config() -> Response:
        return reply({"compatibilityLevel": registry.compatibility(None).value})

    @app.put("/config")
    async def put_global_config(request: Request) -> Response:
        return await update_config(request, None)

    @app.delete("/config")
    async def delete_global_config() -> Response:
        previous = await blocking(registry.delete_compatibility, None)
        return reply({"compatibilityLevel": previous.value})

    @app.get("/config/{subject}")
    async def get_subject_config(request: Request, subject: str) -> Response:
        level = registry.compatibility(_decoded(subject), default_to_global=_flag(request, "defaultToGlobal"))
        return reply({"compatibilityLevel": level.value})

    @app.put("/config/{subject}")
    async def put_subject_config(request: Request, subject: str) -> Response:
        return await update_config(request, _decoded(subject))

    @app.delete("/config/{subject}")
    async def delete_subject_config(subject: str) -> Response:
        previous = await blocking(registry.delete_compatibility, _decoded(subject))
        return reply({"compatibilityLevel": previous.value})

    # ---- mode and contexts: a single read-write registry, no contexts ---------------------------
    async def update_mode(request: Request) -> Response:
        body = await _json_object(request)
        mode = str(body.get("mode", "")).strip().upper()
        if mode not in _MODES:
            raise errors.invalid_mode(body.get("mode"))
        if mode != "READWRITE":
            raise errors.operation_not_permitted(f"Mode {mode} is not supported; this registry is always READWRITE")
        return reply({"mode": mode})

    @app.get("/mode")
    async def get_mode() -> Response:
        return reply({"mode": "READWRITE"})

    @app.put("/mode")
    async def put_mode(request: Request) -> Response:
        return await update_mode(request)

    @app.get("/mode/{subject}")
    async def get_subject_mode(subject: str) -> Response:
        return reply({"mode": "READWRITE"})

    @app.put("/mode/{subject}")
    async def put_subject_mode(request: Request, subject: str) -> Response:
        return await update_mode(request)

    @app.delete("/mode/{subject}")
    async def delete_subject_mode(subject: str) -> Response:
        return reply({"mode": "READWRITE"})

    @app.get("/contexts")
    async def contexts() -> Response:
        return reply(["."])
