"""Avro schemas from JSON text, and JSON values encoded as Avro binary following the Avro JSON encoding.

The proxy receives records as JSON. Like Confluent's proxy (which reads them with Avro's ``JsonDecoder``)
it applies the Avro JSON encoding rules: a non-null union value is wrapped as ``{"<branch name>": value}``
(the full name for named types), ``bytes``/``fixed`` are strings of code points 0-255, and
``float``/``double`` also accept ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. A record field missing
from the JSON takes its schema default; fields the schema does not know are ignored.

The conversion writes Avro binary directly (no intermediate Python datum), so the union branch is exactly
the one the client named and logical types are written as their underlying type, as Avro's Java reader does.
Every problem is reported as :class:`AvroConversionError` with the JSON path of the offending value.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import avro.schema
import fastavro

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
FLOAT_MAX = 3.4028234663852886e38
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class InvalidSchemaError(ValueError):
    """The schema text is not a valid Avro schema."""


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
        out = bytearray()
        _Encoder(self.named).write(self.tree, value, path, out, defaulting=False)
        return bytes(out)


def parse_schema(text: str) -> AvroSchema:
    """Parse and validate Avro schema text; raise :class:`InvalidSchemaError` with a reason."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidSchemaError(f"schema is not valid JSON: {exc}") from None
    # Apache Avro's parser checks structure and names the way the Java parser (used by Confluent) does;
    # fastavro then checks field defaults against their types and gives the tree the encoder walks.
    try:
        avro.schema.parse(text)
    except Exception as exc:  # the avro package raises several exception types for bad input
        raise InvalidSchemaError(str(exc) or type(exc).__name__) from None
    named: dict[str, Any] = {}
    try:
        tree = fastavro.parse_schema(document, named_schemas=named)
    except Exception as exc:
        raise InvalidSchemaError(str(exc) or type(exc).__name__) from None
    _check_defaults(named)
    return AvroSchema(text=text, tree=tree, named=named)


def _check_defaults(named: dict[str, Any]) -> None:
    """Reject field defaults that do not match their field's type, as Avro's Java parser does."""
    encoder = _Encoder(named)
    for definition in named.values():
        if not isinstance(definition, dict) or definition.get("type") not in ("record", "error"):
            continue
        for field in definition["fields"]:
            if "default" in field:
                try:
                    encoder.write(field["type"], field["default"], "default", bytearray(), defaulting=True)
                except AvroConversionError as exc:
                    raise InvalidSchemaError(
                        f"invalid default for field {field['name']!r} of {definition['name']}: {exc}"
                    ) from None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean " + ("true" if value else "false")
    kind = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(type(value))
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind or type(value).__name__} {text}"


def _write_long(out: bytearray, number: int) -> None:
    zigzag = (number << 1) ^ (number >> 63)
    while zigzag & ~0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)


