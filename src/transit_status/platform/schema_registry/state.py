"""The registry's in-memory state, rebuilt from (and only changed by) records of the schemas topic.

Records use the JSON keys and values of Confluent's ``_schemas`` topic, so the topic is readable by
the same tools (and a Confluent registry could read ours):

* ``{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`` ->
  ``{"subject":"s","version":1,"id":7,"schema":"...","deleted":false}`` (``schemaType`` and
  ``references`` only when not Avro / not empty); a ``null`` value (tombstone) is a permanent delete.
* ``{"keytype":"CONFIG","magic":0}`` (global) or ``{"keytype":"CONFIG","subject":"s","magic":0}`` ->
  ``{"compatibilityLevel":"FULL"}``; a tombstone removes the setting.
* ``{"keytype":"MODE","magic":0}`` (global) or ``{"keytype":"MODE","subject":"s","magic":0}`` ->
  ``{"mode":"READONLY"}``; a tombstone removes the setting.
* ``DELETE_SUBJECT`` records (written by Confluent's registry for soft deletes) are understood;
  other key types (NOOP, ...) are ignored.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from transit_status.platform.schema_registry.compatibility import (
    AVRO,
    DEFAULT_COMPATIBILITY,
    CompatibilityLevel,
    InvalidSchemaError,
    ParsedSchema,
    UpperCaseSetting,
    parse_schema,
)

log = logging.getLogger(__name__)

KEY_SCHEMA = "SCHEMA"
KEY_CONFIG = "CONFIG"
KEY_MODE = "MODE"
KEY_DELETE_SUBJECT = "DELETE_SUBJECT"

Setting = TypeVar("Setting", bound=UpperCaseSetting)


class Mode(UpperCaseSetting):
    """Confluent's registry modes: who may write, and whether ids and versions come from the client."""

    READWRITE = "READWRITE"
    READONLY = "READONLY"
    # Read-only that a subject-level mode cannot lift (set globally during a migration cut-over).
    READONLY_OVERRIDE = "READONLY_OVERRIDE"
    # Registering takes the client's id and version and skips compatibility checks (migrations).
    IMPORT = "IMPORT"

    @property
    def read_only(self) -> bool:
        return self in (Mode.READONLY, Mode.READONLY_OVERRIDE)


DEFAULT_MODE = Mode.READWRITE


def _encode(document: dict[str, Any]) -> bytes:
    # Compact and in a fixed key order: compaction only merges records whose key bytes are equal.
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def schema_key(subject: str, version: int) -> bytes:
    return _encode({"keytype": KEY_SCHEMA, "subject": subject, "version": version, "magic": 1})


def _setting_key(keytype: str, subject: str | None) -> bytes:
    if subject is None:
        return _encode({"keytype": keytype, "magic": 0})
    return _encode({"keytype": keytype, "subject": subject, "magic": 0})


def config_key(subject: str | None) -> bytes:
    return _setting_key(KEY_CONFIG, subject)


def mode_key(subject: str | None) -> bytes:
    return _setting_key(KEY_MODE, subject)


def schema_value(subject: str, version: int, schema_id: int, text: str, schema_type: str, deleted: bool) -> bytes:
    document: dict[str, Any] = {"subject": subject, "version": version, "id": schema_id, "schema": text}
    if schema_type != AVRO:
        document["schemaType"] = schema_type
    document["deleted"] = deleted
    return _encode(document)


def _setting_value(subject: str | None, name: str, value: str) -> bytes:
    document: dict[str, Any] = {} if subject is None else {"subject": subject}
    document[name] = value
    return _encode(document)


def config_value(subject: str | None, level: CompatibilityLevel) -> bytes:
    return _setting_value(subject, "compatibilityLevel", level.value)


def mode_value(subject: str | None, mode: Mode) -> bytes:
    return _setting_value(subject, "mode", mode.value)


@dataclass(frozen=True)
class StoredSchema:
    """One schema (one global id), whatever subjects use it."""

    schema_id: int
    text: str
    schema_type: str
    references: tuple[Any, ...] = ()
    parsed: ParsedSchema | None = field(default=None, compare=False, repr=False)

    @property
    def identity(self) -> str:
        return self.parsed.identity if self.parsed is not None else self.text


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    schema: StoredSchema
    deleted: bool

    def to_json(self) -> dict[str, Any]:
        """The registry's answer for one subject version (``schemaType`` only when not Avro)."""
        body: dict[str, Any] = {
            "subject": self.subject,
            "version": self.version,
            "id": self.schema.schema_id,
            "schema": self.schema.text,
        }
        if self.schema.schema_type != AVRO:
            body["schemaType"] = self.schema.schema_type
        if self.schema.references:
            body["references"] = list(self.schema.references)
        return body


