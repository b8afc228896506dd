"""Benchmark: turnstile events/s through produce → Faust exactly-once counts → summary topic.

Runs its own embedded platform (free ports, temporary state directory) and measures, on the same
pre-serialized Avro records (Confluent wire format, skewed over 150 stations):

1. plain: confluent-kafka produce → confluent-kafka consume of all records (end to end), the
   ceiling this machine and broker allow from Python;
2. faust end to end: the worker (``python -m transit_status.streams``) running, all records
   produced as fast as possible, until the committed summary (read_committed) counts every one;
3. faust sustained: records produced at fixed rates, consumer-group lag sampled each second; a rate
   is sustained if the lag does not grow. Every phase checks the final counts are exact.

    .venv/bin/python benchmarks/turnstile_throughput.py [--events 100000] [--rates 2000,4000,6000]
        [--step-seconds 15] [--profile]

``--profile`` also runs phase 2 (30,000 events) with the worker under cProfile (slower, so its rate
is not a figure) and reports where the worker's CPU time goes, by package and by function.
Results: printed, and written to benchmarks/results/turnstile_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host_platform
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from transit_status.config import PROJECT_ROOT, Settings
from transit_status.platform.ports import isolated_settings, private_topics
from transit_status.platform.supervisor import Platform
from transit_status.schemas import load_schema
from transit_status.topics import ensure_topics

RESULTS = Path(__file__).with_name("results")
STATIONS = 150
# A rate is sustained when the lag grows by less than this share of the input rate.
LAG_GROWTH_TOLERANCE = 0.05

Record = tuple[bytes, bytes]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "os": f"{host_platform.system()} {host_platform.release()}",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return host_platform.processor() or "unknown"


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
    admin.create_topics([NewTopic(topic, settings.partitions, settings.replication_factor)])[topic].result(15)
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
    producer.flush(60)
    produced_at = time.monotonic()
    consumed.wait(120)
    end = consume_end[0]
    return {
        "what": "confluent-kafka produce -> confluent-kafka consume (read_committed), concurrently, end to end",
        "events": len(records),
        "produce_events_per_s": round(len(records) / (produced_at - start)),
        "end_to_end_events_per_s": round(len(records) / (end - start)),
        "seconds": round(end - start, 2),
    }


# ---- the Faust worker ---------------------------------------------------------------------------
def bench_settings(settings: Settings, name: str) -> Settings:
    return private_topics(settings, f"bench-{name}-{uuid.uuid4().hex[:8]}")


class Worker:
    def __init__(self, settings: Settings, log_path: Path, profile_path: Path | None = None) -> None:
        command = [sys.executable]
        if profile_path is not None:
            command += ["-m", "cProfile", "-o", str(profile_path)]
        command += ["-m", "transit_status.streams"]
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env={**os.environ, **settings.as_env()}, cwd=PROJECT_ROOT, stdout=log, stderr=log
            )
        self.psutil = psutil.Process(self.process.pid)
        self.psutil.cpu_percent()

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if "Worker ready" in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.25)
        raise RuntimeError(f"worker not ready after {timeout_s} s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def lag(settings: Settings) -> int:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": settings.faust_app_id})
    try:
        topic = settings.topic_turnstiles
        partitions = [
            TopicPartition(topic, p) for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        total = 0
        for committed in consumer.committed(partitions, timeout=10):
            high = consumer.get_watermark_offsets(TopicPartition(topic, committed.partition), timeout=10)[1]
            total += high - max(committed.offset, 0)
        return total
    finally:
        consumer.close()


def summary_counts(settings: Settings) -> dict[int, int]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"bench-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    topic = settings.topic_turnstile_summary
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        counts: dict[int, int] = {}
        at_end: set[int] = set()
        while len(at_end) < len(partitions):
            for message in consumer.consume(10000, 0.5):
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    continue
                at_end.discard(message.partition())
                value = json.loads(message.value())
                counts[value["station_id"]] = value["count"]
        return counts
    finally:
        consumer.close()


def wait_counted(settings: Settings, total: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(summary_counts(settings).values()) >= total:
            return time.monotonic()
        time.sleep(0.25)
    raise RuntimeError(f"the summary did not count {total} events within {timeout_s} s")


def measure_faust_end_to_end(
    settings: Settings, ids: list[int], work_dir: Path, profile: bool
) -> tuple[dict[str, Any], Path | None]:
    settings = bench_settings(settings, "e2e")
    ensure_topics(settings)
    records = serialized_records(settings, ids, settings.topic_turnstiles)
    profile_path = work_dir / "worker.prof" if profile else None
    worker = Worker(settings, work_dir / "worker-e2e.log", profile_path)
    try:
        worker.wait_ready()
        worker.psutil.cpu_percent()
        producer = new_producer(settings)
        start = time.monotonic()
        produce(producer, settings.topic_turnstiles, records)
        producer.flush(60)
        produced_at = time.monotonic()
        end = wait_counted(settings, len(records), timeout_s=600)
        cpu = worker.psutil.cpu_percent()
        exact = summary_counts(settings) == dict(Counter(ids))
    finally:
        worker.stop()
    return {
        "what": "produce all events as fast as possible while the worker runs; until the committed summary "
        "(read_committed) counts every one",
        "events": len(records),
        "produce_events_per_s": round(len(records) / (produced_at - start)),
        "end_to_end_events_per_s": round(len(records) / (end - start)),
        "seconds": round(end - start, 2),
        "worker_cpu_percent": cpu,
        "counts_exact": exact,
        "profiled": profile,
    }, profile_path


def measure_faust_sustained(settings: Settings, rates: list[int], step_s: float, work_dir: Path) -> dict[str, Any]:
    settings = bench_settings(settings, "sustained")
    ensure_topics(settings)
    total_ids = station_ids(sum(int(rate * step_s) for rate in rates), STATIONS, seed=23)
    records = serialized_records(settings, total_ids, settings.topic_turnstiles)
    worker = Worker(settings, work_dir / "worker-sustained.log")
    steps = []
    try:
        worker.wait_ready()
        producer = new_producer(settings)
        sent = 0
        for rate in rates:
            worker.psutil.cpu_percent()
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
                    samples.append((now - step_start, lag(settings)))
                    next_sample += 1
                time.sleep(0.05)
            producer.flush(30)
            second_half = [(t, v) for t, v in samples if t >= step_s / 2]
            growth = _slope(second_half)
            steps.append(
                {
                    "rate_events_per_s": rate,
                    "lag_samples": [v for _, v in samples],
                    "max_lag": max(v for _, v in samples),
                    "lag_growth_events_per_s": round(growth),
                    "sustained": growth < LAG_GROWTH_TOLERANCE * rate,
                    "worker_cpu_percent": worker.psutil.cpu_percent(),
                }
            )
        wait_counted(settings, sent, timeout_s=600)
        exact = summary_counts(settings) == dict(Counter(total_ids[:sent]))
    finally:
        worker.stop()
    sustained = [step["rate_events_per_s"] for step in steps if step["sustained"]]
    return {
        "what": "fixed input rates, consumer-group lag sampled each second; sustained = lag not growing "
        f"(slope over each step's second half < {LAG_GROWTH_TOLERANCE:.0%} of the rate)",
        "step_seconds": step_s,
        "steps": steps,
        "max_sustained_events_per_s": max(sustained) if sustained else 0,
        "events": sent,
        "counts_exact": exact,
    }


def _slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


def profile_summary(path: Path, limit: int = 20) -> dict[str, Any]:
    """Where the worker's CPU time went: self time by package, and the top functions."""
    stats = pstats.Stats(str(path))
    entries = stats.stats.items()  # type: ignore[attr-defined]
    busy = sum(tottime for (_, _, function), (_, _, tottime, _, _) in entries if "poll" not in function)
    by_area: dict[str, float] = {}
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in entries:
        if "poll" in function:  # waiting in epoll: idle, not work
            continue
        area = _area(filename, function)
        by_area[area] = by_area.get(area, 0.0) + tottime
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({function})",
                "calls": calls,
                "self_s": round(tottime, 2),
                "cumulative_s": round(cumtime, 2),
            }
        )
    return {
        "busy_cpu_s": round(busy, 1),
        "self_time_share_by_area": {
            area: round(seconds / busy, 3) for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1])
        },
        "top_self_time": sorted(rows, key=lambda row: row["self_s"], reverse=True)[:limit],
    }


