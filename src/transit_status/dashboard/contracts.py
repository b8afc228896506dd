"""What the JSON contracts the dashboard reads from Kafka share (docs/ARCHITECTURE.md): strict pydantic
models, a short reason for a breach, and the upsert topic's rule (a null value removes what the key names).

Each network's contracts are its own (``cta/contracts.py``, ``london/contracts.py``, the alerts' and run
times' beside them). Strict: a string is never taken for a number, nor a bool for an integer; unknown
fields are ignored, so a writer may add one without the dashboard dead-lettering everything. Any breach
raises :class:`BadRecord` with a short reason, and the consumer sends the record to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from transit_status.avro.wire import BadRecord

Name = Annotated[str, Field(min_length=1, pattern=r"\S")]
Id = Annotated[int, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


def _utc_instant(value: Any) -> datetime:
    """An ISO-8601 text (``2024-05-01T08:15:00Z``; Flink may write ``2024-05-01 08:15:00``) as an aware
    UTC datetime; a time without an offset is UTC, as the contract says."""
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO-8601 text, got {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


AwareUtc = Annotated[datetime, BeforeValidator(_utc_instant)]


class Contract(BaseModel):
    """A JSON record's model: strict, frozen, unknown fields ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


Model = TypeVar("Model", bound=Contract)


def parse(model: type[Model], data: bytes | None, what: str, context: Any = None) -> Model:
    if data is None:
        raise BadRecord(f"{what} is null")
    try:
        return model.model_validate_json(data, context=context)
    except ValidationError as exc:
        raise BadRecord(f"{what}: {reason(exc)}") from exc


def reason(error: ValidationError) -> str:
    """The first problem, e.g. ``order: Input should be a valid integer``; at most 200 characters."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{where}: {first['msg']}" if where else first["msg"]
    more = error.error_count() - 1
    text += f" (and {more} more)" if more else ""
    return text if len(text) <= 200 else text[:197] + "..."


Key = TypeVar("Key", bound=Contract)
Record = TypeVar("Record", bound=Contract)
Upsert = TypeVar("Upsert")
Removal = TypeVar("Removal")


def keyed_change(
    key: bytes | None,
    value: bytes | None,
    models: tuple[type[Key], type[Record]],
    removal: Callable[[Key], Removal],
    upsert: Callable[[Record], Upsert],
    context: Any = None,
) -> Upsert | Removal:
    """An upsert topic's record: a null value removes what the key names; a value's own fields must
    agree with the key's, which are the record's identity (the key may be null)."""
    key_model, record_model = models
    record_key = parse(key_model, key, "key") if key is not None else None
    if value is None:
        if record_key is None:
            raise BadRecord("tombstone without a key")
        return removal(record_key)
    record = parse(record_model, value, "value", context)
    identity = tuple(key_model.model_fields)
    if record_key is not None and record_key.model_dump() != record.model_dump(include=set(identity)):
        raise BadRecord(f"key does not match the value's {' and '.join(identity)}")
    return upsert(record)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