class RegistryState:
    """Subjects, versions, ids and compatibility settings; safe to read while the reader thread writes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._subjects: dict[str, dict[int, SubjectVersion]] = {}
        self._schemas: dict[int, StoredSchema] = {}
        self._ids_by_identity: dict[tuple[str, str], int] = {}
        self._configs: dict[str | None, CompatibilityLevel] = {}
        self._modes: dict[str | None, Mode] = {}
        self._max_id = 0

    # ---- applying records --------------------------------------------------------------------
    def apply(self, raw_key: bytes | None, raw_value: bytes | None) -> None:
        """Apply one record of the schemas topic; records it cannot understand are logged and skipped."""
        if raw_key is None:
            return
        try:
            key = json.loads(raw_key)
            value = None if raw_value is None else json.loads(raw_value)
        except ValueError:
            log.warning("Skipping a schemas-topic record that is not JSON: key=%r", raw_key[:200])
            return
        if not isinstance(key, dict) or (value is not None and not isinstance(value, dict)):
            log.warning("Skipping a schemas-topic record of unexpected shape: key=%r", raw_key[:200])
            return
        with self.lock:
            keytype = key.get("keytype")
            try:
                if keytype == KEY_SCHEMA:
                    self._apply_schema(key, value)
                elif keytype == KEY_CONFIG:
                    self._apply_config(key, value)
                elif keytype == KEY_MODE:
                    self._apply_mode(key, value)
                elif keytype == KEY_DELETE_SUBJECT and value is not None:
                    self._apply_delete_subject(value)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("Skipping an unreadable %s record (%s): key=%r", keytype, exc, raw_key[:200])

    def _apply_schema(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        subject, version = str(key["subject"]), int(key["version"])
        versions = self._subjects.setdefault(subject, {})
        if value is None:  # tombstone: permanent delete
            removed = versions.pop(version, None)
            if not versions:
                del self._subjects[subject]
            if removed is not None:
                self._forget_unused_schema(removed.schema.schema_id)
            return
        schema_id = int(value["id"])
        schema_type = str(value.get("schemaType") or AVRO).upper()
        stored = self._schemas.get(schema_id)
        if stored is None:
            text = str(value["schema"])
            parsed: ParsedSchema | None = None
            try:
                parsed = parse_schema(text, schema_type)
            except InvalidSchemaError:
                log.warning("Schema id %s (%s) cannot be parsed; served as stored", schema_id, subject)
            references = tuple(value.get("references") or ())
            stored = StoredSchema(schema_id, text, schema_type, references, parsed)
            self._schemas[schema_id] = stored
            self._ids_by_identity.setdefault((schema_type, stored.identity), schema_id)
        self._max_id = max(self._max_id, schema_id)
        versions[version] = SubjectVersion(subject, version, stored, bool(value.get("deleted", False)))

    def _forget_unused_schema(self, schema_id: int) -> None:
        for versions in self._subjects.values():
            if any(v.schema.schema_id == schema_id for v in versions.values()):
                return
        stored = self._schemas.pop(schema_id, None)
        identity_key = (stored.schema_type, stored.identity) if stored is not None else None
        if identity_key is not None and self._ids_by_identity.get(identity_key) == schema_id:
            del self._ids_by_identity[identity_key]

    def _apply_config(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        self._apply_setting(self._configs, key, value, "compatibilityLevel", CompatibilityLevel.parse)

    def _apply_mode(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        self._apply_setting(self._modes, key, value, "mode", Mode.parse)

    @staticmethod
    def _apply_setting(
        held: dict[str | None, Setting],
        key: dict[str, Any],
        value: dict[str, Any] | None,
        field_name: str,
        parse: Callable[[object], Setting | None],
    ) -> None:
        """A CONFIG or MODE record: a tombstone removes the subject's (or the global) setting; a value
        that names no setting is ignored."""
        subject = key.get("subject") or None
        if value is None:
            held.pop(subject, None)
            return
        setting = parse(value.get(field_name))
        if setting is not None:
            held[subject] = setting

    def _apply_delete_subject(self, value: dict[str, Any]) -> None:
        subject, up_to = str(value["subject"]), int(value["version"])
        versions = self._subjects.get(subject, {})
        for number, entry in list(versions.items()):
            if number <= up_to and not entry.deleted:
                versions[number] = SubjectVersion(entry.subject, number, entry.schema, True)

    # ---- queries -------------------------------------------------------------------------------
    def versions(self, subject: str, include_deleted: bool = False) -> dict[int, SubjectVersion]:
        """Versions of a subject in ascending order (soft-deleted ones only if asked for)."""
        with self.lock:
            versions = self._subjects.get(subject, {})
            return {n: versions[n] for n in sorted(versions) if include_deleted or not versions[n].deleted}

    def subjects(self, include_deleted: bool = False) -> list[str]:
        with self.lock:
            return sorted(
                name
                for name, versions in self._subjects.items()
                if include_deleted or any(not v.deleted for v in versions.values())
            )

    def schema(self, schema_id: int) -> StoredSchema | None:
        with self.lock:
            return self._schemas.get(schema_id)

    def usages(self, schema_id: int, include_deleted: bool = False) -> list[SubjectVersion]:
        """Every subject version that uses a schema id, by subject then version."""
        with self.lock:
            return [
                entry
                for name in sorted(self._subjects)
                for number, entry in sorted(self._subjects[name].items())
                if entry.schema.schema_id == schema_id and (include_deleted or not entry.deleted)
            ]

    def id_for(self, parsed: ParsedSchema, schema_type: str = AVRO) -> int | None:
        with self.lock:
            return self._ids_by_identity.get((schema_type, parsed.identity))

    def next_id(self) -> int:
        with self.lock:
            return self._max_id + 1

    @property
    def max_id(self) -> int:
        with self.lock:
            return self._max_id

    def compatibility(self, subject: str | None) -> CompatibilityLevel | None:
        """The level set for ``subject`` (None: the global level), or None if none is set."""
        with self.lock:
            return self._configs.get(subject)

    def effective_compatibility(self, subject: str | None) -> CompatibilityLevel:
        with self.lock:
            return self._configs.get(subject) or self._configs.get(None) or DEFAULT_COMPATIBILITY

    def mode(self, subject: str | None) -> Mode | None:
        """The mode set for ``subject`` (None: the global mode), or None if none is set."""
        with self.lock:
            return self._modes.get(subject)

    def effective_mode(self, subject: str | None) -> Mode:
        """The mode that governs ``subject``: its own, else the global one (a global READONLY_OVERRIDE wins)."""
        with self.lock:
            global_mode = self._modes.get(None)
            if global_mode is Mode.READONLY_OVERRIDE:
                return global_mode
            return self._modes.get(subject) or global_mode or DEFAULT_MODE
