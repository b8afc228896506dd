"""``/compatibility``: would a schema be accepted by a subject, without registering it?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from transit_status.platform.schema_registry.routes.common import JsonBody, Registry, Subject, decoded, flag, reply

router = APIRouter(prefix="/compatibility")


def _answer(request: Request, registry: Registry, subject: str, body: dict[str, Any], version: str | None) -> Response:
    result = registry.test_compatibility(subject, body, version)
    answer: dict[str, Any] = {"is_compatible": result.is_compatible}
    if flag(request, "verbose"):
        answer["messages"] = result.messages
    return reply(answer)


@router.post("/subjects/{subject}/versions/{version}")
async def compatible_with_version(
    request: Request, registry: Registry, subject: Subject, version: str, body: JsonBody
) -> Response:
    return _answer(request, registry, subject, body, decoded(version))


@router.post("/subjects/{subject}/versions")
async def compatible_with_all(request: Request, registry: Registry, subject: Subject, body: JsonBody) -> Response:
    return _answer(request, registry, subject, body, None)
