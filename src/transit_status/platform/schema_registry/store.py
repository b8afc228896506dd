"""The registry's operations (register, look up, delete, configure), on top of the Kafka-backed state.

Every method either returns a JSON-ready result or raises :class:`RegistryError` carrying the status
and error code Confluent's registry would answer with. Reads come from memory; writes are serialised
under one lock, decided against state caught up with the end of the schemas topic, and return only
after Kafka acknowledged them and the state applied them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from transit_status.config import Settings
from transit_status.platform.schema_registry import errors
from transit_status.platform.schema_registry.compatibility import (
    AVRO,
    CompatibilityLevel,
    CompatibilityResult,
    InvalidSchemaError,
    ParsedSchema,
    check_compatibility,
    parse_schema,
)
from transit_status.platform.schema_registry.kafka_log import (
    KafkaLog,
    Record,
    StoreTimeoutError,
    StoreWriteError,
)
from transit_status.platform.schema_registry.state import (
    Mode,
    RegistryState,
    StoredSchema,
    SubjectVersion,
    config_key,
    config_value,
    mode_key,
    mode_value,
    schema_key,
    schema_value,
)

log = logging.getLogger(__name__)

LATEST = -1
_MAX_VERSION = 2**31 - 1
_T = TypeVar("_T")


def parse_version(version: str | int) -> int:
    """A version id from a URL: 1..2^31-1, or -1 / "latest" (returned as -1); else 422 / 42202."""
    text = str(version).strip()
    if text.lower() == "latest":
        return LATEST
    try:
        number = int(text)
    except ValueError:
        raise errors.invalid_version(str(version)) from None
    if number == LATEST or 1 <= number <= _MAX_VERSION:
        return number
    raise errors.invalid_version(str(version))


# Confluent reserves these two names for its own records; neither may be used as a subject.
_RESERVED_SUBJECTS = frozenset({"__GLOBAL", "__EMPTY"})


def validate_subject(subject: str) -> None:
    """422 / 42208 for a subject Confluent refuses: one with a control character, or a reserved name."""
    if subject in _RESERVED_SUBJECTS or any(_is_control(character) for character in subject):
        raise errors.invalid_subject(subject)


def _is_control(character: str) -> bool:
    # Java's Character.isISOControl, which Confluent's check uses: C0 controls, DEL and C1 controls.
    code = ord(character)
    return code <= 0x1F or 0x7F <= code <= 0x9F


def _requested_number(body: dict[str, Any], field: str) -> int | None:
    """An optional ``id`` / ``version`` of a register request; absent, null, 0 or negative mean "not given"."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.unprocessable_body(f'"{field}" must be an integer, got {value!r}')
    return value if value > 0 else None


def parse_request_schema(body: dict[str, Any]) -> tuple[ParsedSchema, str]:
    """The schema of a register/lookup/compatibility request body; 422 / 42201 when unusable."""
    if "schema" not in body or body["schema"] is None:
        raise errors.invalid_schema('the request has no "schema" field (an Avro schema as a JSON string)')
    if body.get("references"):
        raise errors.invalid_schema("schema references are not supported by this registry")
    schema_type = body.get("schemaType") or AVRO
    try:
        parsed = parse_schema(body["schema"], schema_type)
    except InvalidSchemaError as exc:
        raise errors.invalid_schema(str(exc)) from None
    return parsed, str(schema_type).upper()


