"""Decode and validate the Avro records of Chicago's input topics (contracts: docs/ARCHITECTURE.md).

Each ``*_change`` function turns one decoded Avro record (arrivals, weather) into a state change, or
raises :class:`~transit_status.avro.wire.BadRecord` with a short reason (the record goes to the
dead-letter topic). Avro decoding itself is :mod:`transit_status.avro.wire`'s; the JSON topics'
contracts are ``contracts.py``'s.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from transit_status.avro.wire import BadRecord
from transit_status.dashboard.cta.state import (
    DIRECTIONS,
    TRAIN_STATUSES,
    Train,
    TrainArrival,
    Weather,
    WeatherUpdate,
)

# ---- field checks ----------------------------------------------------------------------------------


def _int(record: Mapping[str, Any], name: str, *, minimum: int | None = None) -> int:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"{name} must be an integer, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise BadRecord(f"{name} must be at least {minimum}, got {value}")
    return value


def _optional_int(record: Mapping[str, Any], name: str) -> int | None:
    return None if record.get(name) is None else _int(record, name)


def _text(record: Mapping[str, Any], name: str, choices: Collection[str] | None = None) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"{name} must be a non-empty string, got {_describe(value)}")
    if choices is not None and value not in choices:
        raise BadRecord(f"{name} {value!r} is not one of {', '.join(sorted(choices))}")
    return value


def _number(record: Mapping[str, Any], name: str, low: float, high: float, optional: bool = False) -> float | None:
    value = record.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRecord(f"{name} must be a number, got {_describe(value)}")
    if not low <= value <= high:
        raise BadRecord(f"{name} {value} is outside [{low}, {high}]")
    return float(value)


def _epoch_ms(record: Mapping[str, Any], name: str) -> int:
    value = record.get(name)
    if isinstance(value, datetime):  # fastavro turns timestamp-millis into datetimes
        return int(value.timestamp() * 1000)
    return _int(record, name, minimum=0)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- one function per topic ----------------------------------------------------------------------


def arrival_change(value: Mapping[str, Any], lines: Collection[str]) -> TrainArrival:
    """``topic_arrivals``: a decoded Avro ``arrival_value``."""
    return TrainArrival(
        Train(
            train_id=_text(value, "train_id"),
            line=_text(value, "line", lines),
            route=_text(value, "route"),
            station_id=_int(value, "station_id", minimum=0),
            station_name=_text(value, "station_name"),
            direction=_text(value, "direction", DIRECTIONS),
            train_status=_text(value, "train_status", TRAIN_STATUSES),
            simulated_at=_epoch_ms(value, "simulated_at"),
            produced_at=_epoch_ms(value, "produced_at"),
            stop_id=_optional_int(value, "stop_id"),
            prev_station_id=_optional_int(value, "prev_station_id"),
        )
    )


def weather_change(key: Mapping[str, Any] | None, value: Mapping[str, Any]) -> WeatherUpdate:
    """``topic_weather``: decoded Avro ``weather_key`` (may be absent) and ``weather_value``."""
    temperature = _number(value, "temperature", -150.0, 200.0)
    assert temperature is not None
    return WeatherUpdate(
        Weather(
            temperature=round(temperature, 2),
            status=_text(value, "status"),
            timestamp=_epoch_ms(key, "timestamp") if key is not None else None,
        )
    )
