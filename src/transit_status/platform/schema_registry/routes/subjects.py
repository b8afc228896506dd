"""``/subjects``: register, look up, list and delete the versions of a subject."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from transit_status.platform.schema_registry.routes.common import (
    JsonBody,
    Registry,
    Subject,
    blocking,
    decoded,
    flag,
    page,
    raw_reply,
    reply,
    subject_prefix,
)

router = APIRouter(prefix="/subjects")


@router.get("")
async def list_subjects(request: Request, registry: Registry) -> Response:
    names = registry.subjects(
        include_deleted=flag(request, "deleted"),
        deleted_only=flag(request, "deleted_only", "deletedOnly"),
        prefix=subject_prefix(request),
    )
    return reply(page(request, names))


@router.get("/{subject}/versions")
async def list_versions(request: Request, registry: Registry, subject: Subject) -> Response:
    versions = registry.versions(
        subject,
        include_deleted=flag(request, "deleted"),
        deleted_only=flag(request, "deleted_only", "deletedOnly"),
    )
    return reply(page(request, versions))


@router.post("/{subject}/versions")
async def register(registry: Registry, subject: Subject, body: JsonBody) -> Response:
    return reply({"id": await blocking(registry.register, subject, body)})


@router.get("/{subject}/versions/{version}")
async def get_version(request: Request, registry: Registry, subject: Subject, version: str) -> Response:
    entry = registry.version(subject, decoded(version), include_deleted=flag(request, "deleted"))
    return reply(entry.to_json())


@router.get("/{subject}/versions/{version}/schema")
async def get_version_schema(request: Request, registry: Registry, subject: Subject, version: str) -> Response:
    entry = registry.version(subject, decoded(version), include_deleted=flag(request, "deleted"))
    return raw_reply(entry.schema.text)


@router.get("/{subject}/versions/{version}/referencedby")
async def referenced_by(registry: Registry, subject: Subject, version: str) -> Response:
    registry.version(subject, decoded(version), include_deleted=True)
    return reply([])  # schema references are not supported, so nothing refers to anything


@router.delete("/{subject}/versions/{version}")
async def delete_version(request: Request, registry: Registry, subject: Subject, version: str) -> Response:
    return reply(await blocking(registry.delete_version, subject, decoded(version), flag(request, "permanent")))


@router.post("/{subject}")
async def lookup(request: Request, registry: Registry, subject: Subject, body: JsonBody) -> Response:
    entry = registry.lookup(subject, body, include_deleted=flag(request, "deleted"))
    return reply(entry.to_json())


@router.delete("/{subject}")
async def delete_subject(request: Request, registry: Registry, subject: Subject) -> Response:
    return reply(await blocking(registry.delete_subject, subject, flag(request, "permanent")))
