"""Errors of the schema registry, with the HTTP statuses and error codes Confluent's registry uses.

Clients (confluent-kafka, the Java serializers, kcat, ...) branch on ``error_code``, so each failure
carries exactly the code the Confluent Schema Registry would answer with.
"""

from __future__ import annotations

# Confluent error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors).
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
SCHEMA_VERSION_SOFT_DELETED = 40406
SCHEMA_VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408
SUBJECT_MODE_NOT_CONFIGURED = 40409
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
INVALID_MODE = 42204
OPERATION_NOT_PERMITTED = 42205
INVALID_SUBJECT = 42208
STORE_ERROR = 50001
OPERATION_TIMEOUT = 50002


class RegistryError(Exception):
    """A failure to report to the client as ``{"error_code": code, "message": message}``."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def to_body(self) -> dict[str, object]:
        return {"error_code": self.error_code, "message": self.message}


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def version_not_found(version: int | str) -> RegistryError:
    return RegistryError(404, VERSION_NOT_FOUND, f"Version {version} not found.")


def schema_not_found(schema_id: int | None = None) -> RegistryError:
    message = "Schema not found" if schema_id is None else f"Schema {schema_id} not found"
    return RegistryError(404, SCHEMA_NOT_FOUND, message)


def subject_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(
        404,
        SUBJECT_SOFT_DELETED,
        f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently",
    )


def subject_not_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(
        404,
        SUBJECT_NOT_SOFT_DELETED,
        f"Subject '{subject}' was not deleted first before being permanently deleted",
    )


def schema_version_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(
        404,
        SCHEMA_VERSION_SOFT_DELETED,
        f"Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently",
    )


def schema_version_not_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(
        404,
        SCHEMA_VERSION_NOT_SOFT_DELETED,
        f"Subject '{subject}' Version {version} was not deleted first before being permanently deleted",
    )


def subject_compatibility_not_configured(subject: str) -> RegistryError:
    return RegistryError(
        404,
        SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )


def subject_mode_not_configured(subject: str) -> RegistryError:
    return RegistryError(
        404, SUBJECT_MODE_NOT_CONFIGURED, f"Subject '{subject}' does not have subject-level mode configured"
    )


def incompatible_schema(subject: str, details: list[str]) -> RegistryError:
    return RegistryError(
        409,
        INCOMPATIBLE_SCHEMA,
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
        f"details: [{', '.join(details)}]",
    )


def invalid_schema(reason: str) -> RegistryError:
    return RegistryError(422, INVALID_SCHEMA, f"Invalid schema: {reason}")


def invalid_version(version: str) -> RegistryError:
    return RegistryError(
        422,
        INVALID_VERSION,
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility_level(given: object) -> RegistryError:
    return RegistryError(
        422,
        INVALID_COMPATIBILITY_LEVEL,
        f"Invalid compatibility level {given!r}. Valid values are none, backward, forward, full, "
        "backward_transitive, forward_transitive, and full_transitive",
    )


def invalid_mode(given: object) -> RegistryError:
    return RegistryError(422, INVALID_MODE, f"Invalid mode {given!r}. Valid values are READWRITE, READONLY, IMPORT")


def invalid_subject(subject: str) -> RegistryError:
    # Confluent's wording, typo included: clients may match on it.
    return RegistryError(422, INVALID_SUBJECT, f"The specified subject '{subject}' is not a valid.")


def operation_not_permitted(reason: str) -> RegistryError:
    return RegistryError(422, OPERATION_NOT_PERMITTED, reason)


# The mode refusals below use Confluent's messages; this registry has only the default context ".".
def subject_read_only(subject: str | None) -> RegistryError:
    return operation_not_permitted(f"Subject {subject} in context . is in read-only mode")


def subject_not_in_import_mode(subject: str) -> RegistryError:
    return operation_not_permitted(f"Subject {subject} in context . is not in import mode")


def subject_not_in_read_write_mode(subject: str) -> RegistryError:
    return operation_not_permitted(f"Subject {subject} in context . is not in read-write mode")


def schema_id_taken(schema_id: int) -> RegistryError:
    return operation_not_permitted(f"Overwrite new schema with id {schema_id} in context . is not permitted.")


def import_over_existing_subjects() -> RegistryError:
    return operation_not_permitted("Cannot import since found existing subjects")


def unsupported_media_type() -> RegistryError:
    return RegistryError(415, 415, "HTTP 415 Unsupported Media Type")


def store_error(reason: str) -> RegistryError:
    return RegistryError(500, STORE_ERROR, reason)


def operation_timeout(reason: str) -> RegistryError:
    return RegistryError(500, OPERATION_TIMEOUT, reason)


def malformed_json(reason: str) -> RegistryError:
    # Confluent (Jersey + Jackson) answers unparseable JSON with a plain 400.
    return RegistryError(400, 400, f"Request body is not valid JSON: {reason}")


def unprocessable_body(reason: str) -> RegistryError:
    # ... and well-formed JSON of the wrong shape with a plain 422.
    return RegistryError(422, 422, reason)
