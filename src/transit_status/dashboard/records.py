"""Decode and validate the records of the dashboard's input topics (contracts: docs/ARCHITECTURE.md).

Each ``*_change`` function turns one record's key/value bytes into a state change, or raises
:class:`BadRecord` with a short reason (the record goes to the dead-letter topic). A registry that
cannot be reached is not the record's fault: :class:`RegistryUnavailable` tells the consumer to
retry the same record later instead.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import fastavro
import httpx
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from transit_status.dashboard.state import (
    DIRECTIONS,
    TRAIN_STATUSES,
    Station,
    StationRemoval,
    StationUpsert,
    Train,
    TrainArrival,
    TurnstileCount,
    TurnstileRemoval,
    TurnstileUpsert,
    Weather,
    WeatherUpdate,
)


class BadRecord(ValueError):
    """The record cannot be decoded or breaks its topic's contract."""


class RegistryUnavailable(RuntimeError):
    """The schema registry could not answer; the record may well be fine."""


# ---- Avro in Confluent's wire format ---------------------------------------------------------------
class AvroDecoder:
    """Magic byte 0, 4-byte big-endian schema id, Avro binary; writer schemas come from the registry."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self.registry = registry
        self._schemas: dict[int, Any] = {}

    def decode(self, data: bytes | None, what: str = "value") -> dict[str, Any]:
        if data is None:
            raise BadRecord(f"{what} is null")
        if len(data) < 5 or data[0] != 0:
            raise BadRecord(f"{what} is not in Confluent Avro wire format (magic byte 0 + schema id)")
        (schema_id,) = struct.unpack(">I", data[1:5])
        schema = self._writer_schema(schema_id, what)
        try:
            payload = io.BytesIO(data[5:])
            record = fastavro.schemaless_reader(payload, schema, None)
        except Exception as exc:  # fastavro raises many kinds on garbage; all mean the same here
            raise BadRecord(f"{what} does not decode with schema id {schema_id}: {_short(exc)}") from exc
        if payload.tell() != len(data) - 5:
            raise BadRecord(f"{what} has {len(data) - 5 - payload.tell()} bytes left over after the record")
        if not isinstance(record, dict):
            raise BadRecord(f"{what} is not an Avro record")
        return record

    def _writer_schema(self, schema_id: int, what: str) -> Any:
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self.registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if 400 <= exc.http_status_code < 500:
                raise BadRecord(f"{what} names schema id {schema_id}, which the registry does not know") from exc
            raise RegistryUnavailable(f"schema registry error for id {schema_id}: {_short(exc)}") from exc
        except (httpx.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"schema registry unreachable: {_short(exc)}") from exc
        if (registered.schema_type or "AVRO") != "AVRO":
            raise BadRecord(f"{what} schema id {schema_id} is {registered.schema_type}, not Avro")
        try:
            parsed = fastavro.parse_schema(json.loads(registered.schema_str), named_schemas={})
        except Exception as exc:
            raise BadRecord(f"{what} schema id {schema_id} is not a usable Avro schema: {_short(exc)}") from exc
        self._schemas[schema_id] = parsed
        return parsed


# ---- field checks ----------------------------------------------------------------------------------
def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json(data: bytes | None, what: str) -> Any:
    if data is None:
        raise BadRecord(f"{what} is null")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRecord(f"{what} is not JSON: {_short(exc, 120)}") from exc


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadRecord(f"{what} is not a JSON object")
    return value


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
def station_change(key: bytes | None, value: bytes | None, lines: Collection[str]) -> StationUpsert | StationRemoval:
    """``topic_stations``: JSON key ``{line, station_id}``, JSON value; a null value removes it."""
    key_fields = _object(_json(key, "key"), "key") if key is not None else None
    if value is None:
        if key_fields is None:
            raise BadRecord("tombstone without a key")
        return StationRemoval(_text(key_fields, "line"), _int(key_fields, "station_id"))
    record = _object(_json(value, "value"), "value")
    stops = record.get("stops") or {}
    if not isinstance(stops, dict) or not all(
        isinstance(k, str) and (v is None or (isinstance(v, int) and not isinstance(v, bool))) for k, v in stops.items()
    ):
        raise BadRecord("stops must map directions to stop ids")
    station = Station(
        station_id=_int(record, "station_id", minimum=0),
        station_name=_text(record, "station_name"),
        line=_text(record, "line", lines),
        order=_int(record, "order", minimum=0),
        stops=dict(stops),
        latitude=_number(record, "latitude", -90, 90, optional=True),
        longitude=_number(record, "longitude", -180, 180, optional=True),
    )
    if key_fields is not None and (key_fields.get("line"), key_fields.get("station_id")) != (
        station.line,
        station.station_id,
    ):
        raise BadRecord("key does not match the value's line and station_id")
    return StationUpsert(station)


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
        )
    )


def summary_change(key: bytes | None, value: bytes | None) -> TurnstileUpsert | TurnstileRemoval:
    """``topic_turnstile_summary``: JSON key ``{station_id}``, JSON ``{station_id, station_name, count}``."""
    key_fields = _object(_json(key, "key"), "key") if key is not None else None
    if value is None:
        if key_fields is None:
            raise BadRecord("tombstone without a key")
        return TurnstileRemoval(_int(key_fields, "station_id"))
    record = _object(_json(value, "value"), "value")
    count = TurnstileCount(
        station_id=_int(record, "station_id", minimum=0),
        station_name=_text(record, "station_name"),
        count=_int(record, "count", minimum=0),
    )
    if key_fields is not None and key_fields.get("station_id") != count.station_id:
        raise BadRecord("key does not match the value's station_id")
    return TurnstileUpsert(count)


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
