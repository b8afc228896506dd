"""London's Flink SQL job: barrier taps joined with their station version, live counts, windows, dead letters.

Real processes: the session's platform runs Kafka, the Schema Registry and Flink; the test writes
station rows in the connector's format (key: {"nlc": n}; value: the flat JSON row, modified_date
ISO-8601 UTC; a deleted station: a tombstone) on a private stations topic, and barrier taps with chosen
timestamps (event time) on private entries/exits, encoded by the barriers' own encoder in each of their
formats (JSON, Confluent Avro), with malformed records of that format.
(test_london_rename.py drives the same job from a MariaDB UPDATE.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import read_all
from tests.pipeline.support import private_job_settings, records_when
from tests.processes import wait_until
from tests.streams.support import latest_json_by_key
from transit_status.avro.wire import frame, schema_id_of
from transit_status.config import Settings
from transit_status.dashboard.london import contracts
from transit_status.london.barriers import BarrierEvent
from transit_status.london.producer import encoder_for
from transit_status.pipeline.sql_jobs import LONDON_BARRIERS, ensure_job, wait_until_running
from transit_status.schemas import load_schema

pytestmark = pytest.mark.platform

# Event time of the test: a quarter hour an hour ago, so its windows are aligned and long closed.
T0 = datetime.fromtimestamp((datetime.now(UTC).timestamp() // 900) * 900, UTC) - timedelta(hours=1)
RENAMED_AT = T0 + timedelta(minutes=5)
CLOSED_AT = T0 + timedelta(minutes=10)
FIELDS = {"@timestamp", "user", "delta", "station", "location", "known"}


def station_row(nlc: int, name: str, lines: str, lat: float, lon: float, modified: datetime) -> dict[str, Any]:
    """A row of tfl.stations as Debezium (ExtractNewRecordState, JsonConverter) writes it."""
    return {
        "nlc": nlc,
        "name": name,
        "location": f"{lat},{lon}",
        "zone": "1",
        "lines": lines,
        "latitude": lat,
        "longitude": lon,
        "modified_date": modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


STATIONS = [
    station_row(513, "Bank", "Central;Northern;Waterloo & City", 51.5134, -0.0889, T0 - timedelta(hours=1)),
    station_row(669, "Oxford Circus", "Bakerloo;Central;Victoria", 51.515, -0.1415, T0 - timedelta(hours=1)),
    station_row(9999, "Old Name", "Victoria", 51.5, -0.1, T0 - timedelta(hours=1)),
    station_row(7777, "Closed Station", "Jubilee", 51.6, -0.2, T0 - timedelta(hours=1)),
    # The same station renamed (same nlc, a new name, a later modified_date): it answers to the new
    # name only from then on.
    station_row(9999, "New Name", "Victoria", 51.5, -0.1, RENAMED_AT),
]
# Deleted from the table: Debezium's tombstone, timestamped when the delete was read.
DELETED = [(7777, CLOSED_AT)]

# (topic attribute, station, user, delta, seconds after T0)
TAPS = [
    ("entries", "Bank", "card-1", 1, 70),
    ("entries", "Bank", "card-2", 1, 71),
    ("entries", "Bank", "card-3", 1, 72),
    ("entries", "Oxford Circus", "card-4", 1, 75),
    ("exits", "Bank", "card-0", -1, 80),
    ("entries", "Nowhere", "card-5", 1, 90),  # a station the table does not know
    ("entries", "New Name", "card-6", 1, 120),  # before the rename: not known yet
    ("entries", "New Name", "card-7", 1, 360),  # after it: known, with its location
    ("entries", "Old Name", "card-10", 1, 130),  # the old name before the rename: known
    # and after it: an unknown station from then on (same topic and key as card-10, so the job reads
    # the two in time order and the station's activity ends with this one's `known`)
    ("entries", "Old Name", "card-11", 1, 400),
    ("entries", "Closed Station", "card-12", 1, 540),  # before the delete: known
    ("entries", "Closed Station", "card-13", 1, 660),  # after it: unknown
    # Moves event time on, so every tap above is joined and every window above closes; this tap
    # itself waits (as the last taps always do) until later taps move event time past it.
    ("entries", "Bank", "card-8", 1, 40 * 60),
]
WAITING = "card-8"
# (topic attribute, key, value, seconds after T0, the dead letter's dlq.error: exact, or its start if it ends "...")
Malformed = tuple[str, bytes | None, bytes, int, str]
JSON_MALFORMED: list[Malformed] = [
    ("entries", b"Bank", b'{"user": "card-9", "delta": ', 100, "value is not a JSON object"),
    ("exits", b"Bank", b'{"user": "card-9", "delta": 1}', 101, "delta of an exit must be -1"),  # counted as an entry
    ("entries", None, b'{"user": "card-9", "delta": 1}', 102, "no station name in the key"),
]
UNKNOWN_SCHEMA_ID = 2**31 - 1


def avro_malformed(settings: Settings) -> list[Malformed]:
    """Records in the Avro format that break the contract or cannot be decoded."""
    registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    keys, values = (
        AvroSerializer(registry, load_schema("barrier_key")),
        AvroSerializer(registry, load_schema("barrier_value")),
    )
    entries = settings.topic_london_entries

    def key(station: str, topic: str = entries) -> bytes:
        return keys({"station": station}, SerializationContext(topic, MessageField.KEY))  # type: ignore[return-value]

    def value(user: str, delta: int, topic: str = entries) -> bytes:
        return values({"user": user, "delta": delta}, SerializationContext(topic, MessageField.VALUE))  # type: ignore[return-value]

    good = value("card-9", 1)
    return [
        ("exits", key("Bank", settings.topic_london_exits), value("card-9", 1, settings.topic_london_exits), 101,
         "delta of an exit must be -1"),
        ("entries", key(""), good, 102, "no station name in the key"),
        ("entries", key("Bank"), value("", 1), 103, "user is missing or empty"),
        # A body its schema cannot read (a string's length, then nothing).
        ("entries", key("Bank"), frame(schema_id_of(good), b"\x02"), 104,
         f"value: does not match its schema (id {schema_id_of(good)}): ..."),
        ("entries", key("Bank"), frame(UNKNOWN_SCHEMA_ID, good[5:]), 105,
         f"value: schema id {UNKNOWN_SCHEMA_ID} is not in the Schema Registry"),
        ("entries", b"Bank", good, 106, "key: not Confluent Avro (no magic byte 0 and 4-byte schema id)"),
    ]  # fmt: skip


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture(params=["json", "avro"])
def job_settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Private topics and job; the taps in the format of the test's parameter."""
    with private_job_settings(platform, request, LONDON_BARRIERS) as settings:
        yield settings.with_overrides(london_barrier_format=request.param)


