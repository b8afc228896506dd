"""``/mode``, globally and per subject: READWRITE, READONLY (writes refused) or IMPORT (client-given ids)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from transit_status.platform.schema_registry import errors
from transit_status.platform.schema_registry.routes.common import JsonBody, Registry, Subject, blocking, flag, reply
from transit_status.platform.schema_registry.state import Mode

router = APIRouter(prefix="/mode")
# Laid out as routes/config.py, one handler per Confluent endpoint; bodies, fields and flags differ, so none is shared.


async def _update(request: Request, registry: Registry, subject: str | None, body: dict[str, Any]) -> Response:
    mode = Mode.parse(body.get("mode"))
    if mode is None:
        raise errors.invalid_mode(body.get("mode"))
    await blocking(registry.set_mode, subject, mode, flag(request, "force"))
    return reply({"mode": mode.value})


async def _delete(registry: Registry, subject: str | None) -> Response:
    previous = await blocking(registry.delete_mode, subject)
    return reply({"mode": previous.value})


@router.get("")
async def get_global_mode(registry: Registry) -> Response:
    return reply({"mode": registry.mode(None).value})


@router.put("")
async def put_global_mode(request: Request, registry: Registry, body: JsonBody) -> Response:
    return await _update(request, registry, None, body)


@router.delete("")
async def delete_global_mode(registry: Registry) -> Response:
    return await _delete(registry, None)


@router.get("/{subject}")
async def get_subject_mode(request: Request, registry: Registry, subject: Subject) -> Response:
    return reply({"mode": registry.mode(subject, default_to_global=flag(request, "defaultToGlobal")).value})


@router.put("/{subject}")
async def put_subject_mode(request: Request, registry: Registry, subject: Subject, body: JsonBody) -> Response:
    return await _update(request, registry, subject, body)


@router.delete("/{subject}")
async def delete_subject_mode(registry: Registry, subject: Subject) -> Response:
    return await _delete(registry, subject)
