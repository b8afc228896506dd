"""Avro schema parsing, identity and compatibility rules of the registry.

The reader/writer rules themselves come from the ``avro`` package (``avro.compatibility``, a port of
Avro's Java ``SchemaCompatibility``, which Confluent's registry uses too); this module only decides
*which* pairs to check for a compatibility level:

* BACKWARD: the new schema (reader) must read data written with the previous schema (writer).
* FORWARD: the previous schema (reader) must read data written with the new schema (writer).
* FULL: both.
* ``*_TRANSITIVE``: against every live version, otherwise against the latest live version only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from transit_status.avro.validation import InvalidSchemaError, validate_schema

AVRO = "AVRO"
SUPPORTED_SCHEMA_TYPES = (AVRO,)


class UpperCaseSetting(StrEnum):
    """A registry setting whose values are their own upper-case names (a level, a mode)."""

    @classmethod
    def parse(cls, name: object) -> Self | None:
        """The value called ``name`` (any case), or None if there is no such value."""
        if not isinstance(name, str):
            return None
        return cls.__members__.get(name.strip().upper())


class CompatibilityLevel(UpperCaseSetting):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD


@dataclass(frozen=True)
class ParsedSchema:
    """A valid Avro schema as registered: its text, parsed form and identity."""

    text: str  # the schema as given, re-serialised as compact JSON (what the registry returns)
    identity: str  # equal for the same schema whatever its whitespace or JSON attribute order
    parsed: avro.schema.Schema = field(compare=False, repr=False)


def parse_schema(text: object, schema_type: object = AVRO) -> ParsedSchema:
    """Parse and validate a schema string; raise :class:`InvalidSchemaError` with the reason."""
    normalized_type = AVRO if schema_type is None else str(schema_type).strip().upper()
    if normalized_type not in SUPPORTED_SCHEMA_TYPES:
        raise InvalidSchemaError(
            f"schema type {schema_type!r} is not supported: this registry supports only AVRO schemas"
        )
    valid = validate_schema(text)  # InvalidSchemaError: the registry answers 422 / 42201
    parsed = valid.parsed
    # Identity: the full parsed schema (docs, defaults, logical types kept) with sorted JSON keys. The
    # Avro *parsing canonical form* is deliberately not used: it drops defaults and logical types, so
    # two schemas that read data differently would share one id.
    identity = json.dumps(parsed.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    compact = json.dumps(valid.document, separators=(",", ":"), ensure_ascii=False)
    return ParsedSchema(text=compact, identity=identity, parsed=parsed)


# ---- compatibility -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompatibilityResult:
    is_compatible: bool
    messages: list[str]


def reader_writer_problems(reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (empty when it can)."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader.parsed, writer.parsed)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    kinds = sorted({incompatibility.name.upper() for incompatibility in result.incompatibilities})
    locations = ", ".join(sorted(result.locations))
    details = "; ".join(sorted(result.messages))
    return [f"{{errorType:'{kind}', description:'at {locations}: {details}'}}" for kind in kinds]


def check_compatibility(
    new: ParsedSchema,
    previous: Mapping[int, ParsedSchema],
    level: CompatibilityLevel,
) -> CompatibilityResult:
    """Check ``new`` against ``previous`` (live versions: version number -> schema) under ``level``.

    Non-transitive levels look at the highest version only; transitive ones at every version.
    """
    if level is CompatibilityLevel.NONE or not previous:
        return CompatibilityResult(True, [])
    versions = sorted(previous)
    targets = versions if level.transitive else versions[-1:]
    messages: list[str] = []
    for version in reversed(targets):  # newest first: the most relevant failure leads
        old = previous[version]
        problems: list[str] = []
        if level.checks_backward:
            problems += [
                f"{problem} (the new schema cannot read data written with version {version})"
                for problem in reader_writer_problems(new, old)
            ]
        if level.checks_forward:
            problems += [
                f"{problem} (version {version} cannot read data written with the new schema)"
                for problem in reader_writer_problems(old, new)
            ]
        if problems:
            messages += [*problems, f"{{oldSchemaVersion: {version}}}", f"{{oldSchema: '{old.text}'}}"]
    if messages:
        messages.append(f"{{compatibility: '{level.value}'}}")
    return CompatibilityResult(not messages, messages)
