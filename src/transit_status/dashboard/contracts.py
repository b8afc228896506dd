"""The JSON contracts the dashboard reads from Kafka (docs/ARCHITECTURE.md), as strict pydantic models.

Strict: a string is never taken for a number, nor a bool for an integer; unknown fields are ignored,
so a writer may add one without the dashboard dead-lettering everything. Any breach raises
:class:`BadRecord` with a short reason, and the consumer sends the record to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from transit_status.dashboard.records import BadRecord
from transit_status.dashboard.state import (
    Station,
    StationRemoval,
    StationUpsert,
    TurnstileCount,
    TurnstileRemoval,
    TurnstileUpsert,
)

Name = Annotated[str, Field(min_length=1, pattern=r"\S")]
Id = Annotated[int, Field(ge=0)]


class _Contract(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class StationKey(_Contract):
    line: Name
    station_id: int


class StationRecord(_Contract):
    """``topic_stations``: one record per (line, station); ``order`` is its position on the line."""

    station_id: Id
    station_name: Name
    line: Name
    order: Id
    stops: dict[str, int | None] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None

    @field_validator("line")
    @classmethod
    def _known_line(cls, line: str, info: ValidationInfo) -> str:
        lines: Collection[str] | None = (info.context or {}).get("lines")
        if lines is not None and line not in lines:
            raise ValueError(f"line {line!r} is not one of {', '.join(sorted(lines))}")
        return line


Contract = TypeVar("Contract", bound=_Contract)


class SummaryKey(_Contract):
    station_id: int


class SummaryRecord(_Contract):
    """``topic_turnstile_summary``: the entries counted so far at a station."""

    station_id: Id
    station_name: Name
    count: Id


def _parse(model: type[Contract], data: bytes | None, what: str, context: Any = None) -> Contract:
    if data is None:
        raise BadRecord(f"{what} is null")
    try:
        return model.model_validate_json(data, context=context)
    except ValidationError as exc:
        raise BadRecord(f"{what}: {_reason(exc)}") from exc


def _reason(error: ValidationError) -> str:
    """The first problem, e.g. ``order: Input should be a valid integer``; at most 200 characters."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{where}: {first['msg']}" if where else first["msg"]
    more = error.error_count() - 1
    text += f" (and {more} more)" if more else ""
    return text if len(text) <= 200 else text[:197] + "..."


def station_change(key: bytes | None, value: bytes | None, lines: Collection[str]) -> StationUpsert | StationRemoval:
    """``topic_stations``: JSON key ``{line, station_id}``, JSON value; a null value removes the station."""
    station_key = _parse(StationKey, key, "key") if key is not None else None
    if value is None:
        if station_key is None:
            raise BadRecord("tombstone without a key")
        return StationRemoval(station_key.line, station_key.station_id)
    record = _parse(StationRecord, value, "value", {"lines": lines})
    if station_key is not None and (station_key.line, station_key.station_id) != (record.line, record.station_id):
        raise BadRecord("key does not match the value's line and station_id")
    return StationUpsert(Station(**record.model_dump(exclude={"stops"}), stops=dict(record.stops or {})))


def summary_change(key: bytes | None, value: bytes | None) -> TurnstileUpsert | TurnstileRemoval:
    """``topic_turnstile_summary``: JSON key ``{station_id}``, JSON ``{station_id, station_name, count}``."""
    summary_key = _parse(SummaryKey, key, "key") if key is not None else None
    if value is None:
        if summary_key is None:
            raise BadRecord("tombstone without a key")
        return TurnstileRemoval(summary_key.station_id)
    record = _parse(SummaryRecord, value, "value")
    if summary_key is not None and summary_key.station_id != record.station_id:
        raise BadRecord("key does not match the value's station_id")
    return TurnstileUpsert(TurnstileCount(**record.model_dump()))
