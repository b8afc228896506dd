"""The REST Proxy's Avro JSON -> Avro binary encoding (pure, no servers)."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from transit_status.platform.rest_proxy.avro_json import AvroConversionError, InvalidSchemaError, parse_schema

PLACE = {"type": "record", "name": "Place", "fields": [{"name": "id", "type": "int"}]}
SCHEMA = {
    "type": "record",
    "name": "Reading",
    "namespace": "test.proxy",
    "fields": [
        {"name": "number", "type": ["int", "long", "float", "double"]},
        {"name": "place", "type": ["null", PLACE]},
        {"name": "raw", "type": "bytes", "default": ""},
        {"name": "ratio", "type": "float", "default": "NaN"},
    ],
}


def union_index(value: dict[str, Any]) -> int:
    """The branch index the encoder wrote for ``number`` (the record's first byte, zig-zag)."""
    return parse_schema(json.dumps(SCHEMA)).encode(value)[0] // 2


@pytest.mark.parametrize(("label", "index"), [("int", 0), ("long", 1), ("float", 2), ("double", 3)])
def test_the_union_branch_is_the_one_the_client_named(label: str, index: int) -> None:
    assert union_index({"number": {label: 5}, "place": None}) == index


def test_encoded_values_read_back_with_their_defaults() -> None:
    schema = parse_schema(json.dumps(SCHEMA))
    data = schema.encode({"number": {"long": 5}, "place": {"Place": {"id": 7}}, "unknown": "ignored"})

    datum = fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(SCHEMA), None)
    assert datum["number"] == 5 and datum["place"] == {"id": 7} and datum["raw"] == b""
    assert datum["ratio"] != datum["ratio"]  # NaN


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"number": 5, "place": None}, r"\$\.number: expected a union value wrapped"),
        ({"number": {"int": 2**40}, "place": None}, r"\$\.number\.int: expected int"),
        ({"number": {"int": 1}}, r"\$\.place: missing field"),
        ({"number": {"int": 1}, "place": None, "raw": "\u0100"}, r"\$\.raw: bytes must be a string of code points"),
        ({"number": {"int": 1}, "place": None, "ratio": 1e39}, r"\$\.ratio: .* out of range for an Avro float"),
        ({"number": {"int": 1}, "place": {"Place": {"id": "x"}}}, r"\$\.place\.Place\.id: expected int"),
    ],
)
def test_values_that_do_not_match_say_where(value: dict[str, Any], reason: str) -> None:
    with pytest.raises(AvroConversionError, match=reason):
        parse_schema(json.dumps(SCHEMA)).encode(value)


def test_schemas_are_checked_as_java_avro_does() -> None:
    with pytest.raises(InvalidSchemaError, match="invalid default"):
        parse_schema(json.dumps({**SCHEMA, "fields": [{"name": "n", "type": ["null", "int"], "default": 1}]}))
