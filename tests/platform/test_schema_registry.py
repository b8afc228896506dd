"""The schema registry against real Kafka: REST API, official Confluent client, durability.

Every test uses its own subjects, so tests do not depend on each other or on their order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.processes import running_service
from transit_status.config import Settings
from transit_status.platform.ports import free_ports

pytestmark = pytest.mark.platform

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
HEADERS = {"Content-Type": MEDIA_TYPE}


def arrival_schema(*extra_fields: dict[str, Any], name: str = "Arrival") -> str:
    fields = [{"name": "station", "type": "string"}, *extra_fields]
    return json.dumps({"type": "record", "name": name, "namespace": "org.cta.test", "fields": fields})


WITH_LINE_DEFAULT = {"name": "line", "type": "string", "default": "red"}
WITH_LINE_REQUIRED = {"name": "line", "type": "string"}
_LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")


@pytest.fixture
def registry(platform: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.schema_registry_url, headers=HEADERS, timeout=30) as client:
        yield client


@pytest.fixture
def subject() -> str:
    return f"test-{uuid.uuid4().hex[:10]}-value"


def register(client: httpx.Client, subject: str, schema: str, **extra: Any) -> httpx.Response:
    return client.post(f"/subjects/{subject}/versions", json={"schema": schema, **extra})


def assert_error(response: httpx.Response, status: int, error_code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["error_code"] == error_code, body
    assert body["message"] and "Traceback" not in body["message"]
    return body


# ---- REST API --------------------------------------------------------------------------------------


def test_service_endpoints_answer_like_confluent(registry: httpx.Client) -> None:
    root = registry.get("/")
    assert root.status_code == 200 and root.json() == {}
    assert root.headers["content-type"] == MEDIA_TYPE
    assert registry.get("/schemas/types").json() == ["AVRO"]
    assert registry.get("/mode").json() == {"mode": "READWRITE"}
    assert registry.get("/contexts").json() == ["."]
    assert isinstance(registry.get("/subjects").json(), list)
    assert_error(registry.get("/no/such/path"), 404, 404)


def test_registering_the_same_schema_twice_returns_the_same_id_and_one_version(
    registry: httpx.Client, subject: str
) -> None:
    first = register(registry, subject, arrival_schema())
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == MEDIA_TYPE
    schema_id = first.json()["id"]

    # Same schema with other whitespace and JSON attribute order: same schema, same id.
    reordered = json.dumps(
        {
            "fields": [{"type": "string", "name": "station"}],
            "namespace": "org.cta.test",
            "name": "Arrival",
            "type": "record",
        },
        indent=2,
    )
    assert register(registry, subject, arrival_schema()).json() == {"id": schema_id}
    assert register(registry, subject, reordered, schemaType="AVRO", references=[]).json() == {"id": schema_id}
    assert registry.get(f"/subjects/{subject}/versions").json() == [1]

    # The same schema under another subject keeps its global id.
    other = f"{subject}-other"
    assert register(registry, other, reordered).json() == {"id": schema_id}
    usages = registry.get(f"/schemas/ids/{schema_id}/versions").json()
    assert {"subject": subject, "version": 1} in usages and {"subject": other, "version": 1} in usages
    assert set(registry.get(f"/schemas/ids/{schema_id}/subjects").json()) >= {subject, other}


def test_backward_incompatible_change_is_refused_and_nothing_is_stored(registry: httpx.Client, subject: str) -> None:
    original_id = register(registry, subject, arrival_schema()).json()["id"]
    incompatible = arrival_schema(WITH_LINE_REQUIRED)  # new readers could not read old data

    body = assert_error(register(registry, subject, incompatible), 409, 409)
    assert subject in body["message"] and "line" in body["message"]

    assert registry.get(f"/subjects/{subject}/versions").json() == [1]
    latest = registry.get(f"/subjects/{subject}/versions/latest").json()
    assert (latest["version"], latest["id"]) == (1, original_id)
    assert_error(registry.post(f"/subjects/{subject}", json={"schema": incompatible}), 404, 40403)

    check = registry.post(
        f"/compatibility/subjects/{subject}/versions/latest", params={"verbose": "true"}, json={"schema": incompatible}
    )
    assert check.json()["is_compatible"] is False and check.json()["messages"]
    assert registry.post(f"/compatibility/subjects/{subject}/versions", json={"schema": incompatible}).json() == {
        "is_compatible": False
    }


def test_compatible_change_becomes_version_2(registry: httpx.Client, subject: str) -> None:
    first_id = register(registry, subject, arrival_schema()).json()["id"]
    evolved = arrival_schema(WITH_LINE_DEFAULT)
    assert registry.post(f"/compatibility/subjects/{subject}/versions/1", json={"schema": evolved}).json() == {
        "is_compatible": True
    }

    second = register(registry, subject, evolved)
    assert second.status_code == 200, second.text
    second_id = second.json()["id"]
    assert second_id != first_id

    assert registry.get(f"/subjects/{subject}/versions").json() == [1, 2]
    version_2 = registry.get(f"/subjects/{subject}/versions/2").json()
    assert version_2 == {"subject": subject, "version": 2, "id": second_id, "schema": version_2["schema"]}
    assert json.loads(version_2["schema"]) == json.loads(evolved)
    assert registry.get(f"/subjects/{subject}/versions/-1").json()["version"] == 2
    raw = registry.get(f"/subjects/{subject}/versions/latest/schema")
    assert raw.headers["content-type"] == MEDIA_TYPE and json.loads(raw.text) == json.loads(evolved)
    assert json.loads(registry.get(f"/schemas/ids/{second_id}").json()["schema"]) == json.loads(evolved)

    found = registry.post(f"/subjects/{subject}", params={"normalize": "False"}, json={"schema": arrival_schema()})
    assert found.json()["id"] == first_id and found.json()["version"] == 1 and found.json()["subject"] == subject


def test_unknown_things_answer_404_with_confluent_error_codes(registry: httpx.Client, subject: str) -> None:
    assert_error(registry.get(f"/subjects/{subject}/versions"), 404, 40401)
    assert_error(registry.get(f"/subjects/{subject}/versions/latest"), 404, 40401)
    assert_error(registry.post(f"/subjects/{subject}", json={"schema": arrival_schema()}), 404, 40401)
    assert_error(registry.delete(f"/subjects/{subject}"), 404, 40401)
    assert_error(registry.get("/schemas/ids/987654321"), 404, 40403)

    register(registry, subject, arrival_schema())
    assert_error(registry.get(f"/subjects/{subject}/versions/7"), 404, 40402)
    assert_error(registry.get(f"/subjects/{subject}/versions/0"), 422, 42202)
    assert_error(registry.get(f"/subjects/{subject}/versions/newest"), 422, 42202)


def test_invalid_schemas_and_bodies_are_refused_with_reasons(registry: httpx.Client, subject: str) -> None:
    assert_error(register(registry, subject, "{not an avro schema"), 422, 42201)
    assert_error(register(registry, subject, '{"type": "record", "name": "NoFields"}'), 422, 42201)
    body = assert_error(register(registry, subject, '{"type": "object"}', schemaType="JSON"), 422, 42201)
    assert "only AVRO" in body["message"]
    assert_error(registry.post(f"/subjects/{subject}/versions", json={"schemaType": "AVRO"}), 422, 42201)
    bad_json = registry.post(f"/subjects/{subject}/versions", content=b'{"schema": ')
    assert_error(bad_json, 400, 400)
    assert_error(registry.post(f"/subjects/{subject}/versions", json=["not", "an", "object"]), 422, 422)
    assert_error(registry.get(f"/subjects/{subject}/versions"), 404, 40401)  # nothing was stored


# What Java's HttpClient sends by default (the Connect converter's, Flink's CONFLUENT_AVRO_DECODE): an
# offer to switch to cleartext HTTP/2, which the server may ignore but must still read the body of.
H2C_OFFER = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"}


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_post_offering_http2_upgrade_is_read_with_its_body(
    registry: httpx.Client, subject: str, framing: str
) -> None:
    body = json.dumps({"schema": arrival_schema()}).encode()
    content = body if framing == "content-length" else iter([body[:10], body[10:]])  # an iterator is sent chunked
    response = registry.post(f"/subjects/{subject}/versions", content=content, headers=H2C_OFFER)
    assert response.status_code == 200, response.text
    assert register(registry, subject, arrival_schema()).json()["id"] == response.json()["id"]


def test_request_media_types_are_accepted(registry: httpx.Client, subject: str) -> None:
    ids = set()
    for media_type in (
        MEDIA_TYPE,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
    ):
        response = registry.post(
            f"/subjects/{subject}/versions",
            content=json.dumps({"schema": arrival_schema()}),
            headers={"Content-Type": media_type},
        )
        assert response.status_code == 200, (media_type, response.text)
        ids.add(response.json()["id"])
    assert len(ids) == 1


def test_compatibility_configuration_per_subject(registry: httpx.Client, subject: str) -> None:
    assert registry.get("/config").json()["compatibilityLevel"] in _LEVELS
    assert_error(registry.get(f"/config/{subject}"), 404, 40408)
    global_level = registry.get("/config").json()["compatibilityLevel"]
    assert registry.get(f"/config/{subject}", params={"defaultToGlobal": "true"}).json() == {
        "compatibilityLevel": global_level
    }

    assert registry.put(f"/config/{subject}", json={"compatibility": "none"}).json() == {"compatibility": "NONE"}
    assert registry.get(f"/config/{subject}").json() == {"compatibilityLevel": "NONE"}
    register(registry, subject, arrival_schema())
    assert register(registry, subject, arrival_schema(WITH_LINE_REQUIRED)).status_code == 200  # NONE: anything goes

    assert registry.put(f"/config/{subject}", json={"compatibility": "FORWARD"}).status_code == 200
    # Readers of version 2 need 'line' (it has no default): data without it is not FORWARD compatible.
    without_line = arrival_schema({"name": "delay", "type": "int", "default": 0})
    assert_error(register(registry, subject, without_line), 409, 409)

    assert_error(registry.put(f"/config/{subject}", json={"compatibility": "SOMETIMES"}), 422, 42203)
    assert_error(registry.put("/config", json={"compatibility": "SOMETIMES"}), 422, 42203)
    assert registry.delete(f"/config/{subject}").json() == {"compatibilityLevel": "FORWARD"}
    assert_error(registry.get(f"/config/{subject}"), 404, 40408)
    assert_error(registry.delete(f"/config/{subject}"), 404, 40401)


def test_transitive_level_checks_all_versions(registry: httpx.Client, subject: str) -> None:
    delay_default = {"name": "delay", "type": "int", "default": 0}
    delay_required = {"name": "delay", "type": "int"}
    register(registry, subject, arrival_schema())
    register(registry, subject, arrival_schema(delay_default))
    candidate = arrival_schema(delay_required)  # reads version 2 data, not version 1 data

    registry.put(f"/config/{subject}", json={"compatibility": "BACKWARD_TRANSITIVE"})
    assert_error(register(registry, subject, candidate), 409, 409)
    registry.put(f"/config/{subject}", json={"compatibility": "BACKWARD"})
    assert register(registry, subject, candidate).status_code == 200
    assert registry.get(f"/subjects/{subject}/versions").json() == [1, 2, 3]


def test_soft_and_permanent_deletes(registry: httpx.Client, subject: str) -> None:
    first_id = register(registry, subject, arrival_schema()).json()["id"]
    register(registry, subject, arrival_schema(WITH_LINE_DEFAULT))

    assert_error(registry.delete(f"/subjects/{subject}/versions/1", params={"permanent": "true"}), 404, 40407)
    assert registry.delete(f"/subjects/{subject}/versions/1").json() == 1
    assert_error(registry.delete(f"/subjects/{subject}/versions/1"), 404, 40406)
    assert registry.get(f"/subjects/{subject}/versions").json() == [2]
    assert registry.get(f"/subjects/{subject}/versions", params={"deleted": "true"}).json() == [1, 2]
    assert registry.get(f"/schemas/ids/{first_id}").status_code == 200  # ids stay readable for old data

    assert_error(registry.delete(f"/subjects/{subject}", params={"permanent": "true"}), 404, 40405)
    assert registry.delete(f"/subjects/{subject}").json() == [2]
    assert_error(registry.delete(f"/subjects/{subject}"), 404, 40404)
    assert subject not in registry.get("/subjects").json()
    assert subject in registry.get("/subjects", params={"deleted": "true"}).json()
    assert_error(registry.get(f"/subjects/{subject}/versions"), 404, 40401)
    assert registry.get(f"/subjects/{subject}/versions/2", params={"deleted": "true"}).status_code == 200

    assert registry.delete(f"/subjects/{subject}", params={"permanent": "true"}).json() == [1, 2]
    assert subject not in registry.get("/subjects", params={"deleted": "true"}).json()
    # After a permanent delete the subject starts again at version 1.
    assert register(registry, subject, arrival_schema()).status_code == 200
    assert registry.get(f"/subjects/{subject}/versions").json() == [1]


def test_subject_names_with_url_encoded_slashes(registry: httpx.Client, subject: str) -> None:
    name = f"org/cta/{subject}"
    encoded = name.replace("/", "%2F")
    assert registry.post(f"/subjects/{encoded}/versions", json={"schema": arrival_schema()}).status_code == 200
    assert name in registry.get("/subjects").json()
    assert registry.get(f"/subjects/{encoded}/versions/1").json()["subject"] == name


def test_subject_with_a_control_character_is_invalid(registry: httpx.Client, subject: str) -> None:
    for bad in (f"{subject}%01", f"{subject}%0A", f"{subject}%7F", "__GLOBAL"):
        body = assert_error(register(registry, bad, arrival_schema()), 422, 42208)
        assert "is not a valid" in body["message"]
        assert_error(registry.put(f"/config/{bad}", json={"compatibility": "NONE"}), 422, 42208)
        assert_error(registry.put(f"/mode/{bad}", json={"mode": "READONLY"}), 422, 42208)
    assert not [name for name in registry.get("/subjects", params={"deleted": "true"}).json() if subject in name]


def test_body_of_a_media_type_confluent_does_not_consume_is_415(registry: httpx.Client, subject: str) -> None:
    for media_type in ("text/plain", "application/xml", "text/plain; charset=utf-8"):
        body = json.dumps({"schema": arrival_schema()})
        response = registry.post(f"/subjects/{subject}/versions", content=body, headers={"Content-Type": media_type})
        assert_error(response, 415, 415)
        assert_error(
            registry.put("/config", content='{"compatibility": "NONE"}', headers={"Content-Type": media_type}), 415, 415
        )
    assert_error(registry.get(f"/subjects/{subject}/versions"), 404, 40401)  # nothing was stored


def test_subject_modes_read_only_and_back(registry: httpx.Client, subject: str) -> None:
    register(registry, subject, arrival_schema())
    body = assert_error(registry.get(f"/mode/{subject}"), 404, 40409)
    assert subject in body["message"]
    assert registry.get(f"/mode/{subject}", params={"defaultToGlobal": "true"}).json() == {"mode": "READWRITE"}
    assert_error(registry.put(f"/mode/{subject}", json={"mode": "SOMETIMES"}), 422, 42204)

    assert registry.put(f"/mode/{subject}", json={"mode": "readonly"}).json() == {"mode": "READONLY"}
    assert registry.get(f"/mode/{subject}").json() == {"mode": "READONLY"}
    body = assert_error(register(registry, subject, arrival_schema(WITH_LINE_DEFAULT)), 422, 42205)
    assert body["message"] == f"Subject {subject} in context . is in read-only mode"
    assert_error(registry.delete(f"/subjects/{subject}/versions/1"), 422, 42205)
    assert_error(registry.delete(f"/subjects/{subject}"), 422, 42205)
    assert_error(registry.put(f"/config/{subject}", json={"compatibility": "NONE"}), 422, 42205)
    # Reads still work, and the lookup of a registered schema still finds it.
    assert registry.get(f"/subjects/{subject}/versions").json() == [1]
    assert registry.post(f"/subjects/{subject}", json={"schema": arrival_schema()}).json()["version"] == 1

    assert registry.delete(f"/mode/{subject}").json() == {"mode": "READONLY"}
    assert_error(registry.get(f"/mode/{subject}"), 404, 40409)
    assert_error(registry.delete(f"/mode/{subject}"), 404, 40401)
    assert register(registry, subject, arrival_schema(WITH_LINE_DEFAULT)).status_code == 200
    assert registry.get(f"/subjects/{subject}/versions").json() == [1, 2]


def test_global_read_only_mode_refuses_every_subject(registry: httpx.Client, subject: str) -> None:
    assert registry.put("/mode", json={"mode": "READONLY"}).json() == {"mode": "READONLY"}
    try:
        assert registry.get("/mode").json() == {"mode": "READONLY"}
        assert_error(register(registry, subject, arrival_schema()), 422, 42205)
        assert_error(registry.put("/config", json={"compatibility": "NONE"}), 422, 42205)
        # A subject-level READWRITE lifts a global READONLY for that subject (not READONLY_OVERRIDE).
        registry.put(f"/mode/{subject}", json={"mode": "READWRITE"})
        assert register(registry, subject, arrival_schema()).status_code == 200
        registry.put("/mode", json={"mode": "READONLY_OVERRIDE"})
        assert_error(register(registry, subject, arrival_schema(WITH_LINE_DEFAULT)), 422, 42205)
    finally:
        registry.put("/mode", json={"mode": "READWRITE"})
        registry.delete(f"/mode/{subject}")
    assert registry.get("/mode").json() == {"mode": "READWRITE"}
    # Switching the whole registry to IMPORT needs it empty (or force): it is not.
    body = assert_error(registry.put("/mode", json={"mode": "IMPORT"}), 422, 42205)
    assert body["message"] == "Cannot import since found existing subjects"
    assert registry.get("/mode").json() == {"mode": "READWRITE"}


def test_import_mode_keeps_the_given_ids_and_versions(registry: httpx.Client, subject: str) -> None:
    imported_id = 500_000 + uuid.uuid4().int % 400_000
    incompatible = arrival_schema(WITH_LINE_REQUIRED, name="Imported")
    body = assert_error(register(registry, subject, arrival_schema(), id=imported_id), 422, 42205)
    assert body["message"] == f"Subject {subject} in context . is not in import mode"

    assert registry.put(f"/mode/{subject}", json={"mode": "IMPORT"}).json() == {"mode": "IMPORT"}
    assert register(registry, subject, arrival_schema(), id=imported_id, version=3).json() == {"id": imported_id}
    # Importing the same version again is a no-op; compatibility is not checked while importing.
    assert register(registry, subject, arrival_schema(), id=imported_id, version=3).json() == {"id": imported_id}
    assert register(registry, subject, incompatible, id=imported_id + 1).json() == {"id": imported_id + 1}
    body = assert_error(register(registry, subject, arrival_schema(WITH_LINE_DEFAULT)), 422, 42205)
    assert body["message"] == f"Subject {subject} in context . is not in read-write mode"
    # An id belongs to one schema: it cannot be re-used for another.
    assert_error(register(registry, subject, arrival_schema(WITH_LINE_DEFAULT), id=imported_id), 422, 42205)

    assert registry.get(f"/subjects/{subject}/versions").json() == [3, 4]
    version_3 = registry.get(f"/subjects/{subject}/versions/3").json()
    assert (version_3["id"], json.loads(version_3["schema"])) == (imported_id, json.loads(arrival_schema()))
    assert registry.get(f"/subjects/{subject}/versions/4").json()["id"] == imported_id + 1
    assert json.loads(registry.get(f"/schemas/ids/{imported_id + 1}").json()["schema"]) == json.loads(incompatible)

    registry.put(f"/mode/{subject}", json={"mode": "READWRITE"})
    # New ids continue above every imported one, so they never collide with a migrated registry's.
    other = register(registry, f"{subject}-other", arrival_schema(name="AfterImport")).json()["id"]
    assert other > imported_id + 1
    # A subject with live versions can only be switched to IMPORT with force.
    assert_error(registry.put(f"/mode/{subject}", json={"mode": "IMPORT"}), 422, 42205)
    assert registry.put(f"/mode/{subject}", params={"force": "true"}, json={"mode": "IMPORT"}).status_code == 200
    registry.delete(f"/mode/{subject}")


# ---- the official Confluent client --------------------------------------------------------------


def test_official_confluent_client_works_against_the_registry(platform: Settings, subject: str) -> None:
    client = SchemaRegistryClient({"url": platform.schema_registry_url})
    v1 = Schema(arrival_schema(), "AVRO")
    v2 = Schema(arrival_schema(WITH_LINE_DEFAULT), "AVRO")

    id1 = client.register_schema(subject, v1)
    assert client.register_schema(subject, v1) == id1
    assert json.loads(client.get_schema(id1).schema_str) == json.loads(v1.schema_str)
    found = client.lookup_schema(subject, v1)
    assert (found.schema_id, found.version, found.subject) == (id1, 1, subject)

    assert client.test_compatibility(subject, v2) is True
    assert client.test_compatibility(subject, Schema(arrival_schema(WITH_LINE_REQUIRED), "AVRO")) is False
    id2 = client.register_schema(subject, v2)
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (id2, 2)
    assert client.get_version(subject, 1).schema_id == id1
    assert client.get_versions(subject) == [1, 2]
    assert subject in client.get_subjects()
    assert "AVRO" in client.get_schema_types()

    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(arrival_schema(WITH_LINE_REQUIRED, name="Other"), "AVRO"))
    assert refused.value.http_status_code == 409 and refused.value.error_code == 409

    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"
    assert str(client.get_config(subject).compatibility_level) == "FULL"
    client.delete_config(subject)

    assert client.delete_version(subject, 2) == 2
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    with pytest.raises(SchemaRegistryError) as gone:
        client.get_versions(subject)
    assert gone.value.error_code == 40401


def test_avro_serializer_and_deserializer_round_trip(platform: Settings, subject: str) -> None:
    topic = subject.removesuffix("-value")
    context = SerializationContext(topic, MessageField.VALUE)
    writer_client = SchemaRegistryClient({"url": platform.schema_registry_url})
    serializer = AvroSerializer(writer_client, arrival_schema(WITH_LINE_DEFAULT))
    payload = serializer({"station": "Clark/Lake", "line": "blue"}, context)
    assert payload is not None

    reader_client = SchemaRegistryClient({"url": platform.schema_registry_url})  # empty cache: asks the registry
    assert AvroDeserializer(reader_client)(payload, context) == {"station": "Clark/Lake", "line": "blue"}
    assert reader_client.get_latest_version(subject).version == 1


# ---- durability ------------------------------------------------------------------------------------


def registry_answers(settings: Settings) -> bool:
    try:
        return httpx.get(f"{settings.schema_registry_url}/subjects", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_ids_and_versions_survive_a_registry_restart(platform: Settings, tmp_path: Path) -> None:
    own = platform.with_overrides(
        schema_registry_port=free_ports(1)[0], schemas_topic=f"_schemas_restart_{uuid.uuid4().hex[:8]}"
    )
    log_path = tmp_path / "registry.log"
    url = own.schema_registry_url
    with running_service("registry", own, log_path) as first:
        first.wait_for(lambda: registry_answers(own), 60, "ready")
        id_a1 = httpx.post(f"{url}/subjects/a-value/versions", json={"schema": arrival_schema()}).json()["id"]
        id_a2 = httpx.post(
            f"{url}/subjects/a-value/versions", json={"schema": arrival_schema(WITH_LINE_DEFAULT)}
        ).json()["id"]
        id_b1 = httpx.post(
            f"{url}/subjects/b-value/versions", json={"schema": arrival_schema(name="Departure")}
        ).json()["id"]
        httpx.put(f"{url}/config/b-value", json={"compatibility": "FULL"})
        httpx.put(f"{url}/mode/b-value", json={"mode": "READONLY"})
        httpx.delete(f"{url}/subjects/a-value/versions/1")
        assert first.stop() == 0, first.log()

    with running_service("registry", own, log_path) as second:
        second.wait_for(lambda: registry_answers(own), 60, "ready again")
        assert httpx.get(f"{url}/subjects").json() == ["a-value", "b-value"]
        assert httpx.get(f"{url}/subjects/a-value/versions").json() == [2]
        assert httpx.get(f"{url}/subjects/a-value/versions", params={"deleted": "true"}).json() == [1, 2]
        assert httpx.get(f"{url}/subjects/a-value/versions/2").json()["id"] == id_a2
        assert httpx.get(f"{url}/subjects/b-value/versions/1").json()["id"] == id_b1
        assert json.loads(httpx.get(f"{url}/schemas/ids/{id_a1}").json()["schema"]) == json.loads(arrival_schema())
        assert httpx.get(f"{url}/config/b-value").json() == {"compatibilityLevel": "FULL"}
        assert httpx.get(f"{url}/mode/b-value").json() == {"mode": "READONLY"}
        # Known schemas keep their ids; new ones continue the sequence.
        again = httpx.post(f"{url}/subjects/c-value/versions", json={"schema": arrival_schema()}).json()["id"]
        assert again == id_a1
        new = httpx.post(
            f"{url}/subjects/c-value/versions",
            json={"schema": arrival_schema(WITH_LINE_DEFAULT, {"name": "x", "type": "int", "default": 1})},
        ).json()["id"]
        assert new == max(id_a1, id_a2, id_b1) + 1


def test_unreachable_kafka_stops_startup_with_a_clear_message(platform: Settings, tmp_path: Path) -> None:
    unreachable = platform.with_overrides(kafka_port=free_ports(1)[0], schema_registry_port=free_ports(1)[0])
    log_path = tmp_path / "registry.log"
    with running_service("registry", unreachable, log_path) as registry:
        assert registry.process is not None
        assert registry.process.wait(60) != 0
    output = log_path.read_text()
    assert "Kafka" in output and "transit-status platform up" in output
    assert "Traceback" not in output
