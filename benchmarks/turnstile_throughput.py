"""Benchmark: turnstile events/s through produce → Flink SQL (exactly-once counts) → summary topic.

Runs its own embedded platform (free ports, temporary state directory; Flink included) and measures,
on the same pre-serialized Avro records (Confluent wire format, skewed over 150 stations):

1. plain: confluent-kafka produce → confluent-kafka consume of all records (end to end), the
   ceiling this machine and broker allow from Python;
2. flink end to end: the turnstile-summary job (src/transit_status/sql/) running, all records
   produced as fast as possible, until the committed summary (read_committed) counts every one
   (after a warm-up run of ``--warmup-events`` the same way, reported apart: the first job on a
   fresh TaskManager runs on cold JVMs);
3. flink sustained: records produced at fixed rates; the lag (produced - counted in the committed
   summary) sampled each second; a rate is sustained if the lag does not grow (it holds about one
   checkpoint interval of records: exactly-once output appears per checkpoint);
4. the dead-letter path's cost: the same end-to-end run with Flink's own avro-confluent format
   (which fails the job on a bad record) instead of raw bytes + CONFLUENT_AVRO_DECODE.

The committed summary is followed by one read_committed consumer kept open per phase (read as it is
committed, never reread). Every phase checks the final counts are exact, a few seconds after they
reached the total (a duplicate would show then); a count that is not exact, or records the plain
consumer never received, end the run with exit 1 ("WRONG RESULT"). RSS and CPU of the Flink
processes are recorded, with the machine (cores, RAM, load average at start and end, commit).

    .venv/bin/python benchmarks/turnstile_throughput.py [--events 300000] [--warmup-events 100000]
        [--rates 10000,20000,30000]
        [--step-seconds 20] [--skip-format-comparison]

Results: printed, and written to benchmarks/results/turnstile_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stack import WrongResult, machine, require_correct, write_results
from transit_status.config import Settings
from transit_status.pipeline.sql_jobs import (
    TURNSTILE_SUMMARY,
    GatewaySession,
    cancel_job,
    ensure_job,
    render,
    split_statements,
    sql_text,
    wait_until_running,
)
from transit_status.platform.ports import isolated_settings, private_topics
from transit_status.platform.supervisor import Platform
from transit_status.schemas import load_schema
from transit_status.topics import ensure_topics

FLINK_SERVICES = ("flink-jobmanager", "flink-taskmanager", "sql-gateway")

STATIONS = 150
SETTLE_S = 6.0  # after the total is reached: three checkpoints, for a late duplicate to be committed
# A rate is sustained when the lag grows by less than this share of the input rate.
LAG_GROWTH_TOLERANCE = 0.05

Record = tuple[bytes, bytes]


# ---- records ------------------------------------------------------------------------------------
def station_ids(count: int, stations: int, seed: int = 11) -> list[int]:
    rng = random.Random(seed)
    ids = [40000 + 10 * i for i in range(stations)]
    return rng.choices(ids, [1 / (rank + 1) for rank in range(stations)], k=count)


def serialized_records(settings: Settings, ids: list[int], topic: str) -> list[Record]:
    """Confluent-Avro bytes per event; serialized once per station (the payloads repeat)."""
    registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    key_serializer = AvroSerializer(registry, load_schema("turnstile_key"))
    value_serializer = AvroSerializer(registry, load_schema("turnstile_value"))
    now_ms = int(time.time() * 1000)
    by_station: dict[int, Record] = {}
    for station_id in set(ids):
        value = {
            "station_id": station_id,
            "station_name": f"Station {station_id}",
            "line": "red",
            "simulated_at": now_ms,
            "produced_at": now_ms,
        }
        by_station[station_id] = (
            key_serializer({"station_id": station_id}, SerializationContext(topic, MessageField.KEY)),
            value_serializer(value, SerializationContext(topic, MessageField.VALUE)),
        )  # type: ignore[assignment]
    return [by_station[station_id] for station_id in ids]


def new_producer(settings: Settings) -> Producer:
    return Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
        }
    )


def produce(producer: Producer, topic: str, records: list[Record]) -> None:
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)


# ---- plain confluent-kafka ------------------------------------------------------------------------
def measure_plain(settings: Settings, records: list[Record]) -> dict[str, Any]:
    topic = f"bench-plain-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    admin.create_topics([NewTopic(topic, settings.partitions, settings.topic_replicas)])[topic].result(15)
    consumed = threading.Event()
    consume_end: list[float] = []

    def consume_all() -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": f"bench-plain-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        metadata = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions])
        seen = 0
        while seen < len(records):
            for message in consumer.consume(10000, 0.5):
                if not message.error():
                    seen += 1
        consume_end.append(time.monotonic())
        consumer.close()
        consumed.set()

    reader = threading.Thread(target=consume_all, daemon=True)
    reader.start()
    time.sleep(2)  # the reader is assigned and polling
    producer = new_producer(settings)
    start = time.monotonic()
    produce(producer, topic, records)
    if producer.flush(60) != 0:
        raise WrongResult("plain run: not every record was delivered to Kafka")
    produced_at = time.monotonic()
    if not consumed.wait(120):
        raise WrongResult(f"plain run: the consumer did not receive all {len(records)} records within 120 s")
    end = consume_end[0]
    return {
        "what": "confluent-kafka produce -> confluent-kafka consume (read_committed), concurrently, end to end",
        "events": len(records),
        "produce_events_per_s": round(len(records) / (produced_at - start)),
        "end_to_end_events_per_s": round(len(records) / (end - start)),
        "seconds": round(end - start, 2),
    }


# ---- Flink ----------------------------------------------------------------------------------------
def bench_settings(settings: Settings, name: str) -> Settings:
    return private_topics(settings, f"bench-{name}-{uuid.uuid4().hex[:8]}")


class FlinkProcesses:
    """CPU and RSS of the JobManager, TaskManager and SQL Gateway (the JVMs the supervisor started)."""

    def __init__(self, supervisor: Platform) -> None:
        running = supervisor.running()
        # Every TaskManager (`--taskmanagers 2` adds flink-taskmanager-2).
        names = [name for name in running if name in FLINK_SERVICES or name.startswith("flink-taskmanager")]
        self.processes = {name: psutil.Process(running[name].pid) for name in names}
        self.start_cpu()

    def start_cpu(self) -> None:
        for process in self.processes.values():
            process.cpu_percent()

    def cpu_percent(self) -> dict[str, float]:
        return {name: process.cpu_percent() for name, process in self.processes.items()}

    def rss_mib(self) -> dict[str, int]:
        return {name: round(process.memory_info().rss / 2**20) for name, process in self.processes.items()}


class SummaryFollower:
    """Follows the committed summary (read_committed) with one consumer kept open, from the beginning.

    The summary holds the latest count per station; the follower keeps that map and its total, so a
    wait or a lag sample is a lookup, not a reread of the topic (which would load the broker it measures).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counts: dict[int, int] = {}
        self.total = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "group.id": f"bench-follower-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        topic = self.settings.topic_turnstile_summary
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            while not self._stop.is_set():
                messages = [m for m in consumer.consume(10000, 0.2) if not m.error() and m.value() is not None]
                if not messages:
                    continue
                with self._lock:
                    for message in messages:
                        value = json.loads(message.value())
                        station = value["station_id"]
                        self.total += value["count"] - self.counts.get(station, 0)
                        self.counts[station] = value["count"]
                    self._changed.notify_all()
        finally:
            consumer.close()

    def wait_for_total(self, total: int, timeout_s: float) -> float:
        """The moment (monotonic) the committed counts first sum to ``total``; WrongResult after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.total < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WrongResult(f"the summary counted {self.total} of {total} events within {timeout_s:.0f} s")
                self._changed.wait(min(left, 1.0))
            return time.monotonic()

    def snapshot(self) -> dict[int, int]:
        with self._lock:
            return dict(self.counts)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def count_problems(expected: Counter[int], counted: dict[int, int], what: str) -> list[str]:
    """How the committed counts differ from the events produced per station (empty: exact)."""
    wrong = {station: (counted.get(station, 0), n) for station, n in expected.items() if counted.get(station, 0) != n}
    wrong |= {station: (n, 0) for station, n in counted.items() if station not in expected}
    if not wrong:
        return []
    over = sum(max(0, got - want) for got, want in wrong.values())
    under = sum(max(0, want - got) for got, want in wrong.values())
    shown = list(wrong.items())[:3]
    examples = ", ".join(f"{station}: {got} counted, {want} produced" for station, (got, want) in shown)
    return [f"{what}: {len(wrong)} stations' counts wrong ({over} too many, {under} missing; {examples})"]


# The same count with Flink's avro-confluent format: no dead letters (a bad record fails the job).
AVRO_FORMAT_JOB = """
CREATE TABLE bench_entries_avro (
  station_id INT,
  station_name STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${topic_turnstiles}',
  'properties.bootstrap.servers' = '${bootstrap_servers}',
  'scan.startup.mode' = 'earliest-offset',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = '${schema_registry_url}'
);
SET 'table.exec.mini-batch.enabled' = 'true';
SET 'table.exec.mini-batch.allow-latency' = '500 ms';
SET 'table.exec.mini-batch.size' = '5000';
INSERT INTO turnstile_summary
SELECT station_id, LAST_VALUE(station_name), COUNT(*) FROM bench_entries_avro GROUP BY station_id;
"""


def submit_avro_format_job(settings: Settings) -> str:
    name = f"{settings.sql_job_prefix}.avro-format"
    statements = split_statements(render(sql_text("tables.sql"), settings))
    statements += split_statements(render(AVRO_FORMAT_JOB, settings))
    job_id = ""
    with GatewaySession(settings, {"pipeline.name": name}) as session:
        for statement in statements:
            rows = session.execute(statement)
            if statement.upper().startswith("INSERT") and rows:
                job_id = str(rows[0][0])
    wait_until_running(settings, name, timeout_s=180)
    return job_id


def measure_flink_end_to_end(
    settings: Settings, ids: list[int], flink: FlinkProcesses, avro_format: bool = False
) -> dict[str, Any]:
    settings = bench_settings(settings, "avro" if avro_format else "e2e")
    ensure_topics(settings)
    records = serialized_records(settings, ids, settings.topic_turnstiles)
    if avro_format:
        job_id = submit_avro_format_job(settings)
    else:
        job_id = ensure_job(settings, TURNSTILE_SUMMARY).job_id
        wait_until_running(settings, TURNSTILE_SUMMARY.job_name(settings), timeout_s=180)
    follower = SummaryFollower(settings)
    try:
        flink.start_cpu()
        producer = new_producer(settings)
        start = time.monotonic()
        produce(producer, settings.topic_turnstiles, records)
        if producer.flush(60) != 0:
            raise WrongResult("not every event was delivered to Kafka")
        produced_at = time.monotonic()
        end = follower.wait_for_total(len(records), timeout_s=900)
        cpu = flink.cpu_percent()
        time.sleep(SETTLE_S)  # a duplicate committed after the total was reached shows up here
        phase = "avro-confluent run" if avro_format else "end to end"
        problems = count_problems(Counter(ids), follower.snapshot(), phase)
        rss = flink.rss_mib()
    finally:
        follower.stop()
        cancel_job(settings, job_id)
    return {
        "what": "produce all events as fast as possible while the job runs; until the committed summary "
        "(read_committed) counts every one"
        + (" — Flink's avro-confluent format, no dead letters" if avro_format else ""),
        "events": len(records),
        "produce_events_per_s": round(len(records) / (produced_at - start)),
        "end_to_end_events_per_s": round(len(records) / (end - start)),
        "seconds": round(end - start, 2),
        "flink_cpu_percent": cpu,
        "flink_rss_mib": rss,
        "counts_exact": not problems,
        "problems": problems,
    }


def measure_flink_sustained(
    settings: Settings, rates: list[int], step_s: float, flink: FlinkProcesses
) -> dict[str, Any]:
    settings = bench_settings(settings, "sustained")
    ensure_topics(settings)
    total_ids = station_ids(sum(int(rate * step_s) for rate in rates), STATIONS, seed=23)
    records = serialized_records(settings, total_ids, settings.topic_turnstiles)
    job_id = ensure_job(settings, TURNSTILE_SUMMARY).job_id
    wait_until_running(settings, TURNSTILE_SUMMARY.job_name(settings), timeout_s=180)
    steps = []
    sent = 0
    follower = SummaryFollower(settings)
    try:
        producer = new_producer(settings)
        for rate in rates:
            flink.start_cpu()
            samples: list[tuple[float, int]] = []
            step_start = time.monotonic()
            next_sample = step_start + 1
            step_sent = 0
            while (now := time.monotonic()) - step_start < step_s:
                due = min(int(rate * (now - step_start)) - step_sent, len(records) - sent)
                if due > 0:
                    produce(producer, settings.topic_turnstiles, records[sent : sent + due])
                    sent += due
                    step_sent += due
                if now >= next_sample:
                    samples.append((now - step_start, max(0, sent - follower.total)))
                    next_sample += 1
                time.sleep(0.01)
            producer.flush(30)
            second_half = [(t, v) for t, v in samples if t >= step_s / 2]
            growth = _slope(second_half)
            steps.append(
                {
                    "rate_events_per_s": rate,
                    "achieved_input_events_per_s": round(step_sent / step_s),
                    "lag_samples": [v for _, v in samples],
                    "max_lag": max(v for _, v in samples),
                    "lag_growth_events_per_s": round(growth),
                    "sustained": growth < LAG_GROWTH_TOLERANCE * rate and step_sent >= 0.95 * rate * step_s,
                    "flink_cpu_percent": flink.cpu_percent(),
                }
            )
            print(json.dumps(steps[-1]), flush=True)
        if producer.flush(60) != 0:
            raise WrongResult("not every event was delivered to Kafka")
        follower.wait_for_total(sent, timeout_s=900)
        time.sleep(SETTLE_S)
        problems = count_problems(Counter(total_ids[:sent]), follower.snapshot(), "sustained")
    finally:
        follower.stop()
        cancel_job(settings, job_id)
    sustained = [step["rate_events_per_s"] for step in steps if step["sustained"]]
    return {
        "what": "fixed input rates; lag = produced - counted in the committed summary, sampled each second; "
        f"sustained = lag not growing (slope over each step's second half < {LAG_GROWTH_TOLERANCE:.0%} of the rate)",
        "step_seconds": step_s,
        "steps": steps,
        "max_sustained_events_per_s": max(sustained) if sustained else 0,
        "events": sent,
        "counts_exact": not problems,
        "problems": problems,
    }


def _slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000, help="events of the end-to-end phases")
    parser.add_argument(
        "--warmup-events", type=int, default=100_000, help="events of a first Flink run on cold JVMs (0: none)"
    )
    parser.add_argument("--rates", default="10000,20000,30000", help="input rates (events/s) of the sustained phase")
    parser.add_argument("--step-seconds", type=float, default=20.0, help="seconds per sustained rate")
    parser.add_argument("--skip-format-comparison", action="store_true", help="skip the avro-confluent format run")
    parser.add_argument("--parallelism", type=int, default=None, help="Flink parallelism [default: the setting's]")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",") if rate]

    results: dict[str, Any] = {"benchmark": "turnstile_throughput", "machine": machine()}
    results["flink_parallelism"] = args.parallelism
    with tempfile.TemporaryDirectory(prefix="transit-bench-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as user postgres
        state_dir = Path(directory)
        settings = isolated_settings(state_dir, flink_parallelism=args.parallelism)
        supervisor = Platform(settings, report=lambda line: print(line, flush=True))
        started = time.monotonic()
        supervisor.up()
        results["platform_up_s"] = round(time.monotonic() - started, 1)
        try:
            flink = FlinkProcesses(supervisor)
            results["flink_rss_mib_idle"] = flink.rss_mib()
            ids = station_ids(args.events, STATIONS)
            plain_records = serialized_records(settings, ids, "bench-plain")
            print("plain confluent-kafka produce -> consume ...", flush=True)
            results["plain"] = measure_plain(settings, plain_records)
            print(json.dumps(results["plain"], indent=2), flush=True)
            if args.warmup_events:
                # The first job on a fresh TaskManager runs on cold JVMs (interpreted, not yet compiled): a
                # run first, reported apart, so the two measured runs compare like with like.
                print(f"flink warm-up (cold JVMs): {args.warmup_events} events ...", flush=True)
                warmup = measure_flink_end_to_end(settings, station_ids(args.warmup_events, STATIONS, seed=5), flink)
                results["flink_warmup_cold"] = {
                    key: warmup[key] for key in ("events", "end_to_end_events_per_s", "counts_exact", "problems")
                }
                print(json.dumps(results["flink_warmup_cold"]), flush=True)
            print("flink end to end ...", flush=True)
            results["flink_end_to_end"] = measure_flink_end_to_end(settings, ids, flink)
            print(json.dumps(results["flink_end_to_end"], indent=2), flush=True)
            if not args.skip_format_comparison:
                print("flink end to end with the avro-confluent format (no dead letters) ...", flush=True)
                results["flink_avro_format"] = measure_flink_end_to_end(settings, ids, flink, avro_format=True)
                print(json.dumps(results["flink_avro_format"], indent=2), flush=True)
            print(f"flink sustained at {rates} events/s ...", flush=True)
            results["flink_sustained"] = measure_flink_sustained(settings, rates, args.step_seconds, flink)
            print(json.dumps(results["flink_sustained"], indent=2), flush=True)
            results["flink_rss_mib_after"] = flink.rss_mib()
        finally:
            supervisor.down()

    flink_rate = results["flink_end_to_end"]["end_to_end_events_per_s"]
    plain_rate = results["plain"]["end_to_end_events_per_s"]
    results["flink_vs_plain"] = round(flink_rate / plain_rate, 3)
    results["goals"] = {
        "events_per_s_at_least_20000": flink_rate >= 20_000,
        "at_least_0.3x_plain": flink_rate >= 0.3 * plain_rate,
        "sustained_at_least_20000": results["flink_sustained"]["max_sustained_events_per_s"] >= 20_000,
    }
    problems = [
        problem
        for phase in ("flink_warmup_cold", "flink_end_to_end", "flink_avro_format", "flink_sustained")
        for problem in results.get(phase, {}).get("problems", [])
    ]
    results["correct"] = not problems
    output = write_results("turnstile_throughput", results)
    avro = results.get("flink_avro_format")
    print(
        f"\nmachine: {results['machine']['cpus']} CPUs ({results['machine']['cpu_model']}), "
        f"{results['machine']['ram_gib']} GiB RAM, load at start {results['machine']['load_average_at_start']}, "
        f"at end {results['machine']['load_average_at_end']}; commit {results['machine']['commit']}\n"
        f"plain confluent-kafka produce->consume: {plain_rate} events/s\n"
        f"flink exactly-once counts, end to end: {flink_rate} events/s "
        f"({results['flink_vs_plain']}x plain; counts exact: {results['flink_end_to_end']['counts_exact']})\n"
        + (f"flink with avro-confluent (no dead letters): {avro['end_to_end_events_per_s']} events/s\n" if avro else "")
        + f"flink sustained without growing lag: {results['flink_sustained']['max_sustained_events_per_s']} events/s "
        f"(counts exact: {results['flink_sustained']['counts_exact']})\n"
        f"flink RSS MiB: {results['flink_rss_mib_after']}\n"
        f"written to {output}"
    )
    require_correct(problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
