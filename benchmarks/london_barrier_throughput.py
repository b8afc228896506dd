"""Benchmark: London's barrier events/s through the Flink join → OpenSearch, nothing lost (issue 8's goal: >= 10,000/s).

On the embedded platform (free ports, temporary state directory; Flink, Kafka, Connect, MariaDB and
OpenSearch included), with private topics, job name, sink group and data streams:

1. London's stations: Debezium's MariaDB connector snapshots ``tfl.stations`` into the (private)
   stations topic (keyed by nlc); the benchmark waits until it holds every row of the table.
2. The Flink SQL job (``LONDON_JOBS``: ``london_barriers.sql``) and ``transit-status serve
   opensearch-sink`` are started and waited for (job running, consumer group stable).
3. ``--events`` barrier taps in the contract's shape (docs/ARCHITECTURE.md, "London": key the station's
   name, value ``{"user", "delta": ±1}``; half entries, half exits; every station the table knows, in
   turn; event time from now on, one tap every 5 ms) are produced as fast as possible, records
   serialized beforehand. Then a trailing batch (one tap per station on each topic, all at one
   instant 10 minutes later) moves event time past every measured tap: the event-time temporal join
   emits a tap once the watermark passes it, and the trailing taps themselves stay waiting (the
   watermark stays 1 s below them), so exactly the measured taps come out.
4. Timed from the first produced tap: until ``station_entries``/``station_exits`` hold every measured
   tap (read_committed: the job's exactly-once output, committed at its checkpoints) — the Flink
   stage — and until the OpenSearch data streams hold exactly as many documents — end to end. A
   count above the expected one fails at once (a duplicate). The derived topics are followed by one
   consumer kept open; OpenSearch is asked for a plain count once a second, without forcing a refresh
   (what its own 1 s refresh made searchable: the end time is known to within about 2 s). A few
   seconds later both are counted again, and every measured tap is checked to be there once, joined
   (``known``, a location): any tap missing, duplicated, unexpected or not joined ends the run with
   exit 1 ("WRONG RESULT"), after the results are written.
   Beforehand a warm-up run of ``--warmup-events`` the same way (the first job on a fresh TaskManager
   runs on cold JVMs), reported apart.
5. Unless ``--skip-stages``: each stage alone on new private topics: the job with no sink running,
   then the sink started on the job's finished output (from its subscription, as
   london_sink_throughput.py measures). Comparing them with step 4 says which stage (or the two
   cores they share) limits the whole.

CPU seconds per platform service (and the sink, and this process: producer and counter) are recorded
over each measured interval, and while the job works, each Flink vertex's busy and back-pressured
time (REST metrics) and the job's checkpoints.

    PYTHONPATH=. .venv/bin/python benchmarks/london_barrier_throughput.py [--events 200000] [--warmup-events 50000]
        [--use-running] [--skip-stages]

``--use-running`` uses the platform the ``TRANSIT_*`` variables describe instead of starting one.
Results: printed, and written to benchmarks/results/london_barrier_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import httpx
import psutil
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from opensearchpy import OpenSearch
from tests.helpers import read_all
from tests.processes import ServiceProcess

from stack import (
    WrongResult,
    machine,
    opensearch_counts,
    require_correct,
    running_platform,
    stack_cpu_s,
    timed_until,
    write_results,
)
from transit_status.avro.wire import AvroDecoder, registry_client
from transit_status.config import Settings
from transit_status.london.opensearch_sink import data_streams
from transit_status.pipeline.connectors import ensure_london_stations_connector, london_stations_connector_name
from transit_status.pipeline.sql_jobs import LONDON_BARRIERS, cancel_job, ensure_job, wait_until_running
from transit_status.platform.ports import private_topics
from transit_status.platform.service import consumer_group_stable
from transit_status.platform.services import mariadb
from transit_status.platform.supervisor import Platform
from transit_status.topics import ensure_topics

GOAL_EVENTS_PER_S = 10_000
TAP_SPACING_MS = 5  # 200 taps per second of event time
TRAILING_AFTER = timedelta(minutes=10)
SETTLE_S = 5.0  # after the last count, how long extra records (duplicates) get to show up
OPENSEARCH_POLL_S = 1.0  # a plain count at OpenSearch's own refresh rate: the wait adds no refresh

WARMUP_FIGURES = (
    "events",
    "flink_stage_events_per_s",
    "end_to_end_events_per_s",
    "kafka_check",
    "opensearch_check",
    "problems",
)

Record = tuple[str, bytes, bytes, int]  # topic, key, value, timestamp (ms)


# ---- setup ---------------------------------------------------------------------------------------
def bench_settings(platform: Settings, name: str, **overrides: Any) -> Settings:
    suffix = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    return private_topics(platform, suffix, **overrides)


def load_stations(settings: Settings) -> list[str]:
    """MariaDB's stations → Debezium → the stations topic; the names once the topic holds every row."""
    with mariadb.connect(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM stations")
        (rows,) = cursor.fetchone()
    ensure_london_stations_connector(settings)
    names: list[str] = []
    # The rows are Avro through the registry (the default) or JSON (TRANSIT_LONDON_STATION_FORMAT=json).
    decoder = AvroDecoder(registry_client(settings))

    def row(value: bytes) -> dict[str, Any]:
        return decoder.decode(value) if value[:1] == b"\x00" else json.loads(value)

    def loaded() -> bool:
        nonlocal names
        rows_read = read_all(settings, settings.topic_london_station_rows)
        names = sorted({row(m.value())["name"] for m in rows_read if m.value() is not None})
        return len(names) >= rows

    seconds = timed_until(loaded, f"{rows} stations on {settings.topic_london_station_rows}", every_s=2.0)
    print(f"{len(names)} stations loaded through Debezium in {seconds:.1f} s", flush=True)
    return names


def drop_stations_connector(settings: Settings) -> None:
    name = london_stations_connector_name(settings)
    httpx.delete(f"{settings.connect_url}/connectors/{name}", timeout=10.0)


def start_job(settings: Settings) -> str:
    submission = ensure_job(settings, LONDON_BARRIERS)
    return wait_until_running(settings, submission.name, timeout_s=300)


def start_sink(settings: Settings, log_dir: Path) -> ServiceProcess:
    return ServiceProcess("opensearch-sink", settings, log_dir / f"opensearch-sink-{uuid.uuid4().hex[:6]}.log").start()


# ---- the taps ------------------------------------------------------------------------------------
@dataclass
class Taps:
    records: list[Record]
    trailing: list[Record]
    expected: dict[str, int]  # derived topic -> measured taps it must hold
    users: dict[str, set[str]] = field(default_factory=dict)  # derived topic -> users of its taps


def barrier_taps(settings: Settings, stations: list[str], events: int) -> Taps:
    """``events`` taps (card n enters at one station, 5 ms later exits at another) and the trailing batch."""
    start_ms = (int(time.time()) + 1) * 1000
    derived = {
        settings.topic_london_entries: settings.topic_london_station_entries,
        settings.topic_london_exits: settings.topic_london_station_exits,
    }
    users: dict[str, set[str]] = {topic: set() for topic in derived.values()}
    records: list[Record] = []
    for number in range(events):
        journey, is_entry = number // 2, number % 2 == 0
        topic = settings.topic_london_entries if is_entry else settings.topic_london_exits
        station = stations[journey % len(stations)] if is_entry else stations[(journey * 7 + 3) % len(stations)]
        card = f"{journey:012d}"
        value = json.dumps({"user": card, "delta": 1 if is_entry else -1}, separators=(",", ":")).encode()
        records.append((topic, station.encode(), value, start_ms + TAP_SPACING_MS * number))
        users[derived[topic]].add(card)
    trailing_ms = records[-1][3] + int(TRAILING_AFTER.total_seconds() * 1000)
    trailing = [
        (topic, station.encode(), json.dumps({"user": f"trailing-{n}", "delta": delta}).encode(), trailing_ms)
        for n, station in enumerate(stations)
        for topic, delta in ((settings.topic_london_entries, 1), (settings.topic_london_exits, -1))
    ]
    expected = {topic: len(cards) for topic, cards in users.items()}
    return Taps(records, trailing, expected, users)


def produce(settings: Settings, records: list[Record]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
        }
    )
    for topic, key, value, timestamp in records:
        while True:
            try:
                producer.produce(topic, value, key, timestamp=timestamp)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)
    if producer.flush(120) != 0:
        raise WrongResult("not every tap was delivered to Kafka")


