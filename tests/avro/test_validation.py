"""Schemas are valid when Java Avro says so: field defaults checked against their types (pure, no servers)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from transit_status.avro.validation import InvalidSchemaError, validate_schema

ENUM = {"type": "enum", "name": "Line", "symbols": ["red", "blue"]}
FIXED = {"type": "fixed", "name": "Pair", "size": 2}
POINT = {"type": "record", "name": "Point", "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": "int"}]}


def with_field(field_type: Any, default: Any) -> str:
    field = {"name": "f", "type": field_type, "default": default}
    return json.dumps({"type": "record", "name": "Holder", "fields": [field]})


@pytest.mark.parametrize(
    ("field_type", "default"),
    [
        ("null", None),
        ("boolean", False),
        ("int", -(2**31)),
        ("long", 2**63 - 1),
        ("float", 1),
        ("double", "NaN"),
        ("bytes", "\u00ff"),
        ("string", ""),
        (ENUM, "blue"),
        (FIXED, "ab"),
        ({"type": "array", "items": "long"}, [1, 2]),
        ({"type": "map", "values": "double"}, {"x": 1.5}),
        (["null", "int"], None),
        (["int", "null"], 3),
        ({**POINT, "fields": [*POINT["fields"][:1], {"name": "y", "type": "int", "default": 0}]}, {"x": 1}),
    ],
)
def test_defaults_that_match_their_type_are_accepted(field_type: Any, default: Any) -> None:
    assert validate_schema(with_field(field_type, default)).document["fields"][0]["default"] == default


@pytest.mark.parametrize(
    ("field_type", "default"),
    [
        ("int", "x"),
        ("int", 1.0),  # Java reads a whole number only
        ("int", 2**31),
        ("long", True),
        ("boolean", 0),
        ("string", None),
        ("double", "nan"),
        (ENUM, "green"),
        (FIXED, "abc"),
        ({"type": "array", "items": "int"}, [1, "x"]),
        ({"type": "map", "values": "int"}, {"a": "x"}),
        (["null", "int"], 1),  # a union's default belongs to its first branch
        (POINT, {"x": 1}),  # y has no default of its own
    ],
)
def test_defaults_that_java_avro_rejects_are_invalid(field_type: Any, default: Any) -> None:
    with pytest.raises(InvalidSchemaError, match="invalid default for field 'f' of record 'Holder'"):
        validate_schema(with_field(field_type, default))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "non-empty string"),
        ("  ", "non-empty string"),
        ("{not json", "not valid JSON"),
        ('{"type": "record", "name": "A", "fields": [{"name": "a", "type": "nope"}]}', "nope"),
    ],
)
def test_text_that_is_not_an_avro_schema_says_why(text: Any, reason: str) -> None:
    with pytest.raises(InvalidSchemaError, match=reason):
        validate_schema(text)


def test_a_nested_records_defaults_are_checked_too() -> None:
    inner = {"type": "record", "name": "Inner", "fields": [{"name": "n", "type": "int", "default": "x"}]}
    with pytest.raises(InvalidSchemaError, match="field 'n' of record 'Inner'"):
        validate_schema(json.dumps({"type": "record", "name": "Outer", "fields": [{"name": "i", "type": inner}]}))