def malformed(settings: Settings) -> list[Malformed]:
    return avro_malformed(settings) if settings.london_barrier_format == "avro" else JSON_MALFORMED


def produce_inputs(settings: Settings, bad: list[Malformed]) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for row in STATIONS:
        modified = datetime.fromisoformat(row["modified_date"])
        producer.produce(
            settings.topic_london_station_rows,
            key=json.dumps({"nlc": row["nlc"]}).encode(),
            value=json.dumps(row).encode(),
            timestamp=millis(modified),
        )
    for nlc, deleted_at in DELETED:
        producer.produce(
            settings.topic_london_station_rows, key=json.dumps({"nlc": nlc}).encode(), timestamp=millis(deleted_at)
        )
    topics = {"entries": settings.topic_london_entries, "exits": settings.topic_london_exits}
    encode = encoder_for(settings)  # the barriers' own encoder, in the settings' format
    for topic, station, user, delta, seconds in TAPS:
        at = T0 + timedelta(seconds=seconds)
        key, value = encode(topics[topic], BarrierEvent(0, station, user, delta, at))
        producer.produce(topics[topic], key=key, value=value, timestamp=millis(at))
    for topic, key, value, seconds, _ in bad:
        producer.produce(topics[topic], key=key, value=value, timestamp=millis(T0 + timedelta(seconds=seconds)))
    assert producer.flush(30) == 0


