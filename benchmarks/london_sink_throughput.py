"""Benchmark: London's enriched events/s from Kafka into OpenSearch (and PostgreSQL), nothing lost.

Produces ``--events`` records in the contract's shape (docs/ARCHITECTURE.md, "London"; 60 % entries,
40 % exits) to private ``station_entries``/``station_exits`` topics, then measures:

1. OpenSearch: ``transit-status serve opensearch-sink`` started on that backlog, timed from its
   subscription to the moment both data streams hold exactly what was produced (no loss, no
   duplicate); its CPU time and peak RSS;
2. PostgreSQL: the Debezium JDBC sink registered on the same backlog, timed until both tables hold
   exactly as many rows.

The join before them (Flink SQL) is not part of this measure (london_barrier_throughput.py measures
taps → join → OpenSearch); this is the sinks' share of it. OpenSearch is asked for a plain count once a
second, without forcing a refresh; a few seconds after the counts matched, they are taken again after
one refresh: any document missing or duplicated ends the run with exit 1 ("WRONG RESULT").

    PYTHONPATH=. .venv/bin/python benchmarks/london_sink_throughput.py [--events 200000] [--use-running]

``--use-running`` uses the platform the ``TRANSIT_*`` variables describe instead of starting one.
Results: printed, and written to benchmarks/results/london_sink_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Producer
from opensearchpy import OpenSearch
from tests.london.sink_records import START, STATIONS, station_event
from tests.pipeline.test_london_postgres_sink import rows
from tests.processes import ServiceProcess

from stack import WrongResult, machine, opensearch_counts, running_platform, timed_until, write_results
from transit_status.config import Settings
from transit_status.pipeline.connectors import ensure_london_postgres_sink_connector
from transit_status.platform.ports import private_topics
from transit_status.topics import ensure_topics, london_derived_topics

OPENSEARCH_POLL_S = 1.0  # a plain count at OpenSearch's own refresh rate: the wait adds no refresh
SETTLE_S = 5.0  # after the counts matched, how long a duplicate gets to show up


def produce_backlog(settings: Settings, events: int) -> dict[str, int]:
    ensure_topics(settings, london_derived_topics(settings))
    producer = Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "compression.type": "lz4", "acks": "all"}
    )
    counts = {settings.topic_london_station_entries: 0, settings.topic_london_station_exits: 0}
    names = list(STATIONS)
    for number in range(events):
        is_entry = number % 5 < 3
        topic = settings.topic_london_station_entries if is_entry else settings.topic_london_station_exits
        station = names[number % len(names)]
        moment = START + timedelta(milliseconds=5 * number)  # 200 events per second of event time
        event = station_event(moment, f"card-{number}", 1 if is_entry else -1, station)
        while True:
            try:
                producer.produce(topic, key=station.encode(), value=json.dumps(event).encode())
                break
            except BufferError:
                producer.poll(0.1)
        counts[topic] += 1
        producer.poll(0)
    if producer.flush(60) != 0:
        raise WrongResult("not every event was delivered to Kafka")
    return counts


def measure_opensearch(settings: Settings, expected: dict[str, int], log_dir: Path) -> dict[str, Any]:
    client = OpenSearch(hosts=[settings.opensearch_url], timeout=60)
    sink = ServiceProcess("opensearch-sink", settings, log_dir / "opensearch-sink.log").start()
    assert sink.process is not None
    process = psutil.Process(sink.process.pid)
    peak_rss = 0

    def subscribed() -> bool:
        sink.assert_alive()
        return "indexing {" in sink.log()

    def all_indexed() -> bool:
        nonlocal peak_rss
        sink.assert_alive()
        peak_rss = max(peak_rss, process.memory_info().rss)
        return opensearch_counts(client, settings) == expected

    startup_s = timed_until(subscribed, "the sink to subscribe", every_s=0.1)
    seconds = timed_until(all_indexed, "every document", every_s=OPENSEARCH_POLL_S)
    cpu = process.cpu_times()
    time.sleep(SETTLE_S)
    indexed = opensearch_counts(client, settings, refresh=True)
    sink.stop()
    if indexed != expected:
        raise WrongResult(f"OpenSearch holds {indexed} documents, {expected} were produced")
    total = sum(expected.values())
    return {
        "startup_s": round(startup_s, 2),
        "seconds": round(seconds, 2),
        "events_per_s": round(total / seconds),
        "sink_cpu_s": round(cpu.user + cpu.system, 1),
        "sink_peak_rss_mib": round(peak_rss / 2**20),
        "indexed": indexed,
    }


def measure_postgres(settings: Settings, expected: dict[str, int]) -> dict[str, Any]:
    started = time.monotonic()
    ensure_london_postgres_sink_connector(settings)
    timed_until(lambda: {topic: rows(settings, topic) for topic in expected} == expected, "every row", every_s=1.0)
    seconds = time.monotonic() - started  # from registering: the connector's start is part of it
    time.sleep(SETTLE_S)
    stored = {topic: rows(settings, topic) for topic in expected}
    if stored != expected:
        raise WrongResult(f"PostgreSQL holds {stored} rows, {expected} were produced")
    return {"seconds": round(seconds, 2), "events_per_s": round(sum(expected.values()) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="enriched events in the backlog")
    parser.add_argument("--use-running", action="store_true")
    args = parser.parse_args()
    facts = machine()
    with running_platform("london-sinks-bench-", args.use_running) as platform, tempfile.TemporaryDirectory() as logs:
        suffix = f"bench-{uuid.uuid4().hex[:8]}"
        settings = private_topics(
            platform.settings,
            suffix,
            london_opensearch_sink_group=f"opensearch-sink-{suffix}",
            london_postgres_sink_connector=f"london-postgres-sink-{suffix}",
        )
        started = time.monotonic()
        expected = produce_backlog(settings, args.events)
        produce_s = time.monotonic() - started
        print(f"produced {args.events} events in {produce_s:.1f} s ({args.events / produce_s:,.0f}/s)", flush=True)
        opensearch = measure_opensearch(settings, expected, Path(logs))
        print(f"OpenSearch: {opensearch}", flush=True)
        postgres = measure_postgres(settings, expected)
        print(f"PostgreSQL: {postgres}", flush=True)
    result = {
        "benchmark": "london_sink_throughput",
        "machine": facts,
        "events": args.events,
        "produce_events_per_s": round(args.events / produce_s),
        "opensearch": opensearch,
        "postgres": postgres,
    }
    write_results("london_sink_throughput", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
