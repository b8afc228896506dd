"""Chicago's JSON contracts (docs/ARCHITECTURE.md): the stations and turnstile summary topics (the shared
rules: ``dashboard/contracts.py``; arrivals and weather are Avro: ``records.py``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from transit_status.dashboard.contracts import Contract, Id, Name, keyed_change
from transit_status.dashboard.cta.state import (
    Station,
    StationRemoval,
    StationUpsert,
    TurnstileCount,
    TurnstileRemoval,
    TurnstileUpsert,
)


class StationKey(Contract):
    line: Name
    station_id: int


class StationRecord(Contract):
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


class SummaryKey(Contract):
    station_id: int


class SummaryRecord(Contract):
    """``topic_turnstile_summary``: the entries counted so far at a station."""

    station_id: Id
    station_name: Name
    count: Id


def station_change(key: bytes | None, value: bytes | None, lines: Collection[str]) -> StationUpsert | StationRemoval:
    """``topic_stations``: JSON key ``{line, station_id}``, JSON value; a null value removes the station."""
    return keyed_change(
        key,
        value,
        (StationKey, StationRecord),
        lambda gone: StationRemoval(gone.line, gone.station_id),
        lambda record: StationUpsert(Station(**record.model_dump(exclude={"stops"}), stops=dict(record.stops or {}))),
        {"lines": lines},
    )


def summary_change(key: bytes | None, value: bytes | None) -> TurnstileUpsert | TurnstileRemoval:
    """``topic_turnstile_summary``: JSON key ``{station_id}``, JSON ``{station_id, station_name, count}``."""
    return keyed_change(
        key,
        value,
        (SummaryKey, SummaryRecord),
        lambda gone: TurnstileRemoval(gone.station_id),
        lambda record: TurnstileUpsert(TurnstileCount(**record.model_dump())),
    )
