"""``/schemas``: schemas by global id, and which subject versions use them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from transit_status.platform.schema_registry import errors
from transit_status.platform.schema_registry.compatibility import SUPPORTED_SCHEMA_TYPES
from transit_status.platform.schema_registry.routes.common import (
    Registry,
    flag,
    page,
    raw_reply,
    reply,
    subject_prefix,
)
from transit_status.platform.schema_registry.state import StoredSchema, SubjectVersion

router = APIRouter(prefix="/schemas")


def _schema_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.schema_not_found() from None


def _schema_body(stored: StoredSchema) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": stored.text}
    if stored.schema_type != "AVRO":
        body["schemaType"] = stored.schema_type
    if stored.references:
        body["references"] = list(stored.references)
    return body


def _usages(request: Request, registry: Registry, schema_id: str) -> list[SubjectVersion]:
    """The subject versions using a schema id, narrowed to ``?subject=`` when given."""
    usages = registry.schema_usages(_schema_id(schema_id), include_deleted=flag(request, "deleted"))
    wanted = request.query_params.get("subject")
    return [usage for usage in usages if wanted in (None, usage.subject)]


@router.get("")
async def list_schemas(request: Request, registry: Registry) -> Response:
    entries = registry.latest_schemas(
        prefix=subject_prefix(request),
        include_deleted=flag(request, "deleted"),
        latest_only=flag(request, "latestOnly"),
    )
    return reply(page(request, [entry.to_json() for entry in entries]))


@router.get("/types")
async def schema_types() -> Response:
    return reply(list(SUPPORTED_SCHEMA_TYPES))


@router.get("/ids/{schema_id}")
async def get_schema(request: Request, registry: Registry, schema_id: str) -> Response:
    body = _schema_body(registry.schema(_schema_id(schema_id)))
    if flag(request, "fetchMaxId"):
        body["maxId"] = registry.state.max_id
    return reply(body)


@router.get("/ids/{schema_id}/schema")
async def get_raw_schema(registry: Registry, schema_id: str) -> Response:
    return raw_reply(registry.schema(_schema_id(schema_id)).text)


@router.get("/ids/{schema_id}/subjects")
async def schema_subjects(request: Request, registry: Registry, schema_id: str) -> Response:
    names = sorted({usage.subject for usage in _usages(request, registry, schema_id)})
    return reply(page(request, names))


@router.get("/ids/{schema_id}/versions")
async def schema_versions(request: Request, registry: Registry, schema_id: str) -> Response:
    pairs = [{"subject": u.subject, "version": u.version} for u in _usages(request, registry, schema_id)]
    return reply(page(request, pairs))
