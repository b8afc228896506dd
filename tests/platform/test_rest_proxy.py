"""The REST proxy against real Kafka and the real schema registry, checked with the official clients."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import consume, create_topic, end_offsets
from tests.processes import running_service
from transit_status.config import Settings
from transit_status.platform.rest_proxy import create_app
from transit_status.platform.rest_proxy.errors import RestError
from transit_status.platform.rest_proxy.schemas import SchemaRegistryGateway, make_registry_client, parse_inline_schema

pytestmark = pytest.mark.platform

AVRO = "application/vnd.kafka.avro.v2+json"
JSON = "application/vnd.kafka.json.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
V2 = "application/vnd.kafka.v2+json"

# The seed project's weather request, as its producer sends it.
WEATHER_KEY_SCHEMA = json.dumps(
    {
        "namespace": "com.udacity",
        "type": "record",
        "name": "weather.key",
        "fields": [{"name": "timestamp", "type": "long"}],
    }
)
WEATHER_VALUE_SCHEMA = json.dumps(
    {
        "namespace": "com.udacity",
        "type": "record",
        "name": "weather.value",
        "fields": [{"name": "temperature", "type": "float"}, {"name": "status", "type": "string"}],
    }
)
WEATHER_KEY = {"timestamp": 1700000000000}
WEATHER_VALUE = {"temperature": 71.5, "status": "sunny"}


def weather_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key_schema": WEATHER_KEY_SCHEMA,
        "value_schema": WEATHER_VALUE_SCHEMA,
        "records": [{"key": WEATHER_KEY, "value": WEATHER_VALUE}],
    }
    body.update(overrides)
    return body


def post(settings: Settings, topic: str, content_type: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{settings.rest_proxy_url}/topics/{topic}",
        content=content,
        headers={"Content-Type": content_type, "Accept": V2, **headers},
        timeout=60,
    )


def decode(settings: Settings, topic: str, data: bytes | None, field: MessageField) -> Any:
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    return deserializer(data, SerializationContext(topic, field))


def assert_error(response: httpx.Response, status: int, error_code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(V2)
    body = response.json()
    assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    return body


# ---- Avro ---------------------------------------------------------------------------------------------
def test_weather_request_lands_and_decodes_with_the_official_deserializer(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-weather")

    response = post(platform, topic, AVRO, weather_request())

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(V2)
    body = response.json()
    assert isinstance(body["key_schema_id"], int) and isinstance(body["value_schema_id"], int)
    assert body["offsets"] == [{"partition": 0, "offset": 0, "error_code": None, "error": None}]
    (message,) = consume(platform, topic, expected=1)
    assert decode(platform, topic, message.key(), MessageField.KEY) == WEATHER_KEY
    assert decode(platform, topic, message.value(), MessageField.VALUE) == WEATHER_VALUE
    # The inline schemas were registered under TopicNameStrategy subjects.
    registry = SchemaRegistryClient({"url": platform.schema_registry_url})
    assert registry.get_latest_version(f"{topic}-value").schema_id == body["value_schema_id"]
    assert registry.get_latest_version(f"{topic}-key").schema_id == body["key_schema_id"]


def test_schemas_by_id_from_a_first_response_work(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-by-id")
    first = post(platform, topic, AVRO, weather_request()).json()

    second_value = {"temperature": -3.25, "status": "snow"}
    response = post(
        platform,
        topic,
        AVRO,
        {
            "key_schema_id": first["key_schema_id"],
            "value_schema_id": first["value_schema_id"],
            "records": [{"key": {"timestamp": 1700000060000}, "value": second_value}],
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["key_schema_id"], body["value_schema_id"]) == (first["key_schema_id"], first["value_schema_id"])
    assert body["offsets"][0]["offset"] == 1
    messages = consume(platform, topic, expected=2)
    assert decode(platform, topic, messages[1].value(), MessageField.VALUE) == second_value
    assert decode(platform, topic, messages[1].key(), MessageField.KEY) == {"timestamp": 1700000060000}


def test_after_a_hard_delete_the_proxy_answers_only_ids_the_registry_still_resolves(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-deleted")
    # Schemas of this test alone: an id another subject also uses outlives this subject's delete.
    # (The weather schemas' names are full names, "weather.value": a namespace would not change them.)
    unique = f"deleted{uuid.uuid4().hex[:8]}"
    schemas = {
        f"{role}_schema": json.dumps({**json.loads(text), "name": f"{unique}.{role}"})
        for role, text in (("key", WEATHER_KEY_SCHEMA), ("value", WEATHER_VALUE_SCHEMA))
    }
    first = post(platform, topic, AVRO, weather_request(**schemas)).json()
    registry = platform.schema_registry_url
    for subject in (f"{topic}-key", f"{topic}-value"):  # soft, then permanent, as Confluent's registry requires
        assert httpx.delete(f"{registry}/subjects/{subject}", timeout=10).status_code == 200
        assert httpx.delete(f"{registry}/subjects/{subject}?permanent=true", timeout=10).status_code == 200
    gone = httpx.get(f"{registry}/schemas/ids/{first['value_schema_id']}", timeout=10)
    assert gone.status_code == 404 and gone.json()["error_code"] == 40403

    # The same inline schemas again: registered again, under ids the registry resolves (it used to
    # answer 200 with the deleted ids, from the client's cache).
    again = post(platform, topic, AVRO, weather_request(**schemas))
    assert again.status_code == 200, again.text
    ids = (again.json()["key_schema_id"], again.json()["value_schema_id"])
    for schema_id in ids:
        assert httpx.get(f"{registry}/schemas/ids/{schema_id}", timeout=10).status_code == 200
    messages = consume(platform, topic, expected=2)
    assert decode(platform, topic, messages[1].value(), MessageField.VALUE) == WEATHER_VALUE

    # Our registry never gives a deleted id out again; the deleted id itself is refused with the reason
    # (the proxy had it cached from the first request), and nothing is written.
    assert first["value_schema_id"] not in ids
    by_old_id = post(
        platform,
        topic,
        AVRO,
        {
            "key_schema_id": ids[0],
            "value_schema_id": first["value_schema_id"],
            "records": [{"key": WEATHER_KEY, "value": WEATHER_VALUE}],
        },
    )
    body = assert_error(by_old_id, 422, 42205)
    assert f"value_schema_id {first['value_schema_id']} is not known to the schema registry" in body["message"]
    assert end_offsets(platform, topic) == {0: 2}


def test_while_the_registry_cannot_be_reached_its_last_answers_serve(
    platform: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    topic = create_topic(platform, prefix="rest-proxy-remembered")
    gateway = SchemaRegistryGateway(platform)
    schema = parse_inline_schema(WEATHER_VALUE_SCHEMA, "value")
    schema_id = asyncio.run(gateway.register(f"{topic}-value", schema))
    fetched = asyncio.run(gateway.fetch(schema_id, "value"))  # the registry's own text of it

    gateway.client = make_registry_client(platform.with_overrides(schema_registry_port=_free_port()))  # it is gone
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(gateway.register(f"{topic}-value", schema)) == schema_id
        assert asyncio.run(gateway.fetch(schema_id, "value")).text == fetched.text
    said = [message for message in caplog.messages if "cannot reach the schema registry" in message]
    assert len(said) == 1, caplog.messages  # once per outage, not per request
    # What it never answered is not made up.
    with pytest.raises(RestError, match="cannot reach the schema registry"):
        asyncio.run(gateway.fetch(schema_id + 1000, "value"))


def test_avro_json_encoding_of_unions_enums_collections_and_logical_types(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-rich")
    schema = {
        "type": "record",
        "name": "Arrival",
        "namespace": "test.transit",
        "fields": [
            {"name": "station_id", "type": "int"},
            {"name": "prev_station_id", "type": ["null", "int"], "default": None},
            {
                "name": "train",
                "type": [
                    "null",
                    "string",
                    {
                        "type": "record",
                        "name": "Train",
                        "fields": [{"name": "id", "type": "string"}, {"name": "cars", "type": "int"}],
                    },
                ],
            },
            {"name": "line", "type": {"type": "enum", "name": "Line", "symbols": ["blue", "red", "green"]}},
            {"name": "stops", "type": {"type": "array", "items": "long"}},
            {"name": "delays", "type": {"type": "map", "values": "double"}},
            {"name": "raw", "type": "bytes"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "status", "type": "string", "default": "on time"},
        ],
    }
    records = [
        {
            "station_id": 40380,
            "train": {"test.transit.Train": {"id": "BL001", "cars": 8}},  # a union branch by full name
            "line": "blue",
            "stops": [1, 2],
            "delays": {"x": 1.5},
            "raw": "\u0000\u00ff",  # bytes: code points 0-255
            "at": 1700000000000,
        },
        {
            "station_id": 40370,
            "prev_station_id": {"int": 40380},
            "train": {"string": "RL7"},
            "line": "red",
            "stops": [],
            "delays": {},
            "raw": "",
            "at": 0,
            "status": "delayed",
        },
        {"station_id": 1, "train": None, "line": "green", "stops": [-1], "delays": {"y": "NaN"}, "raw": "a", "at": 5},
    ]

    response = post(
        platform, topic, AVRO, {"value_schema": json.dumps(schema), "records": [{"value": r} for r in records]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["key_schema_id"] is None
    messages = consume(platform, topic, expected=3)
    decoded = [decode(platform, topic, m.value(), MessageField.VALUE) for m in messages]
    assert [m.key() for m in messages] == [None, None, None]
    assert decoded[0] == {
        "station_id": 40380,
        "prev_station_id": None,  # missing fields take their defaults
        "train": {"id": "BL001", "cars": 8},
        "line": "blue",
        "stops": [1, 2],
        "delays": {"x": 1.5},
        "raw": b"\x00\xff",
        "at": datetime.datetime.fromtimestamp(1700000000, tz=datetime.UTC),
        "status": "on time",
    }
    assert decoded[1]["prev_station_id"] == 40380 and decoded[1]["train"] == "RL7"
    assert decoded[1]["status"] == "delayed" and decoded[1]["raw"] == b""
    assert decoded[2]["train"] is None and decoded[2]["delays"]["y"] != decoded[2]["delays"]["y"]  # NaN


# ---- JSON and binary ----------------------------------------------------------------------------------
def test_json_format_lands_byte_exact(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-json")
    records = [
        {"key": "line-blue", "value": {"station": "Clark/Lake", "delay_s": 42, "ok": True, "x": None}},
        {"value": [1, 2.5, "é"]},
    ]

    response = post(platform, topic, JSON, {"records": records})

    assert response.status_code == 200, response.text
    assert response.json()["key_schema_id"] is None and response.json()["value_schema_id"] is None
    messages = consume(platform, topic, expected=2)
    assert messages[0].key() == b'"line-blue"'
    assert messages[0].value() == b'{"station":"Clark/Lake","delay_s":42,"ok":true,"x":null}'
    assert messages[1].key() is None
    assert messages[1].value() == '[1,2.5,"é"]'.encode()


def test_a_post_offering_http2_upgrade_is_read_with_its_body(platform: Settings) -> None:
    # Java's HttpClient offers `Upgrade: h2c` by default; the proxy ignores the offer, never the body.
    topic = create_topic(platform, prefix="rest-proxy-h2c")
    offer = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"}
    response = post(platform, topic, JSON, {"records": [{"value": {"station": "Clark/Lake"}}]}, **offer)
    assert response.status_code == 200, response.text
    assert [message.value() for message in consume(platform, topic, expected=1)] == [b'{"station":"Clark/Lake"}']


def test_binary_format_lands_byte_exact(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-binary")
    key, value = b"\x00\x01key\xff", bytes(range(256))

    response = post(
        platform,
        topic,
        BINARY,
        {"records": [{"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}]},
    )

    assert response.status_code == 200, response.text
    (message,) = consume(platform, topic, expected=1)
    assert (message.key(), message.value()) == (key, value)


def test_explicit_partition_is_honoured(platform: Settings) -> None:
    topic = create_topic(platform, partitions=3, prefix="rest-proxy-partition")
    records = [
        {"value": {"n": 1}, "partition": 2},
        {"value": {"n": 2}, "partition": 1},
        {"value": {"n": 3}, "partition": 2},
    ]

    response = post(platform, topic, JSON, {"records": records})
    to_partition = httpx.post(
        f"{platform.rest_proxy_url}/topics/{topic}/partitions/0",
        json={"records": [{"value": {"n": 4}}]},
        headers={"Content-Type": JSON},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    assert [(o["partition"], o["offset"]) for o in response.json()["offsets"]] == [(2, 0), (1, 0), (2, 1)]
    assert to_partition.status_code == 200, to_partition.text
    assert to_partition.json()["offsets"][0]["partition"] == 0
    messages = consume(platform, topic, expected=4)
    assert sorted((m.partition(), json.loads(m.value())["n"]) for m in messages) == [(0, 4), (1, 2), (2, 1), (2, 3)]


# ---- bad input never writes ---------------------------------------------------------------------------
UNKNOWN_TYPE_SCHEMA = json.dumps({"type": "record", "name": "w", "fields": [{"name": "a", "type": "nope"}]})
GOOD_RECORD = {"key": WEATHER_KEY, "value": WEATHER_VALUE}
WEATHER_BODY = json.dumps(weather_request()).encode()

# case -> (content type, body, HTTP status, Confluent error_code)
BAD_REQUESTS: dict[str, tuple[str, Any, int, int]] = {
    "malformed JSON": (AVRO, b'{"records": [', 400, 400),
    "unsupported content type": ("text/plain", WEATHER_BODY, 415, 415),
    "protobuf content type": ("application/vnd.kafka.protobuf.v2+json", WEATHER_BODY, 415, 415),
    "no records": (JSON, {"records": []}, 422, 422),
    "unparseable schema": (AVRO, weather_request(value_schema=UNKNOWN_TYPE_SCHEMA), 422, 42205),
    "schema that is not JSON": (AVRO, weather_request(value_schema="{not json"), 422, 42205),
    "record not matching its schema": (
        AVRO,
        weather_request(records=[{"key": WEATHER_KEY, "value": {"temperature": "hot", "status": "sunny"}}]),
        422,
        42203,
    ),
    "record missing a field": (
        AVRO,
        weather_request(records=[{"key": WEATHER_KEY, "value": {"temperature": 1.0}}]),
        422,
        42203,
    ),
    "one bad record among good ones": (
        AVRO,
        weather_request(
            records=[GOOD_RECORD, {"key": WEATHER_KEY, "value": {"temperature": 70.0, "status": 5}}, GOOD_RECORD]
        ),
        422,
        42203,
    ),
    "keys without a key schema": (AVRO, {"value_schema": WEATHER_VALUE_SCHEMA, "records": [GOOD_RECORD]}, 422, 42201),
    "values without a value schema": (AVRO, {"key_schema": WEATHER_KEY_SCHEMA, "records": [GOOD_RECORD]}, 422, 42202),
    "schema id the registry does not know": (
        AVRO,
        {"value_schema_id": 987654321, "records": [{"value": WEATHER_VALUE}]},
        422,
        42205,
    ),
    "binary value that is not base64": (BINARY, {"records": [{"value": "not base64!"}]}, 400, 400),
    "records that are not objects": (JSON, {"records": [1, 2]}, 400, 400),
    "a record too large to send": (JSON, {"records": [{"value": 1}, {"value": "x" * 1_100_000}]}, 413, 413),
    # Refused before its inline schemas would be registered (the test checks no subject appeared).
    "an Avro record too large to send": (
        AVRO,
        weather_request(records=[{"key": WEATHER_KEY, "value": {"temperature": 1.0, "status": "x" * 1_100_000}}]),
        413,
        413,
    ),
    # 1e400 is beyond a double: json reads it as infinity, and bare Infinity is not JSON.
    "a JSON number beyond a double": (JSON, b'{"records": [{"value": {"reading": 1e400}}]}', 422, 422),
    "a JSON key below a double": (JSON, b'{"records": [{"key": -1e400, "value": 1}]}', 422, 422),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_are_refused_and_write_nothing(platform: Settings, case: str) -> None:
    content_type, body, status, error_code = BAD_REQUESTS[case]
    topic = create_topic(platform, prefix="rest-proxy-bad")
    before = end_offsets(platform, topic)

    response = post(platform, topic, content_type, body)

    assert_error(response, status, error_code)
    assert end_offsets(platform, topic) == before
    # No schema was registered for the refused request either.
    assert not [s for s in SchemaRegistryClient({"url": platform.schema_registry_url}).get_subjects() if topic in s]


def test_unknown_topic_is_404_and_is_not_created(platform: Settings) -> None:
    topic = "rest-proxy-missing-" + os.urandom(5).hex()

    for content_type, body in ((AVRO, weather_request()), (JSON, {"records": [{"value": 1}]})):
        assert_error(post(platform, topic, content_type, body), 404, 40401)
    assert_error(httpx.get(f"{platform.rest_proxy_url}/topics/{topic}"), 404, 40401)

    metadata = AdminClient({"bootstrap.servers": platform.bootstrap_servers}).list_topics(timeout=10)
    assert topic not in metadata.topics


def test_produce_right_after_the_topic_is_created_is_accepted(platform: Settings) -> None:
    # No waiting for leaders or metadata: the proxy must not refuse a topic that exists but that the
    # broker's metadata does not list yet. The first produce is even sent while the topic is created.
    admin = AdminClient({"bootstrap.servers": platform.bootstrap_servers})
    for attempt in range(3):
        topic = f"rest-proxy-fresh-{attempt}-{os.urandom(5).hex()}"
        created = admin.create_topics([NewTopic(topic, num_partitions=8, replication_factor=1)])[topic]
        if attempt > 0:
            created.result(timeout=15)

        response = post(platform, topic, JSON, {"records": [{"value": {"attempt": attempt}}]})

        created.result(timeout=15)
        assert response.status_code == 200, response.text
        assert response.json()["offsets"][0]["error"] is None
        (message,) = consume(platform, topic, expected=1)
        assert json.loads(message.value()) == {"attempt": attempt}


def test_invalid_partition_is_404_and_writes_nothing(platform: Settings) -> None:
    topic = create_topic(platform, partitions=2, prefix="rest-proxy-bad-partition")
    before = end_offsets(platform, topic)

    response = post(platform, topic, JSON, {"records": [{"value": 1, "partition": 0}, {"value": 2, "partition": 7}]})

    assert_error(response, 404, 40402)
    assert end_offsets(platform, topic) == before


def test_incompatible_schema_is_409_from_the_registry_and_writes_nothing(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-incompatible")
    assert post(platform, topic, AVRO, weather_request()).status_code == 200
    before = end_offsets(platform, topic)
    # A new required field without a default cannot read the old data: not backward compatible.
    incompatible = json.loads(WEATHER_VALUE_SCHEMA)
    incompatible["fields"].append({"name": "humidity", "type": "int"})

    response = post(
        platform,
        topic,
        AVRO,
        weather_request(
            value_schema=json.dumps(incompatible),
            records=[{"key": WEATHER_KEY, "value": {**WEATHER_VALUE, "humidity": 3}}],
        ),
    )

    assert_error(response, 409, 409)
    assert end_offsets(platform, topic) == before


def test_unacceptable_accept_header_is_406(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-accept")
    assert_error(post(platform, topic, JSON, {"records": [{"value": 1}]}, Accept="text/html"), 406, 406)
    for accept in ("application/vnd.kafka+json", "application/json", "*/*"):
        assert post(platform, topic, JSON, {"records": [{"value": 1}]}, Accept=accept).status_code == 200


# ---- metadata -----------------------------------------------------------------------------------------
def test_topics_are_listed_and_described(platform: Settings) -> None:
    topic = create_topic(platform, partitions=3, prefix="rest-proxy-meta")

    assert httpx.get(f"{platform.rest_proxy_url}/").json() == {}
    listed = httpx.get(f"{platform.rest_proxy_url}/topics")
    described = httpx.get(f"{platform.rest_proxy_url}/topics/{topic}")

    assert listed.status_code == 200 and listed.headers["content-type"].startswith(V2)
    assert topic in listed.json()
    assert not [name for name in listed.json() if name.startswith("__")]
    assert described.status_code == 200, described.text
    body = described.json()
    assert body["name"] == topic
    assert body["configs"]["cleanup.policy"] == "delete"
    assert [p["partition"] for p in body["partitions"]] == [0, 1, 2]
    for partition in body["partitions"]:
        leaders = [r for r in partition["replicas"] if r["leader"]]
        assert len(leaders) == 1 and leaders[0]["broker"] == partition["leader"]
        assert all(r["in_sync"] for r in partition["replicas"])


def test_one_partition_is_described_like_confluent(platform: Settings) -> None:
    topic = create_topic(platform, partitions=3, prefix="rest-proxy-partition-meta")
    url = f"{platform.rest_proxy_url}/topics/{topic}/partitions"

    response = httpx.get(f"{url}/2", headers={"Accept": V2})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(V2)
    body = response.json()
    assert set(body) == {"partition", "leader", "replicas"} and body["partition"] == 2
    assert body["replicas"] == [{"broker": body["leader"], "leader": True, "in_sync": True}]
    assert body == next(p for p in httpx.get(url).json() if p["partition"] == 2)
    for missing in ("3", "-1", "two"):
        assert_error(httpx.get(f"{url}/{missing}"), 404, 40402)
    assert_error(httpx.get(f"{platform.rest_proxy_url}/topics/no-such-{os.urandom(5).hex()}/partitions/0"), 404, 40401)


def test_unknown_route_is_a_confluent_style_error(platform: Settings) -> None:
    assert_error(httpx.get(f"{platform.rest_proxy_url}/no/such/thing"), 404, 404)


# ---- the registry going away --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_registry_during_a_request_is_a_5xx_error(platform: Settings) -> None:
    topic = create_topic(platform, prefix="rest-proxy-no-registry")
    settings = platform.with_overrides(schema_registry_port=_free_port())
    app = create_app(settings)

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
                return await client.post(
                    f"/topics/{topic}",
                    content=json.dumps(weather_request()),
                    headers={"Content-Type": AVRO},
                    timeout=60,
                )

    response = asyncio.run(scenario())

    body = assert_error(response, 500, 50001)
    assert settings.schema_registry_url in body["message"]
    assert end_offsets(platform, topic) == {0: 0}


def test_start_without_a_registry_exits_with_a_clear_message(platform: Settings, tmp_path: Path) -> None:
    settings = platform.with_overrides(schema_registry_port=_free_port(), rest_proxy_port=_free_port())
    log_path = tmp_path / "rest-proxy.log"

    with running_service("rest-proxy", settings, log_path) as proxy:
        assert proxy.process is not None
        assert proxy.process.wait(120) != 0

    output = log_path.read_text()
    assert "schema registry" in output and "transit-status platform up" in output
    assert "Traceback" not in output
