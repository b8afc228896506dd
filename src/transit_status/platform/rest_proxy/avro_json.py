"""Avro schemas from JSON text, and JSON values encoded as Avro binary following the Avro JSON encoding.

The proxy receives records as JSON. Like Confluent's proxy (which reads them with Avro's ``JsonDecoder``)
it applies the Avro JSON encoding rules: a non-null union value is wrapped as ``{"<branch name>": value}``
(the full name for named types), ``bytes``/``fixed`` are strings of code points 0-255, and
``float``/``double`` also accept ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. A record field missing
from the JSON takes its schema default; fields the schema does not know are ignored.

fastavro checks the value against the schema (``fastavro.validation``) and writes the binary
(``schemaless_writer``); logical types are written as their underlying type, as Avro's Java reader does.
Every problem is reported as :class:`AvroConversionError` with the path of the offending value.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

import fastavro
from fastavro.validation import validate

from transit_status.avro.validation import InvalidSchemaError, validate_schema

__all__ = ["AvroConversionError", "AvroSchema", "InvalidSchemaError", "parse_schema"]

NAMED = frozenset({"record", "error", "enum", "fixed"})
FLOAT_MAX = 3.4028234663852886e38
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class AvroConversionError(ValueError):
    """A JSON value does not match its Avro schema."""


@dataclass(frozen=True)
class AvroSchema:
    """A parsed, validated Avro schema: its original text plus fastavro's normalised tree."""

    text: str
    tree: Any
    named: dict[str, Any]

    def encode(self, value: Any, path: str = "$") -> bytes:
        """``value`` (decoded JSON) as Avro binary, per the Avro JSON encoding rules."""
        datum = _JsonToDatum(self.named).convert(self.tree, value, path, defaulting=False)
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self.tree, datum)
        except (ValueError, TypeError, OverflowError, UnicodeEncodeError) as exc:
            raise AvroConversionError(f"{path}: {exc}") from None
        return out.getvalue()


def parse_schema(text: str) -> AvroSchema:
    """Parse and validate Avro schema text; raise :class:`InvalidSchemaError` with a reason."""
    document = validate_schema(text).document
    named: dict[str, Any] = {}
    try:
        tree = fastavro.parse_schema(document, named_schemas=named)
    except Exception as exc:  # fastavro raises several kinds for schemas it cannot use
        raise InvalidSchemaError(str(exc) or type(exc).__name__) from None
    return AvroSchema(text=text, tree=tree, named=named)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean " + ("true" if value else "false")
    kind = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(type(value))
    text = json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind or type(value).__name__} {text}"


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        kind = schema.get("type")
        return f"{kind} {schema['name']}" if kind in NAMED else _type_name(kind)
    return "union" if isinstance(schema, list) else str(schema)


