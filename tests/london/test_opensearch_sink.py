"""`transit-status serve opensearch-sink` against real Kafka and a real OpenSearch: exact counts, no
duplicates across SIGTERM, kill -9 and a full replay, dead letters for bad records, OpenSearch down."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from opensearchpy import OpenSearch

from tests.helpers import end_offsets, read_all
from tests.london.sink_records import START, flink_timestamp, produce_station_events
from tests.processes import ServiceProcess, running_service
from transit_status.config import Settings
from transit_status.dead_letters import rejected_by
from transit_status.london.opensearch_sink import CONSUMER_NAME, data_streams
from transit_status.platform.ports import free_ports, private_topics
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

STOP_WITHIN_S = 5.0


@pytest.fixture
def settings(platform: Settings) -> Settings:
    """Private topics, data streams (the default names, e.g. ``station_entries-sink-<id>``) and consumer group."""
    suffix = f"sink-{uuid.uuid4().hex[:8]}"
    return private_topics(platform, suffix)


@pytest.fixture
def client(platform: Settings) -> OpenSearch:
    return OpenSearch(hosts=[platform.opensearch_url], timeout=30)


def indexed(client: OpenSearch, stream: str) -> int:
    if not client.indices.exists(index=stream):
        return 0
    client.indices.refresh(index=stream)
    return int(client.count(index=stream)["count"])


def indexed_per_topic(client: OpenSearch, settings: Settings) -> dict[str, int]:
    return {topic: indexed(client, stream) for topic, stream in data_streams(settings).items()}


def wait_for_all(sink: ServiceProcess, client: OpenSearch, settings: Settings, expected: dict[str, int]) -> None:
    sink.wait_for(lambda: indexed_per_topic(client, settings) == expected, 90, f"{expected} documents indexed")


def committed(settings: Settings) -> dict[tuple[str, int], int]:
    """The sink group's committed offsets (0 where nothing was committed)."""
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": settings.london_opensearch_sink_group}
    )
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in data_streams(settings)
            for partition in end_offsets(settings, topic)
        ]
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def everything_read(settings: Settings) -> dict[tuple[str, int], int]:
    return {
        (topic, partition): end
        for topic in data_streams(settings)
        for partition, end in end_offsets(settings, topic).items()
    }


def stop_quickly(sink: ServiceProcess) -> None:
    started = time.monotonic()
    assert sink.stop(timeout_s=STOP_WITHIN_S + 10) == 0, sink.log()[-3000:]
    took = time.monotonic() - started
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop"
    assert "Traceback" not in sink.log()


def test_everything_produced_is_indexed_once_and_histograms_add_up(
    settings: Settings, client: OpenSearch, tmp_path: Path
) -> None:
    produced = produce_station_events(settings, entries=3000, exits=2000)
    with running_service("opensearch-sink", settings, tmp_path / "sink.log") as sink:
        wait_for_all(sink, client, settings, dict(produced.count))
        stop_quickly(sink)
    assert committed(settings) == everything_read(settings)  # the last bulk was committed on SIGTERM

    entries_stream = settings.opensearch_entries_stream
    mapping = client.indices.get_mapping(index=entries_stream)
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert {name: properties[name]["type"] for name in ("@timestamp", "user", "station", "delta", "location")} == {
        "@timestamp": "date", "user": "keyword", "station": "keyword", "delta": "integer", "location": "geo_point",
    }  # fmt: skip
    # The original design's names have an underscore: OpenSearch takes it in a data stream's name, and the
    # stream is the one our index template (matching that name) made.
    assert "_" in entries_stream
    for stream in data_streams(settings).values():
        (created,) = client.indices.get_data_stream(name=stream)["data_streams"]
        assert (created["name"], created["template"]) == (stream, stream)

    # As the London dashboard asks (Kibana's way): a per-minute date_histogram, entries counted and summed.
    for topic, stream in data_streams(settings).items():
        response = client.search(
            index=stream,
            body={
                "size": 0,
                "aggs": {
                    "per_minute": {
                        "date_histogram": {"field": "@timestamp", "fixed_interval": "1m"},
                        "aggs": {"delta": {"sum": {"field": "delta"}}},
                    }
                },
            },
        )
        buckets = response["aggregations"]["per_minute"]["buckets"]
        expected = produced.per_minute[topic]
        assert {bucket["key_as_string"]: bucket["doc_count"] for bucket in buckets} == dict(expected)
        sign = 1 if topic == settings.topic_london_station_entries else -1
        assert {bucket["key_as_string"]: bucket["delta"]["value"] for bucket in buckets} == {
            minute: sign * count for minute, count in expected.items()
        }

    # A station the table did not know is kept, without a location; a known one is a geo_point.
    unknown = client.search(index=entries_stream, body={"query": {"term": {"known": False}}, "size": 1})
    assert unknown["hits"]["hits"][0]["_source"]["location"] is None
    near_bank = client.count(
        index=entries_stream,
        body={"query": {"geo_distance": {"distance": "200m", "location": {"lat": 51.5133, "lon": -0.0889}}}},
    )
    assert near_bank["count"] == 3000 // 5