def test_taps_are_joined_counted_windowed_and_bad_ones_dead_lettered(job_settings: Settings) -> None:
    bad = malformed(job_settings)
    produce_inputs(job_settings, bad)
    submission = ensure_job(job_settings, LONDON_BARRIERS)
    wait_until_running(job_settings, submission.name, timeout_s=120)

    # station_entries / station_exits: the original design's fields, keyed by the station name.
    entries = records_when(job_settings, job_settings.topic_london_station_entries, 11)
    exits = records_when(job_settings, job_settings.topic_london_station_exits, 1)
    enriched = {(json.loads(m.value())["user"]): (m.key().decode(), json.loads(m.value())) for m in entries + exits}
    assert len(entries) == 11 and len(exits) == 1
    for key, value in enriched.values():
        assert set(value) == FIELDS and key == value["station"]
    expected_taps = {user: (station, delta, seconds) for _, station, user, delta, seconds in TAPS if user != WAITING}
    assert set(enriched) == set(expected_taps)
    for user, (station, delta, seconds) in expected_taps.items():
        _, value = enriched[user]
        assert value["@timestamp"] == iso_ms(T0 + timedelta(seconds=seconds)), value
        assert (value["station"], value["delta"]) == (station, delta)
    assert enriched["card-1"][1]["location"] == "51.5134,-0.0889" and enriched["card-1"][1]["known"] is True
    assert enriched["card-4"][1]["location"] == "51.515,-0.1415"
    # Unknown station: kept, known false, no location.
    assert enriched["card-5"][1] == {**enriched["card-5"][1], "known": False, "location": None}
    # The renamed station: unknown under its new name before the rename, known after it.
    assert (enriched["card-6"][1]["known"], enriched["card-6"][1]["location"]) == (False, None)
    assert (enriched["card-7"][1]["known"], enriched["card-7"][1]["location"]) == (True, "51.5,-0.1")
    # Its old name: known before the rename, an unknown station after it (no ghost of the old row).
    assert (enriched["card-10"][1]["known"], enriched["card-10"][1]["location"]) == (True, "51.5,-0.1")
    assert (enriched["card-11"][1]["known"], enriched["card-11"][1]["location"]) == (False, None)
    # A deleted station: known until the delete, unknown after it.
    assert (enriched["card-12"][1]["known"], enriched["card-12"][1]["location"]) == (True, "51.6,-0.2")
    assert (enriched["card-13"][1]["known"], enriched["card-13"][1]["location"]) == (False, None)

    # The name-keyed stations topic: each station under its current name only; the renamed station's
    # old name and the deleted station's name end in tombstones.
    def stations_by_name() -> dict[str, Any] | None:
        latest = {m.key().decode(): m.value() for m in read_all(job_settings, job_settings.topic_london_stations)}
        return latest if {name for name, value in latest.items() if value is not None} == current else None

    current = {"Bank", "Oxford Circus", "New Name"}
    by_name = wait_until(stations_by_name, 60, "only the current names on the name-keyed stations topic")
    # Both names had been written under their own key (each version is written as it comes).
    assert by_name["Old Name"] is None and by_name["Closed Station"] is None
    assert json.loads(by_name["New Name"]) == STATIONS[-1]

    # Live counts per station, in the dashboard's contract.
    def station_counts() -> dict[str, Any] | None:
        latest = latest_json_by_key(job_settings, job_settings.topic_london_station_activity)
        counts = {json.loads(key)["station"]: value for key, value in latest.items()}
        settled = counts.get("Bank", {}).get("exits") == 1 and counts.get("Closed Station", {}).get("entries") == 2
        return counts if settled and counts.get("Old Name", {}).get("entries") == 2 else None

    activity = wait_until(station_counts, 60, "station activity")
    assert activity == {
        "Bank": {"station": "Bank", "known": True, "entries": 3, "exits": 1, "inside": 2},
        "Oxford Circus": {"station": "Oxford Circus", "known": True, "entries": 1, "exits": 0, "inside": 1},
        "Nowhere": {"station": "Nowhere", "known": False, "entries": 1, "exits": 0, "inside": 1},
        "New Name": {"station": "New Name", "known": True, "entries": 2, "exits": 0, "inside": 2},
        # Counted so far under the name, known as of its latest tap: the page lists both as unknown.
        "Old Name": {"station": "Old Name", "known": False, "entries": 2, "exits": 0, "inside": 2},
        "Closed Station": {"station": "Closed Station", "known": False, "entries": 2, "exits": 0, "inside": 2},
    }
    for message in read_all(job_settings, job_settings.topic_london_station_activity):
        contracts.activity_change(message.key(), message.value())

    # Per line: a station's lines from the stations table; New Name counts on Victoria only once known,
    # Old Name only until the rename.
    lines = {
        json.loads(k)["line"]: v
        for k, v in latest_json_by_key(job_settings, job_settings.topic_london_line_activity).items()
    }
    assert lines["Central"] == {"line": "Central", "entries": 4, "exits": 1, "inside": 3}
    assert lines["Victoria"] == {"line": "Victoria", "entries": 3, "exits": 0, "inside": 3}
    assert lines["Jubilee"] == {"line": "Jubilee", "entries": 1, "exits": 0, "inside": 1}
    assert lines["Waterloo & City"] == {"line": "Waterloo & City", "entries": 3, "exits": 1, "inside": 2}
    assert lines["Bakerloo"]["entries"] == 1 and "Nowhere" not in lines
    for message in read_all(job_settings, job_settings.topic_london_line_activity):
        contracts.line_activity_change(message.key(), message.value())

    # Closed windows: the minute and the quarter hour of Bank's first taps.
    windows = {
        (w["station"], w["window_minutes"], w["window_start"]): w
        for w in (
            json.loads(m.value()) for m in records_when(job_settings, job_settings.topic_london_station_windows, 9)
        )
    }
    minute = T0 + timedelta(minutes=1)
    assert windows[("Bank", 1, minute.strftime("%Y-%m-%dT%H:%M:%SZ"))] == {
        "station": "Bank",
        "window_minutes": 1,
        "window_start": minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": (minute + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entries": 3,
        "exits": 1,
    }
    quarter = windows[("Bank", 15, T0.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    assert (quarter["entries"], quarter["exits"]) == (3, 1)
    assert windows[("New Name", 15, T0.strftime("%Y-%m-%dT%H:%M:%SZ"))]["entries"] == 2
    for message in read_all(job_settings, job_settings.topic_london_station_windows):
        contracts.window_change(message.value())

    # Malformed taps: in the dead-letter topic with the dlq.* headers and the reason; counting went on.
    letters = records_when(job_settings, job_settings.topic_dead_letters, len(bad))
    assert sorted((m.key() or b"", m.value()) for m in letters) == sorted((k or b"", v) for _, k, v, _, _ in bad)
    topics = {"entries": job_settings.topic_london_entries, "exits": job_settings.topic_london_exits}
    got = {}
    for letter in letters:
        headers = dict(letter.headers())
        assert headers["dlq.consumer"] == b"flink.london-barriers"
        assert int(headers["dlq.offset"]) >= 0 and int(headers["dlq.partition"]) >= 0
        got[letter.key(), letter.value()] = (headers["dlq.topic"].decode(), headers["dlq.error"].decode())
    for topic, key, value, _, reason in bad:
        letter_topic, error = got[key, value]
        assert letter_topic == topics[topic], (reason, letter_topic)
        assert error.startswith(reason.removesuffix("...")) if reason.endswith("...") else error == reason, error
