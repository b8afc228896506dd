"""Avro schema validation as Java Avro (and so Confluent's registry and REST Proxy) does it.

The ``avro`` package checks structure and names the way Java's ``Schema.Parser`` does, but neither it
nor fastavro checks field defaults as Java does (a union's default must match its *first* branch, an
``int`` default must be a whole number within range, ...), so that one rule is written here, once,
for the registry and the proxy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import avro.schema

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)


class InvalidSchemaError(ValueError):
    """The text is not a valid Avro schema; the message says why."""


@dataclass(frozen=True)
class ValidSchema:
    """A schema that Java Avro would accept: its JSON document and the ``avro`` package's parsed form."""

    document: Any
    parsed: avro.schema.Schema


def validate_schema(text: object) -> ValidSchema:
    """Parse Avro schema text and check it as Java Avro does; raise :class:`InvalidSchemaError` with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidSchemaError("the schema must be a non-empty string holding an Avro schema in JSON")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidSchemaError(f"the schema is not valid JSON ({exc})") from None
    try:
        parsed = avro.schema.parse(text)
    except Exception as exc:  # the avro parser raises many kinds; all mean 'invalid schema'
        raise InvalidSchemaError(str(exc) or type(exc).__name__) from None
    problem = _first_invalid_default(parsed, set())
    if problem:
        raise InvalidSchemaError(problem)
    return ValidSchema(document=document, parsed=parsed)


def _first_invalid_default(schema: avro.schema.Schema, seen: set[str]) -> str | None:
    """The first field whose default does not match its type (Java Avro rejects those)."""
    if isinstance(schema, avro.schema.RecordSchema):
        if schema.fullname in seen:
            return None
        seen.add(schema.fullname)
        for record_field in schema.fields:
            if record_field.has_default and not _valid_default(record_field.type, record_field.default):
                return (
                    f"invalid default for field '{record_field.name}' of record '{schema.fullname}': "
                    f"{json.dumps(record_field.default)} is not a {_describe(record_field.type)}"
                )
            problem = _first_invalid_default(record_field.type, seen)
            if problem:
                return problem
    elif isinstance(schema, avro.schema.UnionSchema):
        for branch in schema.schemas:
            problem = _first_invalid_default(branch, seen)
            if problem:
                return problem
    elif isinstance(schema, avro.schema.ArraySchema):
        return _first_invalid_default(schema.items, seen)
    elif isinstance(schema, avro.schema.MapSchema):
        return _first_invalid_default(schema.values, seen)
    return None


def _describe(schema: avro.schema.Schema) -> str:
    if isinstance(schema, avro.schema.UnionSchema) and schema.schemas:
        return f"{schema.schemas[0].type} (the first branch of the union)"
    return str(schema.type)


def _valid_default(schema: avro.schema.Schema, value: object) -> bool:
    kind = schema.type
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        low, high = _INT_RANGE if kind == "int" else _LONG_RANGE
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind in ("float", "double"):
        if isinstance(value, str):
            return value in ("NaN", "Infinity", "-Infinity")
        return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    if kind in ("bytes", "string"):
        return isinstance(value, str)
    if kind == "fixed":
        return isinstance(value, str) and len(value) == schema.size
    if kind == "enum":
        return isinstance(value, str) and value in schema.symbols
    if kind == "array":
        return isinstance(value, list) and all(_valid_default(schema.items, item) for item in value)
    if kind == "map":
        return isinstance(value, dict) and all(_valid_default(schema.values, item) for item in value.values())
    if kind in ("record", "error"):
        if not isinstance(value, dict):
            return False
        return all(_valid_default(f.type, value[f.name]) if f.name in value else f.has_default for f in schema.fields)
    if kind == "union":
        return bool(schema.schemas) and _valid_default(schema.schemas[0], value)
    return True
