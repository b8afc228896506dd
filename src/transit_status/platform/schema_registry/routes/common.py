"""What every registry router shares: the JSON reply, the registry dependency, request-body and path decoding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from transit_status.platform.schema_registry import errors
from transit_status.platform.schema_registry.store import SchemaRegistry

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
# What Confluent's resources @Consumes; no Content-Type at all counts as octet-stream, as in Jersey.
ACCEPTED_BODY_TYPES = frozenset(
    {MEDIA_TYPE, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"}
)


def reply(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=MEDIA_TYPE)


def raw_reply(text: str) -> Response:
    """A schema's text as stored (the ``.../schema`` endpoints answer the schema itself, not JSON around it)."""
    return Response(text, media_type=MEDIA_TYPE)


def the_registry(request: Request) -> SchemaRegistry:
    return request.app.state.registry


Registry = Annotated[SchemaRegistry, Depends(the_registry)]


async def blocking(function: Callable[..., Any], *args: Any) -> Any:
    """Run a registry write off the event loop: writes wait for Kafka's acknowledgement."""
    return await run_in_threadpool(function, *args)


def decoded(segment: str) -> str:
    """A path segment, percent-decoded once (the app routes on the raw path; see ``RawPathRouting``)."""
    return unquote_to_bytes(segment.encode("latin-1")).decode("utf-8", errors="replace")


def subject_in_path(subject: str) -> str:
    return decoded(subject)


Subject = Annotated[str, Depends(subject_in_path)]


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object: 415 for a media type Confluent does not consume, 400/422 for bad JSON."""
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() not in ACCEPTED_BODY_TYPES:
        raise errors.unsupported_media_type()
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


JsonBody = Annotated[dict[str, Any], Depends(json_object)]


def flag(request: Request, *names: str) -> bool:
    """A boolean query parameter, JAX-RS style: "true" in any case is true, anything else false."""
    return any(request.query_params.get(name, "").strip().lower() == "true" for name in names)


def page(request: Request, items: list[Any]) -> list[Any]:
    """Confluent's ``offset``/``limit`` paging (a negative limit means no limit)."""
    try:
        offset = max(int(request.query_params.get("offset", "0")), 0)
        limit = int(request.query_params.get("limit", "-1"))
    except ValueError:
        return items
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def subject_prefix(request: Request) -> str:
    prefix = request.query_params.get("subjectPrefix", "")
    return "" if prefix == ":*:" else prefix  # ":*:" is Confluent's "every context" default