# ---- counting ------------------------------------------------------------------------------------
class Background:
    """Runs ``_run`` on a daemon thread between ``start()`` and ``stop()``; ``_stop`` tells it to end."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


class DerivedFollower(Background):
    """Follows station_entries/station_exits (read_committed) from the start, counting as they commit.

    Keeps every value for the checks afterwards; decodes nothing while the clock runs.
    """

    def __init__(self, settings: Settings, expected: dict[str, int]) -> None:
        self.settings = settings
        self.expected = expected
        self.total = sum(expected.values())
        self.values: dict[str, list[bytes]] = {topic: [] for topic in expected}
        self.count = 0
        self.reached_at: float | None = None
        self.reached = threading.Event()
        super().__init__()

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "group.id": f"bench-follower-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        assignment = []
        for topic in self.expected:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        consumer.assign(assignment)
        try:
            while not self._stop.is_set():
                for message in consumer.consume(10000, 0.1):
                    if message.error():
                        continue
                    self.values[message.topic()].append(message.value())
                    self.count += 1
                if self.reached_at is None and self.count >= self.total:
                    self.reached_at = time.monotonic()
                    self.reached.set()
        finally:
            consumer.close()

    def counts(self) -> dict[str, int]:
        return {topic: len(values) for topic, values in self.values.items()}


def check_kafka(follower: DerivedFollower, taps: Taps) -> dict[str, Any]:
    """Each measured tap once in its derived topic, joined with its station (known, a location)."""
    report: dict[str, Any] = {}
    for topic, values in follower.values.items():
        events = [json.loads(value) for value in values]
        users = Counter(event["user"] for event in events)
        report[topic] = {
            "records": len(events),
            "duplicated_users": sum(1 for n in users.values() if n > 1),
            "missing_users": len(taps.users[topic] - set(users)),
            "unexpected_users": len(set(users) - taps.users[topic]),
            "not_known": sum(1 for event in events if not event["known"] or not event["location"]),
        }
    return report


def check_opensearch(client: OpenSearch, settings: Settings, taps: Taps) -> dict[str, Any]:
    """Per data stream: documents, users seen more than once or never (composite aggregation over `user`)."""
    report: dict[str, Any] = {}
    for topic, stream in data_streams(settings).items():
        client.indices.refresh(index=stream)
        seen: Counter[str] = Counter()
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": 10000, "sources": [{"user": {"terms": {"field": "user"}}}]}
            if after:
                composite["after"] = after
            body = {"size": 0, "aggs": {"users": {"composite": composite}}}
            buckets = client.search(index=stream, body=body)["aggregations"]["users"]
            for bucket in buckets["buckets"]:
                seen[bucket["key"]["user"]] = bucket["doc_count"]
            after = buckets.get("after_key")
            if not buckets["buckets"] or not after:
                break
        not_known = client.count(index=stream, body={"query": {"term": {"known": False}}})["count"]
        report[stream] = {
            "documents": int(client.count(index=stream)["count"]),
            "duplicated_users": sum(1 for n in seen.values() if n > 1),
            "missing_users": len(taps.users[topic] - set(seen)),
            "unexpected_users": len(set(seen) - taps.users[topic]),
            "not_known": int(not_known),
        }
    return report


class CpuMeter:
    """CPU seconds per platform service, the sink and this process, between ``start`` and ``read``."""

    def __init__(self, platform: Platform, sink: ServiceProcess | None = None) -> None:
        self.platform = platform
        self.sink = psutil.Process(sink.process.pid) if sink and sink.process else None
        self.me = psutil.Process()
        self.before = self._now()
        self.started = time.monotonic()

    def _now(self) -> dict[str, float]:
        cpu = stack_cpu_s(self.platform)
        for name, process in (("opensearch-sink", self.sink), ("benchmark (producer, counter)", self.me)):
            if process is not None:
                times = process.cpu_times()
                cpu[name] = times.user + times.system
        return cpu

    def read(self) -> dict[str, Any]:
        now, seconds = self._now(), time.monotonic() - self.started
        used = {name: round(now[name] - self.before.get(name, 0.0), 1) for name in now}
        used = dict(sorted(used.items(), key=lambda item: -item[1]))
        total = sum(used.values())
        return {
            "wall_s": round(seconds, 2),
            "cpu_s": used,
            "cpu_s_total": round(total, 1),
            "cores_busy": round(total / seconds, 2),
        }


class FlinkSampler(Background):
    """Every few seconds while the job works: each vertex's busy and back-pressured ms per second (Flink's
    REST metrics), to name the operator that limits the job; and its checkpoints at the end."""

    METRICS = ("busyTimeMsPerSecond", "backPressuredTimeMsPerSecond")

    def __init__(self, settings: Settings, job_id: str, every_s: float = 3.0) -> None:
        self.url = f"{settings.flink_rest_url}/jobs/{job_id}"
        self.every_s = every_s
        self.samples: dict[str, list[dict[str, float]]] = {}
        super().__init__()

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as http:
            vertices = {v["id"]: v["name"] for v in http.get(self.url).json()["vertices"]}
            while not self._stop.wait(self.every_s):
                for vertex, name in vertices.items():
                    try:
                        metrics = http.get(
                            f"{self.url}/vertices/{vertex}/subtasks/metrics", params={"get": ",".join(self.METRICS)}
                        ).json()
                    except (httpx.HTTPError, ValueError):
                        continue
                    values = {m["id"]: float(m.get("max", 0.0)) for m in metrics}
                    if values:
                        self.samples.setdefault(name, []).append(values)

    def vertices(self) -> list[dict[str, Any]]:
        """Per vertex (name shortened): mean busy and back-pressured ms/s over the samples, busiest first."""
        summary = []
        for name, samples in self.samples.items():
            mean = {metric: sum(s.get(metric, 0.0) for s in samples) / len(samples) for metric in self.METRICS}
            summary.append(
                {
                    "vertex": name[:160],
                    "busy_ms_per_s": round(mean["busyTimeMsPerSecond"]),
                    "backpressured_ms_per_s": round(mean["backPressuredTimeMsPerSecond"]),
                    "samples": len(samples),
                }
            )
        return sorted(summary, key=lambda vertex: -vertex["busy_ms_per_s"])

    def checkpoints(self) -> dict[str, Any]:
        body = httpx.get(f"{self.url}/checkpoints", timeout=10.0).json()
        duration = body.get("summary", {}).get("end_to_end_duration", {})
        failed = (body.get("latest") or {}).get("failed") or {}
        return {
            "completed": body.get("counts", {}).get("completed"),
            "failed": body.get("counts", {}).get("failed"),
            "duration_ms": {key: duration.get(key) for key in ("min", "avg", "max")},
            "latest_failure": failed.get("failure_message"),
        }


def refuse_duplicates(counts: dict[str, int], expected: dict[str, int], where: str) -> None:
    over = {topic: counts[topic] - expected[topic] for topic in expected if counts.get(topic, 0) > expected[topic]}
    if over:
        raise WrongResult(f"duplicates: {where} holds more than the measured taps: {counts} vs {expected}")


def check_problems(phase: str, checks: dict[str, dict[str, Any]]) -> list[str]:
    """What a phase's checks (check_kafka / check_opensearch reports) found wrong; empty: every tap once, joined."""
    problems = []
    for where, report in checks.items():
        wrong = {
            what: report[what]
            for what in ("duplicated_users", "missing_users", "unexpected_users", "not_known")
            if report.get(what)
        }
        if wrong:
            found = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in wrong.items())
            problems.append(f"{phase}: {where}: {found}")
    return problems


