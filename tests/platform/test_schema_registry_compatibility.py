"""Compatibility rules and schema identity of the schema registry (pure functions, no Kafka)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from transit_status.platform.schema_registry.compatibility import (
    CompatibilityLevel,
    InvalidSchemaError,
    ParsedSchema,
    check_compatibility,
    parse_schema,
)


def record(*fields: dict[str, Any], name: str = "Arrival") -> ParsedSchema:
    return parse_schema(json.dumps({"type": "record", "name": name, "namespace": "org.cta", "fields": list(fields)}))


STATION = {"name": "station", "type": "string"}
LINE_WITH_DEFAULT = {"name": "line", "type": "string", "default": "red"}
LINE_REQUIRED = {"name": "line", "type": "string"}
DELAY_WITH_DEFAULT = {"name": "delay", "type": "int", "default": 0}
DELAY_REQUIRED = {"name": "delay", "type": "int"}


def compatible(new: ParsedSchema, level: CompatibilityLevel, *previous: ParsedSchema) -> bool:
    return check_compatibility(new, dict(enumerate(previous, start=1)), level).is_compatible


@pytest.mark.parametrize(
    ("level", "adding_with_default", "adding_without_default"),
    [
        (CompatibilityLevel.BACKWARD, True, False),
        (CompatibilityLevel.FORWARD, True, True),
        (CompatibilityLevel.FULL, True, False),
        (CompatibilityLevel.NONE, True, True),
    ],
)
def test_adding_a_field(level: CompatibilityLevel, adding_with_default: bool, adding_without_default: bool) -> None:
    old = record(STATION)
    assert compatible(record(STATION, LINE_WITH_DEFAULT), level, old) is adding_with_default
    assert compatible(record(STATION, LINE_REQUIRED), level, old) is adding_without_default


@pytest.mark.parametrize(
    ("level", "removing_required", "removing_defaulted"),
    [
        (CompatibilityLevel.BACKWARD, True, True),
        (CompatibilityLevel.FORWARD, False, True),  # old readers need the field unless it had a default
        (CompatibilityLevel.FULL, False, True),
        (CompatibilityLevel.NONE, True, True),
    ],
)
def test_removing_a_field(level: CompatibilityLevel, removing_required: bool, removing_defaulted: bool) -> None:
    assert compatible(record(STATION), level, record(STATION, LINE_REQUIRED)) is removing_required
    assert compatible(record(STATION), level, record(STATION, LINE_WITH_DEFAULT)) is removing_defaulted


def test_transitive_levels_check_every_version_non_transitive_only_the_latest() -> None:
    v1 = record(STATION)
    v2 = record(STATION, DELAY_WITH_DEFAULT)
    v3 = record(STATION, DELAY_REQUIRED)  # reads v2 data, but not v1 data (no 'delay' there, no default)
    assert compatible(v3, CompatibilityLevel.BACKWARD, v1, v2)
    assert not compatible(v3, CompatibilityLevel.BACKWARD_TRANSITIVE, v1, v2)
    assert not compatible(v3, CompatibilityLevel.FULL_TRANSITIVE, v1, v2)

    # FORWARD: v1 readers cannot read data without 'line' (v1 requires it); v2 readers can (default).
    f1 = record(STATION, LINE_REQUIRED)
    f2 = record(STATION, LINE_WITH_DEFAULT)
    f3 = record(STATION)
    assert compatible(f3, CompatibilityLevel.FORWARD, f1, f2)
    assert not compatible(f3, CompatibilityLevel.FORWARD_TRANSITIVE, f1, f2)


def test_type_promotion_and_enum_symbols_follow_avro_resolution() -> None:
    as_int = record({"name": "delay", "type": "int"})
    as_long = record({"name": "delay", "type": "long"})
    assert compatible(as_long, CompatibilityLevel.BACKWARD, as_int)  # long reader reads int data
    assert not compatible(as_long, CompatibilityLevel.FORWARD, as_int)  # int reader cannot read long data

    two = record({"name": "line", "type": {"type": "enum", "name": "Line", "symbols": ["RED", "BLUE"]}})
    three = record({"name": "line", "type": {"type": "enum", "name": "Line", "symbols": ["RED", "BLUE", "G"]}})
    assert compatible(three, CompatibilityLevel.BACKWARD, two)
    assert not compatible(three, CompatibilityLevel.FORWARD, two)


def test_renaming_the_record_is_incompatible_and_explained() -> None:
    result = check_compatibility(record(STATION, name="Departure"), {1: record(STATION)}, CompatibilityLevel.BACKWARD)
    assert not result.is_compatible
    assert any("NAME_MISMATCH" in message for message in result.messages)
    assert "{oldSchemaVersion: 1}" in result.messages
    assert "{compatibility: 'BACKWARD'}" in result.messages


def test_first_schema_is_always_compatible() -> None:
    for level in CompatibilityLevel:
        assert check_compatibility(record(STATION), {}, level).is_compatible


def test_identity_ignores_whitespace_and_attribute_order_but_not_defaults_or_logical_types() -> None:
    compact = parse_schema('{"type":"record","name":"A","fields":[{"name":"t","type":"long"}]}')
    spaced = parse_schema('{ "fields" : [ {"type": "long", "name": "t"} ],\n "name": "A", "type": "record" }')
    assert compact.identity == spaced.identity
    with_default = parse_schema('{"type":"record","name":"A","fields":[{"name":"t","type":"long","default":0}]}')
    timestamp = parse_schema(
        '{"type":"record","name":"A","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]}'
    )
    assert len({compact.identity, with_default.identity, timestamp.identity}) == 3
    assert spaced.text == '{"fields":[{"type":"long","name":"t"}],"name":"A","type":"record"}'


@pytest.mark.parametrize(
    ("text", "schema_type", "reason"),
    [
        ("{not json", "AVRO", "not valid JSON"),
        ('{"type":"record","name":"A"}', "AVRO", "fields"),
        ('{"type":"nosuchtype"}', "AVRO", "nosuchtype"),
        ('{"type":"record","name":"A","fields":[{"name":"n","type":"int","default":"x"}]}', "AVRO", "default"),
        ('{"type":"record","name":"A","fields":[{"name":"n","type":["null","int"],"default":1}]}', "AVRO", "union"),
        ("", "AVRO", "non-empty"),
        ('{"type":"object"}', "JSON", "only AVRO"),
        ('syntax = "proto3";', "PROTOBUF", "only AVRO"),
    ],
)
def test_invalid_schemas_are_rejected_with_a_reason(text: str, schema_type: str, reason: str) -> None:
    with pytest.raises(InvalidSchemaError, match=reason):
        parse_schema(text, schema_type)


def test_valid_defaults_and_primitive_schemas_are_accepted() -> None:
    parse_schema('"string"')
    parse_schema(
        json.dumps(
            {
                "type": "record",
                "name": "A",
                "fields": [
                    {"name": "n", "type": ["null", "int"], "default": None},
                    {"name": "m", "type": {"type": "map", "values": "double"}, "default": {"x": 1.5}},
                    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}, "default": "Y"},
                    {"name": "l", "type": {"type": "array", "items": "long"}, "default": [1, 2]},
                ],
            }
        ),
        "avro",
    )


def test_compatibility_level_names_parse_in_any_case() -> None:
    assert CompatibilityLevel.parse("full_transitive") is CompatibilityLevel.FULL_TRANSITIVE
    assert CompatibilityLevel.parse(" Backward ") is CompatibilityLevel.BACKWARD
    assert CompatibilityLevel.parse("SOMETIMES") is None
    assert CompatibilityLevel.parse(None) is None
