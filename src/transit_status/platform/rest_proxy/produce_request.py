"""A v2 produce request: its body parsed and checked, and its keys and values serialised (no I/O here)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.avro_json import AvroConversionError, AvroSchema
from transit_status.platform.rest_proxy.kafka import MAX_RECORD_BYTES

# Confluent wire format: magic byte 0 and a 4-byte big-endian schema id before the Avro binary.
CONFLUENT_FRAMING_BYTES = 5


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token {name!r}: NaN and Infinity are not valid JSON")


@dataclass(frozen=True)
class IncomingRecord:
    index: int
    key: Any
    value: Any
    partition: int | None


@dataclass(frozen=True)
class ProduceRequest:
    records: list[IncomingRecord]
    key_schema: str | None
    key_schema_id: int | None
    value_schema: str | None
    value_schema_id: int | None

    def to_partition(self, partition: int) -> ProduceRequest:
        """The request with every record sent to ``partition`` (``POST /topics/{t}/partitions/{p}``)."""
        records = [replace(record, partition=partition) for record in self.records]
        return replace(self, records=records)

    @property
    def wanted_partitions(self) -> list[int]:
        return sorted({r.partition for r in self.records if r.partition is not None})


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"Malformed JSON in request body: {exc}") from None
    except RecursionError:
        raise errors.bad_request("Malformed JSON in request body: nested too deeply") from None


def _optional_schema_id(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    # Schema ids are 32-bit (they are framed into every Avro record as 4 bytes).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise errors.bad_request(f"{field} must be a schema id (an integer), got {json.dumps(value)[:60]}")
    return value


def _optional_schema_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)  # a schema given as a JSON object rather than a string: accept it
    raise errors.bad_request(f"{field} must be a string holding an Avro schema, got {json.dumps(value)[:60]}")


def parse_produce_request(body: Any) -> ProduceRequest:
    if not isinstance(body, dict):
        raise errors.bad_request("The request body must be a JSON object with a records array")
    records = body.get("records")
    if records is None or records == []:
        raise errors.unprocessable("records may not be empty: send at least one record")
    if not isinstance(records, list):
        raise errors.bad_request("records must be a JSON array of record objects")
    parsed: list[IncomingRecord] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise errors.bad_request(f"records[{index}] must be a JSON object with a value (and optional key)")
        partition = record.get("partition")
        if partition is not None and (isinstance(partition, bool) or not isinstance(partition, int)):
            raise errors.bad_request(f"records[{index}].partition must be an integer")
        parsed.append(IncomingRecord(index, record.get("key"), record.get("value"), partition))
    return ProduceRequest(
        records=parsed,
        key_schema=_optional_schema_text(body, "key_schema"),
        key_schema_id=_optional_schema_id(body, "key_schema_id"),
        value_schema=_optional_schema_text(body, "value_schema"),
        value_schema_id=_optional_schema_id(body, "value_schema_id"),
    )


def serialize_binary(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.bad_request(f"{where} must be a base64 string for the binary format")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise errors.bad_request(f"{where} is not valid base64") from None


def serialize_json(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    try:
        # allow_nan=False: a number beyond a double's range (1e400) was read as infinity, and bare
        # `Infinity` is not JSON. Confluent's proxy (Jackson) would write the string "Infinity"
        # instead, turning a number into text; refusing with a reason loses nothing silently.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.bad_request(f"{where} contains text that is not valid Unicode") from None
    except ValueError:
        raise errors.unprocessable(
            f"{where} holds a number outside the range of a 64-bit float (such as 1e400); "
            "it cannot be written as a JSON number"
        ) from None


def serialize_avro(schema: AvroSchema | None, value: Any, where: str) -> bytes | None:
    if value is None or schema is None:
        return None  # like Confluent's serializers, null stays a Kafka null (e.g. a tombstone)
    try:
        return schema.encode(value, where)
    except AvroConversionError as exc:
        raise errors.json_avro_conversion(str(exc)) from None
    except RecursionError:
        raise errors.json_avro_conversion(f"{where}: the value is nested too deeply") from None


def check_record_size(index: int, key: bytes | None, value: bytes | None, framing_bytes: int) -> None:
    """413 for a record librdkafka would refuse; ``framing_bytes`` is what framing will add to each part."""
    size = sum(len(part) + framing_bytes for part in (key, value) if part is not None)
    if size > MAX_RECORD_BYTES:
        raise errors.RestError(
            413,
            413,
            f"records[{index}] is {size} bytes serialised; records may be at most {MAX_RECORD_BYTES} bytes",
        )