def test_restarts_never_duplicate_sigterm_kill_and_full_replay(
    settings: Settings, client: OpenSearch, tmp_path: Path
) -> None:
    first = produce_station_events(settings, entries=1500, exits=500)
    log = tmp_path / "sink.log"
    with running_service("opensearch-sink", settings, log) as sink:
        wait_for_all(sink, client, settings, dict(first.count))
        stop_quickly(sink)

    # kill -9 in the middle of a backlog: whatever was indexed but not committed is replayed.
    second = produce_station_events(settings, entries=8_000, exits=4_000, start=START.replace(hour=9), first_user=10**6)
    expected = dict(first.count + second.count)
    sink = ServiceProcess("opensearch-sink", settings, log).start()
    sink.wait_for(lambda: sum(indexed_per_topic(client, settings).values()) > sum(first.count.values()), 60, "progress")
    sink.kill()
    with running_service("opensearch-sink", settings, log) as sink:
        wait_for_all(sink, client, settings, expected)
        time.sleep(2)  # anything more would show now
        assert indexed_per_topic(client, settings) == expected
        stop_quickly(sink)

    # Replay everything from the start: every document is already there (409), none is added.
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    rewind = [TopicPartition(topic, partition, 0) for topic, partition in everything_read(settings)]
    group = settings.london_opensearch_sink_group
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, rewind)])[group].result(timeout=15)
    replay_log = tmp_path / "replay.log"
    with running_service("opensearch-sink", settings, replay_log) as sink:
        sink.wait_for(lambda: committed(settings) == everything_read(settings), 90, "the replay committed")
        stop_quickly(sink)
    assert indexed_per_topic(client, settings) == expected
    assert f"'already indexed': {sum(expected.values())}" in replay_log.read_text()


def test_bad_records_become_dead_letters_and_the_sink_goes_on(
    settings: Settings, client: OpenSearch, tmp_path: Path
) -> None:
    from confluent_kafka import Producer

    ensure_topics(settings)
    topic = settings.topic_london_station_entries
    good = {
        "@timestamp": flink_timestamp(START),
        "user": "c1",
        "delta": 1,
        "station": "Bank",
        "location": None,
        "known": False,
    }
    bad_values = [
        b"{not json",
        b"[1, 2, 3]",
        json.dumps({**good, "@timestamp": None}).encode(),
        json.dumps({**good, "location": "somewhere"}).encode(),  # OpenSearch refuses: no geo_point
        json.dumps({**good, "@timestamp": "yesterday"}).encode(),  # OpenSearch refuses: no date
    ]
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(topic, key=b"Bank", value=json.dumps(good).encode(), partition=0)
    for bad in bad_values:
        producer.produce(topic, key=b"Bank", value=bad, partition=0, headers=[("origin", b"test")])
    producer.produce(topic, key=b"Bank", value=json.dumps({**good, "user": "c2"}).encode(), partition=0)
    assert producer.flush(15) == 0

    with running_service("opensearch-sink", settings, tmp_path / "sink.log") as sink:
        sink.wait_for(lambda: indexed(client, settings.opensearch_entries_stream) == 2, 60, "the good ones")
        letters = sink.wait_for(lambda: len(read_all(settings, settings.topic_dead_letters)) == len(bad_values) and
                                read_all(settings, settings.topic_dead_letters), 30, "the dead letters")  # fmt: skip
        sink.wait_for(lambda: committed(settings)[(topic, 0)] == len(bad_values) + 2, 30, "committed past them")
        sink.assert_alive()
    assert [letter.value() for letter in letters] == bad_values  # byte for byte, in order
    for offset, letter in enumerate(letters, start=1):
        assert rejected_by(letter.headers()) == (CONSUMER_NAME, (topic, 0, offset))
        assert ("origin", b"test") in letter.headers()  # the original headers are kept
    reasons = [dict(letter.headers())["dlq.error"].decode() for letter in letters]
    assert "not JSON" in reasons[0] and "not an object" in reasons[1] and "@timestamp" in reasons[2]
    assert "OpenSearch refused it" in reasons[3] and "OpenSearch refused it" in reasons[4]


def test_opensearch_down_is_waited_out_without_committing(
    settings: Settings, client: OpenSearch, tmp_path: Path
) -> None:
    produced = produce_station_events(settings, entries=100, exits=100)
    # Nothing listens on this port: OpenSearch is "down" for this sink.
    unreachable = settings.with_overrides(opensearch_port=free_ports(1)[0])
    with running_service("opensearch-sink", unreachable, tmp_path / "down.log") as sink:
        sink.wait_for(lambda: "again in" in sink.log(), 30, "retrying with backoff")
        time.sleep(3)
        sink.assert_alive()  # never exits for it
        assert set(committed(settings).values()) == {0}  # and never commits
        stop_quickly(sink)
    with running_service("opensearch-sink", settings, tmp_path / "up.log") as sink:
        wait_for_all(sink, client, settings, dict(produced.count))
