"""What the proxy's routers share: v2 JSON replies, content negotiation, and the Kafka/registry dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.errors import RestError
from transit_status.platform.rest_proxy.kafka import KafkaGateway
from transit_status.platform.rest_proxy.schemas import SchemaRegistryGateway

V2_JSON = "application/vnd.kafka.v2+json"
EMBEDDED_FORMATS = {
    "application/vnd.kafka.avro.v2+json": "avro",
    "application/vnd.kafka.json.v2+json": "json",
    "application/vnd.kafka.binary.v2+json": "binary",
}
ACCEPTABLE = frozenset({V2_JSON, "application/vnd.kafka+json", "application/json", "*/*", "application/*"})


class KafkaJSONResponse(JSONResponse):
    media_type = V2_JSON


def error_response(error: RestError) -> KafkaJSONResponse:
    return KafkaJSONResponse(error.body(), status_code=error.status)


@dataclass
class ProxyState:
    """The clients the app's lifespan opens; routes get them through the dependencies below."""

    kafka: KafkaGateway
    registry: SchemaRegistryGateway


def kafka_gateway(request: Request) -> KafkaGateway:
    return request.app.state.proxy.kafka


def registry_gateway(request: Request) -> SchemaRegistryGateway:
    return request.app.state.proxy.registry


Kafka = Annotated[KafkaGateway, Depends(kafka_gateway)]
Registry = Annotated[SchemaRegistryGateway, Depends(registry_gateway)]


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def _is_q_zero(param: str) -> bool:
    name, _, value = param.partition("=")
    if name.strip().lower() != "q":
        return False
    try:
        return float(value) == 0
    except ValueError:
        return False


def check_accept(request: Request) -> None:
    """406 unless the client accepts the v2 JSON answers (no Accept header accepts anything)."""
    header = request.headers.get("accept", "").strip()
    if not header:
        return
    for entry in header.split(","):
        media_range, *params = (part.strip() for part in entry.split(";"))
        if media_range.lower() in ACCEPTABLE and not any(_is_q_zero(param) for param in params):
            return
    raise RestError(406, errors.NOT_ACCEPTABLE, f"HTTP 406 Not Acceptable: responses are {V2_JSON}")


def embedded_format(request: Request) -> str:
    """The produce request's embedded format from its Content-Type: avro, json or binary (else 415)."""
    content_type = _media_type(request.headers.get("content-type", ""))
    fmt = EMBEDDED_FORMATS.get(content_type)
    if fmt is None:
        supported = ", ".join(EMBEDDED_FORMATS)
        shown = content_type or "none"
        raise RestError(
            415,
            errors.UNSUPPORTED_MEDIA_TYPE,
            f"HTTP 415 Unsupported Media Type: Content-Type {shown} is not supported; use one of {supported}",
        )
    return fmt


EmbeddedFormat = Annotated[str, Depends(embedded_format)]
Accepting = Depends(check_accept)
