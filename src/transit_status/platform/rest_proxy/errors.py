"""Confluent REST Proxy (v2) error codes and the exception that carries them to the client.

Codes and messages follow Confluent's kafka-rest ``Errors.java`` and rest-utils' exception mappers, so
clients written against Confluent's proxy see the same ``{"error_code", "message"}`` bodies.
"""

from __future__ import annotations

# rest-utils: malformed JSON / wrong JSON types -> 400 with error_code 400; other HTTP-level errors carry the
# HTTP status as their error_code (404, 405, 406, 415, 422 for constraint violations, 500).
BAD_REQUEST = 400
NOT_FOUND = 404
METHOD_NOT_ALLOWED = 405
NOT_ACCEPTABLE = 406
CONFLICT = 409
UNSUPPORTED_MEDIA_TYPE = 415
UNPROCESSABLE_ENTITY = 422
INTERNAL_SERVER_ERROR = 500

# kafka-rest Errors.java
TOPIC_NOT_FOUND = 40401
TOPIC_NOT_FOUND_MESSAGE = "Topic not found."
PARTITION_NOT_FOUND = 40402
PARTITION_NOT_FOUND_MESSAGE = "Partition not found."
KEY_SCHEMA_MISSING = 42201
KEY_SCHEMA_MISSING_MESSAGE = "Request includes keys but does not include key schema"
VALUE_SCHEMA_MISSING = 42202
VALUE_SCHEMA_MISSING_MESSAGE = "Request includes values but does not include value schema"
JSON_AVRO_CONVERSION = 42203
JSON_AVRO_CONVERSION_MESSAGE = "Conversion of JSON to Avro failed: "
INVALID_SCHEMA = 42205
INVALID_SCHEMA_MESSAGE = "Invalid schema: "
# Confluent's code for "Zookeeper error", i.e. a backing store the proxy depends on; used here for the
# schema registry being unreachable or failing.
BACKEND_ERROR = 50001
KAFKA_ERROR = 50002
KAFKA_ERROR_MESSAGE = "Kafka error: "
KAFKA_RETRIABLE_ERROR = 50003
KAFKA_RETRIABLE_ERROR_MESSAGE = "Retriable Kafka error: "


class RestError(Exception):
    """An error answered to the client as ``{"error_code": ..., "message": ...}`` with ``status``."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error_code": self.error_code, "message": self.message}


def bad_request(message: str) -> RestError:
    return RestError(400, BAD_REQUEST, message)


def unprocessable(message: str) -> RestError:
    return RestError(422, UNPROCESSABLE_ENTITY, message)


def topic_not_found() -> RestError:
    return RestError(404, TOPIC_NOT_FOUND, TOPIC_NOT_FOUND_MESSAGE)


def partition_not_found() -> RestError:
    return RestError(404, PARTITION_NOT_FOUND, PARTITION_NOT_FOUND_MESSAGE)


def invalid_schema(reason: str) -> RestError:
    return RestError(422, INVALID_SCHEMA, INVALID_SCHEMA_MESSAGE + reason)


def json_avro_conversion(reason: str) -> RestError:
    return RestError(422, JSON_AVRO_CONVERSION, JSON_AVRO_CONVERSION_MESSAGE + reason)


def kafka_error(reason: str) -> RestError:
    return RestError(500, KAFKA_ERROR, KAFKA_ERROR_MESSAGE + reason)
