"""Debezium's JDBC sink: London's enriched events land in PostgreSQL tables, exactly as many rows as
records produced, also after every record was delivered a second time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.helpers import end_offsets, read_all
from tests.london.sink_records import produce_station_events
from tests.processes import wait_until
from transit_status.config import Settings
from transit_status.pipeline.connectors import ensure_london_postgres_sink_connector
from transit_status.platform.ports import private_topics
from transit_status.platform.services import postgres
from transit_status.topics import ensure_topics, london_derived_topics

pytestmark = pytest.mark.platform


@pytest.fixture
def settings(platform: Settings) -> Settings:
    suffix = f"jdbc{uuid.uuid4().hex[:8]}"
    return private_topics(platform, suffix, london_postgres_sink_connector=f"london-postgres-sink-{suffix}")


def table_of(topic: str) -> str:
    """The connector's table for ``topic`` (``collection.name.format=${topic}``; dots become underscores)."""
    return topic.replace(".", "_")


def rows(settings: Settings, topic: str) -> int:
    with postgres.connect(settings) as db:
        exists = db.execute("SELECT to_regclass(%s)", (f'"{table_of(topic)}"',)).fetchone()
        if not exists or exists[0] is None:
            return 0
        return int(db.execute(f'SELECT count(*) FROM "{table_of(topic)}"').fetchone()[0])  # type: ignore[index]


def connector_consumed_everything(settings: Settings) -> bool:
    """The connector's consumer group committed the end of every partition of both topics."""
    topics = (settings.topic_london_station_entries, settings.topic_london_station_exits)
    ends = {(topic, partition): end for topic in topics for partition, end in end_offsets(settings, topic).items()}
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"connect-{settings.london_postgres_sink_connector}",
        }
    )
    try:
        positions = consumer.committed([TopicPartition(t, p) for t, p in ends], timeout=10)
    finally:
        consumer.close()
    return all(max(tp.offset, 0) == ends[(tp.topic, tp.partition)] for tp in positions)


def connect_call(settings: Settings, method: str, path: str) -> httpx.Response:
    response = httpx.request(
        method, f"{settings.connect_url}/connectors/{settings.london_postgres_sink_connector}{path}", timeout=30
    )
    assert response.status_code < 300, response.text
    return response


def task_state(settings: Settings) -> Callable[[], str]:
    def state() -> str:
        status = httpx.get(
            f"{settings.connect_url}/connectors/{settings.london_postgres_sink_connector}/status", timeout=10
        )
        tasks = status.json().get("tasks", []) if status.status_code == 200 else []
        return tasks[0]["state"] if tasks else "NONE"

    return state


def test_rows_equal_records_produced_even_after_a_full_redelivery(settings: Settings) -> None:
    entries, exits = settings.topic_london_station_entries, settings.topic_london_station_exits
    ensure_topics(settings, london_derived_topics(settings))
    # A value that does not fit the schema goes to Connect's dead-letter queue, not into a table. It
    # comes first: Connect commits a partition's offset past a skipped record only with a later good one.
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(entries, key=b"Bank", value=b"{not json")
    assert producer.flush(15) == 0
    produced = produce_station_events(settings, entries=3000, exits=2000)

    assert ensure_london_postgres_sink_connector(settings) is True
    assert ensure_london_postgres_sink_connector(settings) is False  # registering again changes nothing
    expected = {entries: produced.count[entries], exits: produced.count[exits]}
    last: dict[str, int] = {}

    def all_rows() -> bool:
        last.update({topic: rows(settings, topic) for topic in expected})
        assert task_state(settings)() != "FAILED", connect_call(settings, "GET", "/status").text
        return last == expected

    wait_until(all_rows, 180, f"rows {expected}", every_s=1.0)
    wait_until(lambda: connector_consumed_everything(settings), 60, "the connector's offsets at the end")

    with postgres.connect(settings) as db:
        columns = dict(
            db.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
                (table_of(entries),),
            ).fetchall()
        )
        assert columns["@timestamp"].startswith("timestamp") and columns["delta"] == "integer"
        assert {
            "user",
            "station",
            "location",
            "known",
            "__connect_topic",
            "__connect_partition",
            "__connect_offset",
        } <= set(columns)
        first = db.execute(
            f'SELECT "@timestamp", "user", delta, station, location, known FROM "{table_of(entries)}"'
            ' WHERE "user" = %s',
            ("card-0",),
        ).fetchone()
        assert first is not None and first[0].isoformat().startswith("2023-06-07T07:00:00") and first[1:] == (
            "card-0", 1, "Oxford Circus", "51.515224,-0.141903", True,
        )  # fmt: skip
        unknown = db.execute(
            f'SELECT count(*) FROM "{table_of(entries)}" WHERE location IS NULL AND NOT known'
        ).fetchone()
        assert unknown == (3000 // 5,)
    letters = [m for m in read_all(settings, settings.topic_dead_letters) if m.value() == b"{not json"]
    assert len(letters) == 1 and dict(letters[0].headers())["__connect.errors.topic"] == entries.encode()

    # Every record delivered again (the connector's offsets reset): upserts by Kafka coordinates, no new row.
    connect_call(settings, "PUT", "/stop")
    wait_until(lambda: task_state(settings)() == "NONE", 60, "the connector stopped")
    connect_call(settings, "DELETE", "/offsets")
    connect_call(settings, "PUT", "/resume")
    wait_until(lambda: task_state(settings)() == "RUNNING", 60, "the connector running again")
    wait_until(lambda: connector_consumed_everything(settings), 120, "the redelivery consumed")
    # PostgreSQL saw every row a second time, as an update (its statistics arrive within seconds).
    wait_until(lambda: updated_rows(settings, expected) == expected, 60, "the redelivered rows updated")
    assert {topic: rows(settings, topic) for topic in expected} == expected


def updated_rows(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    with postgres.connect(settings) as db:
        return {
            topic: int(
                db.execute(
                    "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = %s", (table_of(topic),)
                ).fetchone()[0]
            )  # type: ignore[index]
            for topic in topics
        }
