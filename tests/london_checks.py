"""London exactly once, checked where it lands: the barrier taps on the input topics against the
enriched topics (committed records), the OpenSearch data streams and the PostgreSQL tables.

A tap is compared as (station, user, delta, time in ms): the input's Kafka timestamp is the
``@timestamp`` Flink writes. Multisets, not sets, so a duplicate shows as well as a loss. Each OpenSearch
document (``_id`` = ``<topic>-<partition>-<offset>``) and each PostgreSQL row (keyed by the same
coordinates) must be one committed record of its topic: a document or row from an aborted Flink
transaction, or a record indexed twice, has coordinates no committed record has.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from confluent_kafka import Producer
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError
from opensearchpy.helpers import scan

from tests.helpers import read_all
from tests.processes import wait_until
from transit_status.avro.wire import MAGIC_BYTE, AvroDecoder, registry_client
from transit_status.config import Settings
from transit_status.platform.services import postgres

FENCE_USER = "event-time-fence"
# Far enough ahead that event time passes every real tap.
FENCE_AHEAD_MS = 10 * 60 * 1000
FENCE_EVERY_S = 2.0


class Tap(NamedTuple):
    station: str
    user: str
    delta: int
    at_ms: int


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:  # PostgreSQL's `timestamp` column holds UTC (the contract's "Z")
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _tap_of(document: dict[str, Any]) -> Tap:
    at = document["@timestamp"]
    at_ms = _ms(at) if isinstance(at, datetime) else _ms(datetime.fromisoformat(at))
    return Tap(document["station"], document["user"], int(document["delta"]), at_ms)


def input_taps(settings: Settings, topic: str) -> Counter[Tap]:
    """Every barrier tap on ``topic`` (each in its format: JSON, or Confluent Avro), the event-time fence left out."""
    avro = AvroDecoder(registry_client(settings))
    taps: Counter[Tap] = Counter()
    for message in read_all(settings, topic):
        if message.value()[:1] == bytes([MAGIC_BYTE]):
            station, value = avro.decode(message.key(), "key")["station"], avro.decode(message.value())
        else:
            station, value = message.key().decode(), json.loads(message.value())
        if value["user"] != FENCE_USER:
            taps[Tap(station, value["user"], value["delta"], message.timestamp()[1])] += 1
    return taps


@contextmanager
def event_time_moving(settings: Settings, station: str) -> Iterator[None]:
    """While the block runs, event time keeps moving as if taps went on: once the producer has stopped,
    its partitions go idle and event time would stay just below their last taps, holding those in the
    temporal joins. Every FENCE_EVERY_S a fence record, each later than the one before, moves it on.

    One is not enough at parallelism 2: a tap can reach the second join after event time has passed it
    (its input from one subtask of the first join idle while the other's moved on), and waits there for
    the next advance, as it would for the next real tap. A fence is not a valid tap (delta 0): it moves
    the source's watermark and goes to the dead-letter topic, so it is in no output the tests compare.
    JSON whatever the barriers' format: the job reads each record in its own format."""
    stop = threading.Event()
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    value = json.dumps({"user": FENCE_USER, "delta": 0}).encode()
    first_ms = int(time.time() * 1000) + FENCE_AHEAD_MS

    def fences() -> None:
        count = 0
        while not stop.is_set():
            at_ms = first_ms + count * round(FENCE_EVERY_S * 1000)
            producer.produce(settings.topic_london_entries, key=station.encode(), value=value, timestamp=at_ms)
            producer.poll(0)
            count += 1
            stop.wait(FENCE_EVERY_S)

    fencing = threading.Thread(target=fences, name="event-time-fences", daemon=True)
    fencing.start()
    try:
        yield
    finally:
        stop.set()
        fencing.join(FENCE_EVERY_S + 5)
        producer.flush(10)


def enriched(settings: Settings, topic: str) -> dict[tuple[int, int], dict[str, Any]]:
    """Every committed record of an enriched topic by (partition, offset)."""
    return {(m.partition(), m.offset()): json.loads(m.value()) for m in read_all(settings, topic)}


def opensearch_documents(search: OpenSearch, stream: str) -> dict[str, dict[str, Any]]:
    """Every document of ``stream`` by ``_id`` (none while the data stream does not exist)."""
    try:
        search.indices.refresh(index=stream)
        return {hit["_id"]: hit["_source"] for hit in scan(search, index=stream, query={"query": {"match_all": {}}})}
    except NotFoundError:
        return {}


def postgres_rows(settings: Settings, topic: str) -> tuple[int, dict[tuple[int, int], dict[str, Any]]]:
    """How many rows the JDBC sink's table of ``topic`` holds, and each by (partition, offset)."""
    table = topic.replace(".", "_")  # collection.name.format=${topic}
    with postgres.connect(settings) as db:
        exists = db.execute("SELECT to_regclass(%s)", (f'"{table}"',)).fetchone()
        if not exists or exists[0] is None:
            return 0, {}
        cursor = db.execute(
            f'SELECT __connect_partition, __connect_offset, "@timestamp", "user", delta, station FROM "{table}"'
        )
        rows = cursor.fetchall()
    by_coordinates = {
        (int(p), int(o)): {"@timestamp": at, "user": user, "delta": delta, "station": station}
        for p, o, at, user, delta, station in rows
    }
    return len(rows), by_coordinates


def _compare(name: str, want: Counter[Tap], got: Counter[Tap]) -> list[str]:
    if want == got:
        return []
    missing, extra = want - got, got - want
    return [
        f"{name}: want {sum(want.values())}, got {sum(got.values())}; "
        f"{sum(missing.values())} missing (e.g. {list(missing)[:2]}), "
        f"{sum(extra.values())} extra (e.g. {list(extra)[:2]})"
    ]


def london_differences(settings: Settings, search: OpenSearch, expected: dict[str, Counter[Tap]]) -> list[str]:
    """What differs from exactly once: ``expected`` are the input taps by input topic; empty when every tap
    is once in its enriched topic, its data stream and its table, and nothing else is."""
    outputs = {
        settings.topic_london_entries: (settings.topic_london_station_entries, settings.opensearch_entries_stream),
        settings.topic_london_exits: (settings.topic_london_station_exits, settings.opensearch_exits_stream),
    }
    problems: list[str] = []
    for source, (topic, stream) in outputs.items():
        want = expected[source]
        committed = enriched(settings, topic)
        problems += _compare(f"{topic} (committed)", want, Counter(_tap_of(v) for v in committed.values()))
        ids = {f"{topic}-{partition}-{offset}": value for (partition, offset), value in committed.items()}
        documents = opensearch_documents(search, stream)
        if strangers := set(documents) - set(ids):
            problems.append(f"{stream}: {len(strangers)} documents of no committed record: {sorted(strangers)[:3]}")
        problems += _compare(f"{stream} (OpenSearch)", want, Counter(_tap_of(d) for d in documents.values()))
        count, rows = postgres_rows(settings, topic)
        if strangers := set(rows) - set(committed):
            problems.append(f"table {topic}: {len(strangers)} rows of no committed record: {sorted(strangers)[:3]}")
        if count != len(rows):
            problems.append(f"table {topic}: {count} rows for {len(rows)} records")
        problems += _compare(f"table {topic} (PostgreSQL)", want, Counter(_tap_of(r) for r in rows.values()))
    return problems


def until_none_differ(differences: Callable[[], list[str]], timeout_s: float, what: str) -> None:
    """Poll ``differences`` until it returns none; on timeout fail with the last ones it listed."""
    last: list[str] = []

    def none_differ() -> bool:
        last[:] = differences()
        return not last

    wait_until(none_differ, timeout_s, what, every_s=2.0, log=lambda: "\n".join(last))
