"""``/config``: the compatibility level, globally and per subject."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from transit_status.platform.schema_registry import errors
from transit_status.platform.schema_registry.compatibility import CompatibilityLevel
from transit_status.platform.schema_registry.routes.common import JsonBody, Registry, Subject, blocking, flag, reply

router = APIRouter(prefix="/config")


async def _update(registry: Registry, subject: str | None, body: dict[str, Any]) -> Response:
    given = body.get("compatibility", body.get("compatibilityLevel"))
    level = CompatibilityLevel.parse(given)
    if level is None:
        raise errors.invalid_compatibility_level(given)
    await blocking(registry.set_compatibility, subject, level)
    return reply({"compatibility": level.value})


async def _delete(registry: Registry, subject: str | None) -> Response:
    previous = await blocking(registry.delete_compatibility, subject)
    return reply({"compatibilityLevel": previous.value})


@router.get("")
async def get_global_config(registry: Registry) -> Response:
    return reply({"compatibilityLevel": registry.compatibility(None).value})


@router.put("")
async def put_global_config(registry: Registry, body: JsonBody) -> Response:
    return await _update(registry, None, body)


@router.delete("")
async def delete_global_config(registry: Registry) -> Response:
    return await _delete(registry, None)


@router.get("/{subject}")
async def get_subject_config(request: Request, registry: Registry, subject: Subject) -> Response:
    level = registry.compatibility(subject, default_to_global=flag(request, "defaultToGlobal"))
    return reply({"compatibilityLevel": level.value})


@router.put("/{subject}")
async def put_subject_config(registry: Registry, subject: Subject, body: JsonBody) -> Response:
    return await _update(registry, subject, body)


@router.delete("/{subject}")
async def delete_subject_config(registry: Registry, subject: Subject) -> Response:
    return await _delete(registry, subject)