# ---- phases --------------------------------------------------------------------------------------
def start_phase(
    platform: Platform, phase: str, stations_topic: str, stations: list[str], events: int
) -> tuple[Settings, Taps, str]:
    """A phase's private topics, its taps (not yet produced) and its London job, started."""
    # The stations as Debezium wrote them (keyed by nlc), shared; each phase's job writes its own name-keyed topic.
    settings = bench_settings(platform.settings, phase, topic_london_station_rows=stations_topic)
    ensure_topics(settings)
    taps = barrier_taps(settings, stations, events)
    return settings, taps, start_job(settings)


def measure_end_to_end(
    platform: Platform, stations_topic: str, stations: list[str], events: int, log_dir: Path
) -> dict[str, Any]:
    """Job and sink running; taps produced; until Kafka's derived topics, then OpenSearch, hold them all."""
    settings, taps, job_id = start_phase(platform, "e2e", stations_topic, stations, events)
    sink = start_sink(settings, log_dir)
    client = OpenSearch(hosts=[settings.opensearch_url], timeout=60)
    try:
        sink.wait_for(lambda: consumer_group_stable(settings, settings.london_opensearch_sink_group), 180, "joined")
        follower = DerivedFollower(settings, taps.expected).start()
        sampler = FlinkSampler(settings, job_id).start()
        cpu = CpuMeter(platform, sink)
        started = time.monotonic()
        produce(settings, taps.records)
        produced_s = time.monotonic() - started
        produce(settings, taps.trailing)
        print(f"produced {events} taps in {produced_s:.1f} s ({events / produced_s:,.0f}/s)", flush=True)
        flink_cpu: dict[str, Any] = {}
        timeline: list[tuple[float, int, int]] = []  # seconds, committed in Kafka, documents in OpenSearch

        def all_indexed() -> bool:
            sink.assert_alive()
            if follower.reached.is_set() and not flink_cpu:
                flink_cpu.update(cpu.read())
                sampler.stop()
            refuse_duplicates(follower.counts(), taps.expected, "Kafka")
            counts = opensearch_counts(client, settings)
            refuse_duplicates(counts, taps.expected, "OpenSearch")
            elapsed = time.monotonic() - started
            if not timeline or elapsed - timeline[-1][0] >= 2.0:
                timeline.append((round(elapsed, 1), follower.count, sum(counts.values())))
            return counts == taps.expected

        timed_until(all_indexed, "every tap in OpenSearch", every_s=OPENSEARCH_POLL_S)
        end_to_end_s = time.monotonic() - started
        end_cpu = cpu.read()
        follower.reached.wait(60)
        assert follower.reached_at is not None
        flink_s = follower.reached_at - started
        sampler.stop()
        checkpoints = sampler.checkpoints()
        time.sleep(SETTLE_S)
        follower.stop()
        kafka_check = check_kafka(follower, taps)
        opensearch_check = check_opensearch(client, settings, taps)
    finally:
        sink.stop()
        cancel_job(settings, job_id)
    return {
        "what": "job and sink running; taps produced as fast as possible; timed from the first tap",
        "events": events,
        "produce_s": round(produced_s, 2),
        "produce_events_per_s": round(events / produced_s),
        "flink_stage_s": round(flink_s, 2),
        "flink_stage_events_per_s": round(events / flink_s),
        "end_to_end_s": round(end_to_end_s, 2),
        "end_to_end_events_per_s": round(events / end_to_end_s),
        "sink_tail_s": round(end_to_end_s - flink_s, 2),
        "cpu_until_flink_stage_done": flink_cpu,
        "cpu_until_end": end_cpu,
        "flink_vertices_while_joining": sampler.vertices(),
        "flink_checkpoints": checkpoints,
        "timeline_s_kafka_opensearch": timeline,
        "expected": taps.expected,
        "kafka_check": kafka_check,
        "opensearch_check": opensearch_check,
        "problems": check_problems(f"{events} taps", {**kafka_check, **opensearch_check}),
    }