class _JsonToDatum:
    """Avro JSON encoding -> fastavro datum; each value is checked against its type by ``fastavro.validation``.

    Custom because a union branch must be the one the client named, exactly as Confluent's proxy picks it;
    fastavro's JSON reader drops the name and its writer then guesses (an ``int`` for ``{"long": 1}``).
    The named branch is passed on in fastavro's tuple notation, ``(branch name, value)``.
    """

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named

    def resolve(self, schema: Any) -> Any:
        """Follow references to named types and ``{"type": <schema>}`` wrappers."""
        while True:
            if isinstance(schema, str):
                if schema not in self.named:
                    return schema  # a primitive
                schema = self.named[schema]
            elif isinstance(schema, dict) and (
                isinstance(kind := schema.get("type"), dict | list) or kind in self.named
            ):
                schema = kind  # a {"type": <schema>} wrapper
            else:
                return schema  # a union (list), or a complex, named or annotated primitive type (dict)

    def branch_name(self, branch: Any) -> str:
        """The name a union branch is selected by, in the Avro JSON encoding and fastavro's tuple notation."""
        if isinstance(branch, dict):
            kind = branch.get("type")
            return str(branch["name"]) if kind in NAMED else self.branch_name(kind)
        return str(branch)  # a primitive, or the full name of a named type

    def convert(self, schema: Any, value: Any, path: str, *, defaulting: bool) -> Any:
        resolved = self.resolve(schema)
        if isinstance(resolved, list):
            return self.union(resolved, value, path, defaulting=defaulting)
        kind = resolved if isinstance(resolved, str) else resolved["type"]
        if kind in ("record", "error"):
            return self.record(resolved, value, path, defaulting=defaulting)
        if kind == "array":
            if not isinstance(value, list):
                raise AvroConversionError(f"{path}: expected an array, got {_describe(value)}")
            items = resolved["items"]
            return [self.convert(items, item, f"{path}[{i}]", defaulting=defaulting) for i, item in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise AvroConversionError(f"{path}: expected an object (map), got {_describe(value)}")
            values = resolved["values"]
            return {
                key: self.convert(values, item, f"{path}.{key}", defaulting=defaulting) for key, item in value.items()
            }
        datum = value
        if kind in ("bytes", "fixed"):
            datum = self.latin1(value, path, kind)
        elif kind in ("int", "long") and isinstance(value, float) and value.is_integer():
            datum = int(value)  # Java's JsonDecoder reads 5.0 as the int 5
        elif kind in ("float", "double"):
            datum = self.real(kind, value, path)
        # A primitive, enum or fixed: no references left for fastavro to resolve.
        if not validate(datum, resolved, raise_errors=False):
            raise AvroConversionError(f"{path}: expected {_type_name(resolved)}, got {_describe(value)}")
        return datum

    def union(self, branches: list[Any], value: Any, path: str, *, defaulting: bool) -> tuple[str, Any]:
        names = [self.branch_name(branch) for branch in branches]
        if defaulting:  # a field default always belongs to the union's first branch, unwrapped
            return names[0], self.convert(branches[0], value, path, defaulting=True)
        if value is None:
            if "null" not in names:
                raise AvroConversionError(f"{path}: null is not allowed here; expected a value of one of {names}")
            return "null", None
        if isinstance(value, dict) and len(value) == 1:
            ((label, inner),) = value.items()
            index = self.branch_index(names, label)
            if index is not None:
                return names[index], self.convert(branches[index], inner, f"{path}.{label}", defaulting=False)
        either = "null or " if "null" in names else ""
        raise AvroConversionError(
            f'{path}: expected {either}a union value wrapped as {{"<type>": value}} with <type> one of {names}, '
            f"got {_describe(value)}"
        )

    @staticmethod
    def branch_index(names: list[str], label: str) -> int | None:
        if label in names:
            return names.index(label)
        # Also accept the short name of a named type when it is unambiguous.
        short = [i for i, name in enumerate(names) if name.rsplit(".", 1)[-1] == label]
        return short[0] if len(short) == 1 else None

    def record(self, schema: dict[str, Any], value: Any, path: str, *, defaulting: bool) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise AvroConversionError(f"{path}: expected an object for record {schema['name']}, got {_describe(value)}")
        datum = {}
        for field in schema["fields"]:
            name, field_path = field["name"], f"{path}.{field['name']}"
            if name in value:
                datum[name] = self.convert(field["type"], value[name], field_path, defaulting=defaulting)
            elif "default" in field:
                datum[name] = self.convert(field["type"], field["default"], field_path, defaulting=True)
            else:
                raise AvroConversionError(
                    f"{field_path}: missing field {name!r} of record {schema['name']} (it has no default)"
                )
        return datum

    @staticmethod
    def real(kind: str, value: Any, path: str) -> Any:
        if isinstance(value, str) and value in NON_FINITE:
            return NON_FINITE[value]
        # A float32 out of range would silently become infinity.
        if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
            try:
                too_big = math.isfinite(float(value)) and abs(float(value)) > FLOAT_MAX
            except OverflowError:
                too_big = True
            if too_big:
                raise AvroConversionError(f"{path}: {value} is out of range for an Avro float")
        return value

    @staticmethod
    def latin1(value: Any, path: str, kind: str) -> Any:
        if not isinstance(value, str):
            raise AvroConversionError(
                f"{path}: expected {kind} as a string of code points 0-255, got {_describe(value)}"
            )
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise AvroConversionError(
                f"{path}: {kind} must be a string of code points 0-255 (\\u0000-\\u00ff)"
            ) from None