class _Encoder:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named

    def fail(self, path: str, message: str) -> AvroConversionError:
        return AvroConversionError(f"{path}: {message}")

    def resolve(self, schema: Any) -> Any:
        """Follow references to named types and ``{"type": <schema>}`` wrappers."""
        while True:
            if isinstance(schema, str):
                if schema in PRIMITIVES:
                    return schema
                if schema not in self.named:
                    raise AvroConversionError(f"unknown type {schema!r} in schema")
                schema = self.named[schema]
            elif isinstance(schema, dict):
                kind = schema.get("type")
                if kind in NAMED or kind in ("array", "map") or kind in PRIMITIVES:
                    return schema
                schema = kind
            else:
                return schema  # a union (list)

    def branch_name(self, branch: Any) -> str:
        """The name a union branch is selected by in the Avro JSON encoding."""
        if isinstance(branch, str):
            return branch  # a primitive, or the full name of a named type
        if isinstance(branch, dict):
            kind = branch.get("type")
            if kind in NAMED:
                return str(branch["name"])
            return self.branch_name(kind)
        return "union"

    def write(self, schema: Any, value: Any, path: str, out: bytearray, *, defaulting: bool) -> None:
        resolved = self.resolve(schema)
        if isinstance(resolved, list):
            self.write_union(resolved, value, path, out, defaulting=defaulting)
            return
        kind = resolved if isinstance(resolved, str) else resolved["type"]
        if kind in PRIMITIVES:
            self.write_primitive(kind, resolved, value, path, out)
        elif kind in ("record", "error"):
            self.write_record(resolved, value, path, out, defaulting=defaulting)
        elif kind == "enum":
            symbols = resolved["symbols"]
            if not isinstance(value, str) or value not in symbols:
                raise self.fail(
                    path,
                    f"expected one of the symbols {symbols} of enum {resolved['name']}, got {_describe(value)}",
                )
            _write_long(out, symbols.index(value))
        elif kind == "fixed":
            data = self.latin1(value, path, "fixed")
            if len(data) != resolved["size"]:
                raise self.fail(path, f"fixed {resolved['name']} needs {resolved['size']} bytes, got {len(data)}")
            out += data
        elif kind == "array":
            if not isinstance(value, list):
                raise self.fail(path, f"expected an array, got {_describe(value)}")
            if value:
                _write_long(out, len(value))
                for index, item in enumerate(value):
                    self.write(resolved["items"], item, f"{path}[{index}]", out, defaulting=defaulting)
            _write_long(out, 0)
        elif kind == "map":
            if not isinstance(value, dict):
                raise self.fail(path, f"expected an object (map), got {_describe(value)}")
            if value:
                _write_long(out, len(value))
                for key, item in value.items():
                    self.write_string(key, path, out)
                    self.write(resolved["values"], item, f"{path}.{key}", out, defaulting=defaulting)
            _write_long(out, 0)
        else:
            raise self.fail(path, f"unsupported schema type {kind!r}")

    def write_union(self, branches: list[Any], value: Any, path: str, out: bytearray, *, defaulting: bool) -> None:
        if defaulting:
            # A field default always belongs to the union's first branch, unwrapped.
            _write_long(out, 0)
            self.write(branches[0], value, path, out, defaulting=True)
            return
        names = [self.branch_name(branch) for branch in branches]
        if value is None:
            if "null" not in names:
                raise self.fail(path, f"null is not allowed here; expected a value of one of {names}")
            _write_long(out, names.index("null"))
            return
        if isinstance(value, dict) and len(value) == 1:
            ((label, inner),) = value.items()
            index = self._branch_index(names, label)
            if index is not None:
                _write_long(out, index)
                self.write(branches[index], inner, f"{path}.{label}", out, defaulting=False)
                return
        either = "null or " if "null" in names else ""
        raise self.fail(
            path,
            f'expected {either}a union value wrapped as {{"<type>": value}} with <type> one of {names}, '
            f"got {_describe(value)}",
        )

    def _branch_index(self, names: list[str], label: str) -> int | None:
        if label in names:
            return names.index(label)
        # Also accept the short name of a named type when it is unambiguous.
        short = [i for i, name in enumerate(names) if name.rsplit(".", 1)[-1] == label]
        return short[0] if len(short) == 1 else None

    def write_record(self, schema: dict[str, Any], value: Any, path: str, out: bytearray, *, defaulting: bool) -> None:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object for record {schema['name']}, got {_describe(value)}")
        for field in schema["fields"]:
            name = field["name"]
            field_path = f"{path}.{name}"
            if name in value:
                self.write(field["type"], value[name], field_path, out, defaulting=defaulting)
            elif "default" in field:
                self.write(field["type"], field["default"], field_path, out, defaulting=True)
            else:
                raise self.fail(field_path, f"missing field {name!r} of record {schema['name']} (it has no default)")

    def write_primitive(self, kind: str, schema: Any, value: Any, path: str, out: bytearray) -> None:
        if kind == "null":
            if value is not None:
                raise self.fail(path, f"expected null, got {_describe(value)}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise self.fail(path, f"expected a boolean, got {_describe(value)}")
            out.append(1 if value else 0)
        elif kind in ("int", "long"):
            _write_long(out, self.integer(kind, value, path))
        elif kind in ("float", "double"):
            number = self.real(kind, value, path)
            out += (_FLOAT if kind == "float" else _DOUBLE).pack(number)
        elif kind == "string":
            self.write_string(value, path, out)
        elif kind == "bytes":
            data = self.latin1(value, path, "bytes")
            _write_long(out, len(data))
            out += data

    def integer(self, kind: str, value: Any, path: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(path, f"expected an {kind} (whole number), got {_describe(value)}")
        low, high = INT_RANGE if kind == "int" else LONG_RANGE
        if not low <= value <= high:
            raise self.fail(path, f"{value} is out of range for an Avro {kind}")
        return value

    def real(self, kind: str, value: Any, path: str) -> float:
        if isinstance(value, str) and value in NON_FINITE:
            return NON_FINITE[value]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(path, f"expected a {kind} (number), got {_describe(value)}")
        try:
            number = float(value)
        except OverflowError:
            raise self.fail(path, f"{value} is out of range for an Avro {kind}") from None
        if kind == "float" and math.isfinite(number) and abs(number) > FLOAT_MAX:
            raise self.fail(path, f"{value} is out of range for an Avro float")
        return number

    def write_string(self, value: Any, path: str, out: bytearray) -> None:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {_describe(value)}")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(path, "string is not valid Unicode (unpaired surrogate)") from None
        _write_long(out, len(data))
        out += data

    def latin1(self, value: Any, path: str, kind: str) -> bytes:
        if not isinstance(value, str):
            raise self.fail(path, f"expected {kind} as a string of code points 0-255, got {_describe(value)}")
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise self.fail(path, f"{kind} must be a string of code points 0-255 (\\u0000-\\u00ff)") from None