def measure_stages_alone(
    platform: Platform, stations_topic: str, stations: list[str], events: int, log_dir: Path
) -> dict[str, Any]:
    """The job alone (no sink running), then the sink alone on the job's finished output."""
    settings, taps, job_id = start_phase(platform, "stages", stations_topic, stations, events)
    follower = DerivedFollower(settings, taps.expected).start()
    sampler = FlinkSampler(settings, job_id).start()
    try:
        cpu = CpuMeter(platform)
        started = time.monotonic()
        produce(settings, taps.records)
        produce(settings, taps.trailing)
        if not follower.reached.wait(900):
            raise WrongResult(f"the job alone produced {follower.counts()} of {taps.expected}")
        assert follower.reached_at is not None
        flink_s = follower.reached_at - started
        flink_cpu = cpu.read()
        sampler.stop()
        checkpoints = sampler.checkpoints()
        time.sleep(SETTLE_S)
        follower.stop()
        refuse_duplicates(follower.counts(), taps.expected, "Kafka (job alone)")
    finally:
        cancel_job(settings, job_id)
    print(f"job alone: {events} taps in {flink_s:.1f} s ({events / flink_s:,.0f}/s)", flush=True)

    client = OpenSearch(hosts=[settings.opensearch_url], timeout=60)
    sink = start_sink(settings, log_dir)
    try:
        sink.wait_for(lambda: "indexing {" in sink.log(), 120, "subscribed")
        cpu = CpuMeter(platform, sink)

        def all_indexed() -> bool:
            sink.assert_alive()
            counts = opensearch_counts(client, settings)
            refuse_duplicates(counts, taps.expected, "OpenSearch (sink alone)")
            return counts == taps.expected

        sink_s = timed_until(all_indexed, "every tap in OpenSearch (sink alone)", every_s=OPENSEARCH_POLL_S)
        sink_cpu = cpu.read()
        time.sleep(SETTLE_S)
        final = opensearch_counts(client, settings, refresh=True)
        refuse_duplicates(final, taps.expected, "OpenSearch (sink alone)")
        if final != taps.expected:
            raise WrongResult(f"OpenSearch (sink alone) holds {final}, not the measured taps {taps.expected}")
    finally:
        sink.stop()
    print(f"sink alone: {events} taps in {sink_s:.1f} s ({events / sink_s:,.0f}/s)", flush=True)
    return {
        "what": "each stage alone: the job with no sink running (first tap -> all committed in the derived "
        "topics), then the sink on that output (subscribed -> all in OpenSearch)",
        "flink_alone_s": round(flink_s, 2),
        "flink_alone_events_per_s": round(events / flink_s),
        "flink_alone_cpu": flink_cpu,
        "flink_alone_vertices": sampler.vertices(),
        "flink_alone_checkpoints": checkpoints,
        "sink_alone_s": round(sink_s, 2),
        "sink_alone_events_per_s": round(events / sink_s),
        "sink_alone_cpu": sink_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="measured taps (half entries, half exits)")
    parser.add_argument("--warmup-events", type=int, default=50_000, help="taps of the warm-up run (0: none)")
    parser.add_argument("--use-running", action="store_true")
    parser.add_argument("--skip-stages", action="store_true", help="skip measuring each stage alone")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "london_barrier_throughput", "machine": machine()}
    platform_up = running_platform("london-barriers-bench-", args.use_running)
    with platform_up as platform, tempfile.TemporaryDirectory() as logs:
        stations_settings = bench_settings(platform.settings, "stations")
        ensure_topics(stations_settings)
        try:
            stations = load_stations(stations_settings)
            stations_topic = stations_settings.topic_london_station_rows
            if args.warmup_events:
                # The first job on a fresh TaskManager runs on a cold JVM (interpreted, not yet compiled):
                # a short run first, reported apart, so the measured runs see the steady state.
                print(f"warm-up (cold JVMs): {args.warmup_events} taps end to end ...", flush=True)
                warmup = measure_end_to_end(platform, stations_topic, stations, args.warmup_events, Path(logs))
                result["warmup_cold"] = {key: warmup[key] for key in WARMUP_FIGURES}
                print(json.dumps(result["warmup_cold"]), flush=True)
            print(f"end to end: {args.events} taps ...", flush=True)
            result["end_to_end"] = measure_end_to_end(platform, stations_topic, stations, args.events, Path(logs))
            print(json.dumps(result["end_to_end"], indent=2), flush=True)
            if not args.skip_stages:
                print("each stage alone ...", flush=True)
                result["stages_alone"] = measure_stages_alone(
                    platform, stations_topic, stations, args.events, Path(logs)
                )
                print(json.dumps(result["stages_alone"], indent=2), flush=True)
        finally:
            drop_stations_connector(stations_settings)
    end_to_end = result["end_to_end"]
    result["goal_events_per_s"] = GOAL_EVENTS_PER_S
    result["goal_met"] = end_to_end["end_to_end_events_per_s"] >= GOAL_EVENTS_PER_S
    problems = [*result.get("warmup_cold", {}).get("problems", []), *end_to_end["problems"]]
    result["correct"] = not problems
    output = write_results("london_barrier_throughput", result)
    facts = result["machine"]
    stages = result.get("stages_alone")
    print(
        f"\nmachine: {facts['cpus']} CPUs ({facts['cpu_model']}), {facts['ram_gib']} GiB RAM, "
        f"load {facts['load_average_at_start']} at start, {facts['load_average_at_end']} at end; "
        f"commit {facts['commit']}\n"
        f"end to end (taps -> Flink join -> OpenSearch): {end_to_end['end_to_end_events_per_s']:,} events/s "
        f"({end_to_end['events']:,} in {end_to_end['end_to_end_s']} s; goal {GOAL_EVENTS_PER_S:,}/s "
        f"{'met' if result['goal_met'] else 'MISSED'})\n"
        f"  Flink stage within it: {end_to_end['flink_stage_events_per_s']:,} events/s; "
        f"sink's tail {end_to_end['sink_tail_s']} s; cores busy {end_to_end['cpu_until_end']['cores_busy']}\n"
        + (
            f"  alone: Flink {stages['flink_alone_events_per_s']:,} events/s, "
            f"sink {stages['sink_alone_events_per_s']:,} events/s\n"
            if stages
            else ""
        )
        + f"written to {output}"
    )
    require_correct(problems)


if __name__ == "__main__":
    main()