class SchemaRegistry:
    """A Confluent-compatible schema registry whose state lives in a compacted Kafka topic."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = "_schemas",
        *,
        replication_factor: int = 1,
        startup_timeout_s: float = 15.0,
        write_timeout_s: float = 10.0,
    ) -> None:
        self.state = RegistryState()
        self.kafka = KafkaLog(
            bootstrap_servers,
            topic,
            self.state.apply,
            replication_factor=replication_factor,
            startup_timeout_s=startup_timeout_s,
            write_timeout_s=write_timeout_s,
        )
        self._write_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> SchemaRegistry:
        """A registry on ``settings.bootstrap_servers`` and ``settings.schemas_topic``.

        The topic is created with ``settings.topic_replicas`` replicas; ``options`` (timeouts, or a
        ``replication_factor`` override) go to ``__init__``.
        """
        options.setdefault("replication_factor", settings.topic_replicas)
        return cls(settings.bootstrap_servers, settings.schemas_topic, **options)

    def start(self) -> None:
        """Connect to Kafka and load every schema; raises SchemaLogUnavailable if Kafka is unreachable."""
        self.kafka.start()

    def close(self) -> None:
        self.kafka.close()

    # ---- writes ----------------------------------------------------------------------------------
    def _write(self, decide: Callable[[], tuple[Sequence[Record], _T]]) -> _T:
        """Run ``decide`` on caught-up state under the write lock, then durably write its records."""
        with self._write_lock:
            try:
                self.kafka.catch_up()
                records, result = decide()
                if records:
                    self.kafka.append(records)
            except StoreTimeoutError as exc:
                raise errors.operation_timeout(f"Operation timed out: {exc}") from None
            except StoreWriteError as exc:
                raise errors.store_error(f"Error while writing to the schemas topic: {exc}") from None
            return result

    def register(self, subject: str, body: dict[str, Any]) -> int:
        """Register a schema under ``subject`` and return its global id (the existing id if known).

        In IMPORT mode the request carries the schema's ``id`` (and optionally its ``version``), as in
        Confluent's import mode: compatibility is not checked and the id is kept, so data written
        with a migrated registry's ids stays readable.
        """
        validate_subject(subject)
        parsed, schema_type = parse_request_schema(body)
        requested_id = _requested_number(body, "id")
        requested_version = _requested_number(body, "version")

        def decide() -> tuple[list[Record], int]:
            mode = self.state.effective_mode(subject)
            if mode.read_only:
                raise errors.subject_read_only(subject)
            if requested_id is not None:
                if mode is not Mode.IMPORT:
                    raise errors.subject_not_in_import_mode(subject)
                return self._import(subject, parsed, schema_type, requested_id, requested_version)
            if mode is not Mode.READWRITE:
                raise errors.subject_not_in_read_write_mode(subject)
            live = self.state.versions(subject)
            if requested_version is None:
                for entry in reversed(live.values()):
                    if _same_schema(entry.schema, parsed, schema_type):
                        return [], entry.schema.schema_id
            level = self.state.effective_compatibility(subject)
            result = check_compatibility(parsed, _parsed_versions(live), level)
            if not result.is_compatible:
                raise errors.incompatible_schema(subject, result.messages)
            schema_id = self.state.id_for(parsed, schema_type)
            existing = self.state.schema(schema_id) if schema_id is not None else None
            if existing is None:
                schema_id = self.state.next_id()
            version = self._next_version(subject)
            if requested_version is not None and requested_version != version:
                raise errors.invalid_schema("Version is not one more than previous version")
            return [self._version_record(subject, version, schema_id, existing, parsed, schema_type)], schema_id

        return self._write(decide)

    def _import(
        self, subject: str, parsed: ParsedSchema, schema_type: str, schema_id: int, version: int | None
    ) -> tuple[list[Record], int]:
        existing = self.state.schema(schema_id)
        if existing is not None and not _same_schema(existing, parsed, schema_type):
            raise errors.schema_id_taken(schema_id)
        every_version = self.state.versions(subject, include_deleted=True)
        already = [entry for entry in every_version.values() if not entry.deleted]
        if version is not None:
            already = [entry for entry in already if entry.version == version]
        if any(entry.schema.schema_id == schema_id for entry in already):
            return [], schema_id  # imported before: importing is repeatable
        version = version or self._next_version(subject)
        return [self._version_record(subject, version, schema_id, existing, parsed, schema_type)], schema_id

    def _next_version(self, subject: str) -> int:
        return max(self.state.versions(subject, include_deleted=True), default=0) + 1

    @staticmethod
    def _version_record(
        subject: str,
        version: int,
        schema_id: int,
        existing: StoredSchema | None,
        parsed: ParsedSchema,
        schema_type: str,
    ) -> Record:
        # A known schema keeps the text it was first stored with, whatever spacing this request used.
        text = existing.text if existing is not None else parsed.text
        log.info("Registering schema id %d as version %d of subject '%s'", schema_id, version, subject)
        return schema_key(subject, version), schema_value(subject, version, schema_id, text, schema_type, deleted=False)

    def _refuse_if_read_only(self, subject: str | None) -> None:
        if self.state.effective_mode(subject).read_only:
            raise errors.subject_read_only(subject)

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        def decide() -> tuple[list[Record], list[int]]:
            self._refuse_if_read_only(subject)
            every_version = self.state.versions(subject, include_deleted=True)
            if not every_version:
                raise errors.subject_not_found(subject)
            live = [n for n, entry in every_version.items() if not entry.deleted]
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                return [(schema_key(subject, n), None) for n in every_version], list(every_version)
            if not live:
                raise errors.subject_soft_deleted(subject)
            records: list[Record] = [_soft_deleted(every_version[n]) for n in live]
            if self.state.compatibility(subject) is not None:  # Confluent drops the subject's level too
                records.append((config_key(subject), None))
            return records, live

        return self._write(decide)

    def delete_version(self, subject: str, version: str, permanent: bool = False) -> int:
        number = parse_version(version)

        def decide() -> tuple[list[Record], int]:
            self._refuse_if_read_only(subject)
            every_version = self.state.versions(subject, include_deleted=True)
            if not every_version:
                raise errors.subject_not_found(subject)
            if number == LATEST:
                candidates = [n for n, e in every_version.items() if permanent or not e.deleted]
                if not candidates:
                    raise errors.version_not_found(number)
                target = every_version[max(candidates)]
            elif number in every_version:
                target = every_version[number]
            else:
                raise errors.version_not_found(number)
            if permanent:
                if not target.deleted:
                    raise errors.schema_version_not_soft_deleted(subject, target.version)
                return [(schema_key(subject, target.version), None)], target.version
            if target.deleted:
                raise errors.schema_version_soft_deleted(subject, target.version)
            return [_soft_deleted(target)], target.version

        return self._write(decide)

    def set_compatibility(self, subject: str | None, level: CompatibilityLevel) -> None:
        if subject is not None:
            validate_subject(subject)

        def decide() -> tuple[list[Record], None]:
            self._refuse_if_read_only(subject)
            return [(config_key(subject), config_value(subject, level))], None

        self._write(decide)

    def delete_compatibility(self, subject: str | None) -> CompatibilityLevel:
        """Remove a subject's level (or reset the global one); return the level it had."""

        def decide() -> tuple[list[Record], CompatibilityLevel]:
            self._refuse_if_read_only(subject)
            current = self.state.compatibility(subject)
            if current is None:
                if subject is not None:
                    raise errors.subject_not_found(subject)
                return [], self.state.effective_compatibility(None)
            return [(config_key(subject), None)], current

        return self._write(decide)

    def set_mode(self, subject: str | None, mode: Mode, force: bool = False) -> None:
        """Set the global mode (``subject`` None) or a subject's.

        As in Confluent, switching to IMPORT needs a scope with no live versions (unless ``force``),
        and permanently deletes the scope's soft-deleted versions, so imported versions cannot collide.
        """
        if subject is not None:
            validate_subject(subject)

        def decide() -> tuple[list[Record], None]:
            records: list[Record] = []
            if mode is Mode.IMPORT and self.state.effective_mode(subject) is not Mode.IMPORT and not force:
                in_scope = [subject] if subject is not None else self.state.subjects(include_deleted=True)
                every_version = [
                    entry for name in in_scope for entry in self.state.versions(name, include_deleted=True).values()
                ]
                if any(not entry.deleted for entry in every_version):
                    raise errors.import_over_existing_subjects()
                records += [(schema_key(entry.subject, entry.version), None) for entry in every_version]
            records.append((mode_key(subject), mode_value(subject, mode)))
            return records, None

        self._write(decide)

    def delete_mode(self, subject: str | None) -> Mode:
        """Remove a subject's mode (or the global one); return the mode it had (40401 if none was set)."""

        def decide() -> tuple[list[Record], Mode]:
            current = self.state.mode(subject)
            if current is None:
                raise errors.subject_not_found("null" if subject is None else subject)  # Confluent's wording
            return [(mode_key(subject), None)], current

        return self._write(decide)

    # ---- reads ---------------------------------------------------------------------------------
    def subjects(self, include_deleted: bool = False, deleted_only: bool = False, prefix: str = "") -> list[str]:
        if deleted_only:
            live = set(self.state.subjects())
            names = [name for name in self.state.subjects(include_deleted=True) if name not in live]
        else:
            names = self.state.subjects(include_deleted=include_deleted)
        return [name for name in names if name.startswith(prefix)]

    def versions(self, subject: str, include_deleted: bool = False, deleted_only: bool = False) -> list[int]:
        every_version = self.state.versions(subject, include_deleted=True)
        lookup_deleted = include_deleted or deleted_only
        if not any(lookup_deleted or not entry.deleted for entry in every_version.values()):
            raise errors.subject_not_found(subject)
        if deleted_only:
            return [n for n, entry in every_version.items() if entry.deleted]
        return [n for n, entry in every_version.items() if include_deleted or not entry.deleted]

    def version(self, subject: str, version: str, include_deleted: bool = False) -> SubjectVersion:
        number = parse_version(version)
        versions = self.state.versions(subject, include_deleted=include_deleted)
        if not versions:
            raise errors.subject_not_found(subject)
        if number == LATEST:
            return versions[max(versions)]
        if number not in versions:
            raise errors.version_not_found(number)
        return versions[number]

    def lookup(self, subject: str, body: dict[str, Any], include_deleted: bool = False) -> SubjectVersion:
        """The version of ``subject`` holding the schema in ``body`` (the newest, if several)."""
        parsed, schema_type = parse_request_schema(body)
        versions = self.state.versions(subject, include_deleted=include_deleted)
        if not versions:
            raise errors.subject_not_found(subject)
        matches = [e for e in versions.values() if _same_schema(e.schema, parsed, schema_type)]
        if not matches:
            raise errors.schema_not_found()
        live = [e for e in matches if not e.deleted]
        return (live or matches)[-1]

    def schema(self, schema_id: int) -> StoredSchema:
        stored = self.state.schema(schema_id)
        if stored is None:
            raise errors.schema_not_found(schema_id)
        return stored

    def schema_usages(self, schema_id: int, include_deleted: bool = False) -> list[SubjectVersion]:
        self.schema(schema_id)  # 40403 for an unknown id
        return self.state.usages(schema_id, include_deleted=include_deleted)

    def latest_schemas(
        self, prefix: str = "", include_deleted: bool = False, latest_only: bool = False
    ) -> list[SubjectVersion]:
        result: list[SubjectVersion] = []
        for name in self.subjects(include_deleted=include_deleted, prefix=prefix):
            versions = list(self.state.versions(name, include_deleted=include_deleted).values())
            result += versions[-1:] if latest_only else versions
        return result

    def compatibility(self, subject: str | None, default_to_global: bool = False) -> CompatibilityLevel:
        if subject is None:
            return self.state.effective_compatibility(None)
        level = self.state.compatibility(subject)
        if level is None:
            if not default_to_global:
                raise errors.subject_compatibility_not_configured(subject)
            return self.state.effective_compatibility(None)
        return level

    def mode(self, subject: str | None, default_to_global: bool = False) -> Mode:
        """The global mode, or a subject's own (40409 if it has none, unless ``default_to_global``)."""
        if subject is None or default_to_global:
            return self.state.effective_mode(subject)
        mode = self.state.mode(subject)
        if mode is None:
            raise errors.subject_mode_not_configured(subject)
        return mode

    def test_compatibility(self, subject: str, body: dict[str, Any], version: str | None) -> CompatibilityResult:
        """Is ``body``'s schema compatible with one version (or, ``version`` None, all the level asks for)?"""
        parsed, _ = parse_request_schema(body)
        level = self.state.effective_compatibility(subject)
        live = self.state.versions(subject)
        if version is None:
            return check_compatibility(parsed, _parsed_versions(live), level)
        number = parse_version(version)
        if number == LATEST:
            if not live:
                return CompatibilityResult(True, [])
            target = live[max(live)]
        else:
            if not self.state.versions(subject, include_deleted=True):
                raise errors.subject_not_found(subject)
            if number not in live:
                raise errors.version_not_found(number)
            target = live[number]
        return check_compatibility(parsed, _parsed_versions({target.version: target}), level)


def _same_schema(stored: StoredSchema, parsed: ParsedSchema, schema_type: str) -> bool:
    return stored.schema_type == schema_type and stored.identity == parsed.identity


def _parsed_versions(versions: dict[int, SubjectVersion]) -> dict[int, ParsedSchema]:
    parsed: dict[int, ParsedSchema] = {}
    for number, entry in versions.items():
        if entry.schema.parsed is None:  # stored by another registry in a form we cannot parse
            log.warning("Version %d of '%s' is unparseable; not compatibility-checked", number, entry.subject)
            continue
        parsed[number] = entry.schema.parsed
    return parsed


def _soft_deleted(entry: SubjectVersion) -> Record:
    stored = entry.schema
    value = schema_value(entry.subject, entry.version, stored.schema_id, stored.text, stored.schema_type, deleted=True)
    return schema_key(entry.subject, entry.version), value
