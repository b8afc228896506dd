"""The JSON contracts the dashboard reads from Kafka (docs/ARCHITECTURE.md), as strict pydantic models.

Strict: a string is never taken for a number, nor a bool for an integer; unknown fields are ignored,
so a writer may add one without the dashboard dead-lettering everything. Any breach raises
:class:`BadRecord` with a short reason, and the consumer sends the record to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from transit_status.avro.wire import BadRecord
from transit_status.dashboard.cta.state import (
    Station,
    StationRemoval,
    StationUpsert,
    TurnstileCount,
    TurnstileRemoval,
    TurnstileUpsert,
)
from transit_status.dashboard.london.state import (
    ActivityRemoval,
    ActivityUpsert,
    LineActivity,
    LineRemoval,
    LineUpsert,
    StationActivity,
    StationWindow,
    WindowClosed,
)

Name = Annotated[str, Field(min_length=1, pattern=r"\S")]
Id = Annotated[int, Field(ge=0)]


def _utc_instant(value: Any) -> datetime:
    """An ISO-8601 text (``2024-05-01T08:15:00Z``; Flink may write ``2024-05-01 08:15:00``) as an aware
    UTC datetime; a time without an offset is UTC, as the contract says."""
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO-8601 text, got {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


AwareUtc = Annotated[datetime, BeforeValidator(_utc_instant)]


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


Key = TypeVar("Key", bound=_Contract)
Record = TypeVar("Record", bound=_Contract)
Upsert = TypeVar("Upsert")
Removal = TypeVar("Removal")


def _keyed_change(
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
    record_key = _parse(key_model, key, "key") if key is not None else None
    if value is None:
        if record_key is None:
            raise BadRecord("tombstone without a key")
        return removal(record_key)
    record = _parse(record_model, value, "value", context)
    identity = tuple(key_model.model_fields)
    if record_key is not None and record_key.model_dump() != record.model_dump(include=set(identity)):
        raise BadRecord(f"key does not match the value's {' and '.join(identity)}")
    return upsert(record)


def station_change(key: bytes | None, value: bytes | None, lines: Collection[str]) -> StationUpsert | StationRemoval:
    """``topic_stations``: JSON key ``{line, station_id}``, JSON value; a null value removes the station."""
    return _keyed_change(
        key,
        value,
        (StationKey, StationRecord),
        lambda gone: StationRemoval(gone.line, gone.station_id),
        lambda record: StationUpsert(Station(**record.model_dump(exclude={"stops"}), stops=dict(record.stops or {}))),
        {"lines": lines},
    )


def summary_change(key: bytes | None, value: bytes | None) -> TurnstileUpsert | TurnstileRemoval:
    """``topic_turnstile_summary``: JSON key ``{station_id}``, JSON ``{station_id, station_name, count}``."""
    return _keyed_change(
        key,
        value,
        (SummaryKey, SummaryRecord),
        lambda gone: TurnstileRemoval(gone.station_id),
        lambda record: TurnstileUpsert(TurnstileCount(**record.model_dump())),
    )


# ---- London (docs/ARCHITECTURE.md, "London"): Flink SQL's upsert and window topics -------------------
Count = Annotated[int, Field(ge=0)]


class ActivityKey(_Contract):
    station: Name


class ActivityRecord(_Contract):
    """``topic_london_station_activity``: counted so far at a station; ``known`` false for a name the
    stations table does not have."""

    station: Name
    known: bool
    entries: Count
    exits: Count
    inside: int


class LineKey(_Contract):
    line: Name


class LineRecord(_Contract):
    """``topic_london_line_activity``: counted so far on a line."""

    line: Name
    entries: Count
    exits: Count
    inside: int


class WindowRecord(_Contract):
    """``topic_london_station_windows``: entries and exits of one station in one 1- or 15-minute window."""

    station: Name
    window_minutes: Literal[1, 15]
    window_start: AwareUtc
    window_end: AwareUtc
    entries: Count
    exits: Count


# Like station_change and summary_change, a call of _keyed_change: only the models and the changes differ.
def activity_change(key: bytes | None, value: bytes | None) -> ActivityUpsert | ActivityRemoval:
    """JSON key ``{station}``, JSON value; a null value removes the station's counts."""
    return _keyed_change(
        key,
        value,
        (ActivityKey, ActivityRecord),
        lambda gone: ActivityRemoval(gone.station),
        lambda record: ActivityUpsert(StationActivity(**record.model_dump())),
    )


def line_activity_change(key: bytes | None, value: bytes | None) -> LineUpsert | LineRemoval:
    """JSON key ``{line}``, JSON value ``{line, entries, exits, inside}``; a null value removes the line."""
    return _keyed_change(
        key,
        value,
        (LineKey, LineRecord),
        lambda gone: LineRemoval(gone.line),
        lambda record: LineUpsert(LineActivity(**record.model_dump())),
    )


def window_change(value: bytes | None) -> WindowClosed:
    """JSON value of one window (the key repeats its station, size and start)."""
    record = _parse(WindowRecord, value, "value")
    if record.window_end <= record.window_start:
        raise BadRecord("window_end is not after window_start")
    return WindowClosed(
        StationWindow(
            station=record.station,
            window_minutes=record.window_minutes,
            window_start=_epoch_ms(record.window_start),
            window_end=_epoch_ms(record.window_end),
            entries=record.entries,
            exits=record.exits,
        )
    )


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