AREAS = (
    ("transit_status", "transit_status (our agents, decoding)"),
    ("faust", "faust (consumer loop, conductor, streams, tables)"),
    ("mode", "mode (faust's service/queue layer)"),
    ("aiokafka", "aiokafka (protocol, record parsing, producer)"),
    ("fastavro", "fastavro"),
    ("asyncio", "asyncio event loop, tasks, queues"),
)


def _area(filename: str, function: str) -> str:
    for marker, area in AREAS:
        if f"/{marker}/" in filename:
            return area
    if filename == "~" and ("_contextvars" in function or "select" in function or "asyncio" in function):
        return "asyncio event loop, tasks, queues"
    return "other (builtins, logging, json, ...)"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events of the end-to-end phases")
    parser.add_argument("--rates", default="2000,4000,6000", help="input rates (events/s) of the sustained phase")
    parser.add_argument("--step-seconds", type=float, default=15.0, help="seconds per sustained rate")
    parser.add_argument("--profile", action="store_true", help="profile the worker of the end-to-end phase")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",") if rate]

    results: dict[str, Any] = {"benchmark": "turnstile_throughput", "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="transit-bench-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as user postgres
        state_dir = Path(directory)
        settings = isolated_settings(state_dir)
        supervisor = Platform(settings, report=lambda line: print(line, flush=True))
        started = time.monotonic()
        supervisor.up()
        results["platform_up_s"] = round(time.monotonic() - started, 1)
        try:
            ids = station_ids(args.events, STATIONS)
            plain_records = serialized_records(settings, ids, "bench-plain")
            print("plain confluent-kafka produce -> consume ...", flush=True)
            results["plain"] = measure_plain(settings, plain_records)
            print(json.dumps(results["plain"], indent=2), flush=True)
            print("faust end to end ...", flush=True)
            results["faust_end_to_end"], _ = measure_faust_end_to_end(settings, ids, state_dir, profile=False)
            print(json.dumps(results["faust_end_to_end"], indent=2), flush=True)
            if args.profile:
                profiled_ids = ids[: min(len(ids), 30_000)]
                print(f"faust end to end under cProfile ({len(profiled_ids)} events) ...", flush=True)
                profiled, profile_path = measure_faust_end_to_end(settings, profiled_ids, state_dir, profile=True)
                if profile_path is not None and profile_path.exists():
                    profiled.update(profile_summary(profile_path))
                results["faust_profile"] = profiled
                print(json.dumps({k: v for k, v in profiled.items() if k != "top_self_time"}, indent=2), flush=True)
            print(f"faust sustained at {rates} events/s ...", flush=True)
            results["faust_sustained"] = measure_faust_sustained(settings, rates, args.step_seconds, state_dir)
            print(json.dumps(results["faust_sustained"], indent=2), flush=True)
        finally:
            supervisor.down()

    faust_rate = results["faust_end_to_end"]["end_to_end_events_per_s"]
    plain_rate = results["plain"]["end_to_end_events_per_s"]
    results["faust_vs_plain"] = round(faust_rate / plain_rate, 3)
    results["goals"] = {
        "events_per_s_at_least_20000": faust_rate >= 20_000,
        "at_least_0.3x_plain": faust_rate >= 0.3 * plain_rate,
    }
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / "turnstile_throughput.json"
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\nmachine: {results['machine']['cpus']} CPUs ({results['machine']['cpu_model']}), "
        f"{results['machine']['ram_gib']} GiB RAM\n"
        f"plain confluent-kafka produce->consume: {plain_rate} events/s\n"
        f"faust exactly-once counts, end to end: {faust_rate} events/s "
        f"({results['faust_vs_plain']}x plain; counts exact: {results['faust_end_to_end']['counts_exact']})\n"
        f"faust sustained without growing lag: {results['faust_sustained']['max_sustained_events_per_s']} events/s "
        f"(counts exact: {results['faust_sustained']['counts_exact']})\n"
        f"written to {output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
