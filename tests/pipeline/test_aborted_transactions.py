"""Flink writes London's enriched streams in Kafka transactions; after a Flink restart some of them are
aborted. Neither sink may store a record of an aborted transaction: not the JDBC sink into PostgreSQL
(Connect reads uncommitted records unless told otherwise), not the OpenSearch sink."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from opensearchpy import OpenSearch

from tests.london.sink_records import START, station_event
from tests.processes import running_service, wait_until
from transit_status.config import Settings
from transit_status.london.opensearch_sink import data_streams
from transit_status.pipeline.connectors import ensure_london_postgres_sink_connector
from transit_status.platform.ports import private_topics
from transit_status.platform.services import postgres
from transit_status.topics import ensure_topics, london_derived_topics

pytestmark = pytest.mark.platform

ABORTED, COMMITTED = 400, 300


@pytest.fixture
def settings(platform: Settings) -> Settings:
    suffix = f"abort{uuid.uuid4().hex[:8]}"
    return private_topics(
        platform,
        suffix,
        london_postgres_sink_connector=f"london-postgres-sink-{suffix}",
        london_opensearch_sink_group=f"opensearch-sink-{suffix}",
    )


def produce_in_transactions(settings: Settings) -> None:
    """One aborted transaction of ``ABORTED`` entries (users aborted-*), then one committed of
    ``COMMITTED`` (users committed-*), as a restarted Flink job leaves them."""
    producer = Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "transactional.id": f"test-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    for prefix, count, finish in (
        ("aborted", ABORTED, producer.abort_transaction),
        ("committed", COMMITTED, producer.commit_transaction),
    ):
        producer.begin_transaction()
        for n in range(count):
            event = station_event(START + timedelta(seconds=n), f"{prefix}-{n}", 1, "Bank")
            producer.produce(settings.topic_london_station_entries, key=b"Bank", value=json.dumps(event).encode())
            producer.poll(0)
        assert producer.flush(30) == 0
        finish(30)


def users_in_postgres(settings: Settings) -> list[str]:
    table = settings.topic_london_station_entries.replace(".", "_")
    with postgres.connect(settings) as db:
        if db.execute("SELECT to_regclass(%s)", (f'"{table}"',)).fetchone() == (None,):
            return []
        return [row[0] for row in db.execute(f'SELECT "user" FROM "{table}"').fetchall()]


def users_in_opensearch(client: OpenSearch, stream: str) -> list[str]:
    if not client.indices.exists(index=stream):
        return []
    client.indices.refresh(index=stream)
    hits = client.search(index=stream, body={"size": 10_000, "_source": ["user"]})["hits"]["hits"]
    return [hit["_source"]["user"] for hit in hits]


def test_no_sink_stores_a_record_of_an_aborted_transaction(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings, london_derived_topics(settings))
    produce_in_transactions(settings)
    committed = sorted(f"committed-{n}" for n in range(COMMITTED))
    client = OpenSearch(hosts=[settings.opensearch_url], timeout=30)
    stream = data_streams(settings)[settings.topic_london_station_entries]

    ensure_london_postgres_sink_connector(settings)
    with running_service("opensearch-sink", settings, tmp_path / "opensearch-sink.log") as sink:
        in_postgres = wait_until(
            lambda: (found := users_in_postgres(settings)) and len(found) >= COMMITTED and found,
            180,
            f"{COMMITTED} rows in PostgreSQL",
        )
        in_opensearch = sink.wait_for(
            lambda: (found := users_in_opensearch(client, stream)) and len(found) >= COMMITTED and found,
            120,
            f"{COMMITTED} documents in OpenSearch",
        )
    try:
        assert sorted(in_postgres) == committed
        assert sorted(in_opensearch) == committed
    finally:  # the shared platform keeps no connector of this test
        httpx.delete(f"{settings.connect_url}/connectors/{settings.london_postgres_sink_connector}", timeout=30)
