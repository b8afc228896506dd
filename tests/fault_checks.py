"""What the fault tests check after a kill, from the producers' side and the work's: shared by the
test of every service killed in turn (test_fault_recovery.py) and the cluster's (test_cluster_faults.py)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import end_offsets, producer_runs, read_all
from tests.london_checks import Tap
from tests.streams.support import latest_json_by_key
from transit_status.config import Settings
from transit_status.pipeline.connectors import STATIONS_CONNECTOR, london_stations_connector_name
from transit_status.pipeline.sql_jobs import ACTIVE_STATES, PIPELINE_JOBS, cluster_jobs
from transit_status.platform.supervisor import Platform


@dataclass
class SupervisedStack:
    settings: Settings
    platform: Platform
    pipeline: tuple[str, ...]
    reports: list[str] = field(default_factory=list)

    def api(self, path: str) -> object:
        response = httpx.get(f"{self.settings.dashboard_url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()

    def healthy(self, name: str) -> bool:
        spec = next(spec for spec in self.platform.specs if spec.name == name)
        return name in self.platform.running() and spec.healthy()


def turnstile_entries_by_station(settings: Settings) -> Counter[str]:
    """Entries per station as the turnstile topic holds them: what the broker acknowledged."""
    decode = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    context = SerializationContext(settings.topic_turnstiles, MessageField.VALUE)
    return Counter(str(decode(m.value(), context)["station_id"]) for m in read_all(settings, settings.topic_turnstiles))


def summary_counts(settings: Settings) -> Counter[str]:
    latest = latest_json_by_key(settings, settings.topic_turnstile_summary)
    return Counter({str(value["station_id"]): value["count"] for value in latest.values() if value})


def summary_diagnosis(settings: Settings, expected: Counter[str]) -> str:
    """What a failed wait for the summary needs to tell its cause apart: the TaskManager's errors about
    the summary's transactions, each Flink job's state and checkpoints, turnstile records
    dead-lettered, whether an open transaction holds read_committed readers back (last stable offset
    below the end), and last (the wait shows only the tail) which counts differ."""
    # What the TaskManager logged as an error or warning about this stack's summary (its transactions).
    taskmanager_log = settings.logs_dir / "flink-taskmanager.log"
    errors = [
        line[:300]
        for line in taskmanager_log.read_text(errors="replace").splitlines()
        if (" ERROR " in line or " WARN " in line) and settings.topic_turnstile_summary in line
    ]
    lines = [f"taskmanager errors and warnings naming the summary: {len(errors)}, the last ones:", *errors[-5:]]
    try:
        for job in cluster_jobs(settings):
            if job["state"] in ("CANCELED", "FINISHED"):  # earlier tests' jobs
                continue
            base = f"{settings.flink_rest_url}/jobs/{job['jid']}"
            checkpoints = httpx.get(f"{base}/checkpoints", timeout=10).json()
            completed = ((checkpoints.get("latest") or {}).get("completed") or {}).get("latest_ack_timestamp", 0)
            ago = f"{time.time() - completed / 1000:.0f} s ago" if completed else "never"
            root = httpx.get(f"{base}/exceptions", timeout=10).json().get("rootException") or ""
            lines.append(
                f"flink job {job['name']}: {job['state']}, checkpoints {checkpoints.get('counts', {})}, "
                f"last completed {ago}, last exception: {root[:300]}"
            )
    except httpx.HTTPError as error:
        lines.append(f"could not ask Flink: {error}")
    letters_headers = (dict(message.headers() or []) for message in read_all(settings, settings.topic_dead_letters))
    dead = Counter(
        headers.get("dlq.error", b"?").decode(errors="replace")[:120]
        for headers in letters_headers
        if headers.get("dlq.topic") == settings.topic_turnstiles.encode()
    )
    lines.append(f"turnstile records dead-lettered: {sum(dead.values())} {dict(dead.most_common(3))}")
    try:
        for isolation in ("read_uncommitted", "read_committed"):  # the high, then the last stable offsets
            ends = end_offsets(settings, settings.topic_turnstile_summary, isolation)
            lines.append(f"summary's end offsets, {isolation}: {sorted(ends.items())}")
    except KafkaException as error:
        lines.append(f"could not read the summary's offsets: {error}")
    actual = summary_counts(settings)
    differ = sorted(station for station in expected.keys() | actual.keys() if expected[station] != actual[station])
    lines.append(
        f"{len(differ)} stations differ; produced {sum(expected.values())}, counted {sum(actual.values())}; "
        + ", ".join(f"{station}: want {expected[station]}, got {actual[station]}" for station in differ[:10])
    )
    return "\n".join(lines)


def train_positions(stack: SupervisedStack) -> object:
    try:
        return stack.api("/api/trains")
    except (httpx.HTTPError, ValueError):
        return None


def jobs_not_running(settings: Settings) -> list[str]:
    """This stack's SQL jobs that are not RUNNING, once each (Flink REST /jobs/overview)."""
    try:
        jobs = cluster_jobs(settings)
    except httpx.HTTPError as error:
        return [f"flink: {error!r}"]
    problems = []
    for job in PIPELINE_JOBS:
        name = job.job_name(settings)
        states = [j["state"] for j in jobs if j["name"] == name and j["state"] in ACTIVE_STATES]
        if states != ["RUNNING"]:
            problems.append(f"flink job {name}: {states or 'none active'}")
    return problems


def connectors_not_running(settings: Settings) -> list[str]:
    """This stack's connectors whose connector or a task is not RUNNING (Connect /connectors?expand=status)."""
    names = (STATIONS_CONNECTOR, london_stations_connector_name(settings), settings.london_postgres_sink_connector)
    try:
        response = httpx.get(f"{settings.connect_url}/connectors", params={"expand": "status"}, timeout=10)
        statuses = response.json()
    except (httpx.HTTPError, ValueError) as error:
        return [f"connect: {error!r}"]
    problems = []
    for name in names:
        status = statuses.get(name, {}).get("status", {})
        states = [status.get("connector", {}).get("state")] + [task.get("state") for task in status.get("tasks", [])]
        if len(states) < 2 or set(states) != {"RUNNING"}:
            problems.append(f"connector {name}: {states}")
    return problems


def london_station_differences(stack: SupervisedStack, taps: dict[str, Counter[Tap]]) -> list[str]:
    """Where the London page's (entries, exits) per station differ from the taps in Kafka."""
    entries = Counter(tap.station for tap in taps[stack.settings.topic_london_entries].elements())
    exits = Counter(tap.station for tap in taps[stack.settings.topic_london_exits].elements())
    want = {station: (entries[station], exits[station]) for station in entries.keys() | exits.keys()}
    try:
        rows: Any = stack.api("/api/london/stations")
        got = {row["station"]: (row["entries"], row["exits"]) for row in rows}
    except (httpx.HTTPError, ValueError) as error:
        return [repr(error)]
    differ = sorted(name for name in got.keys() | want.keys() if got.get(name) != want.get(name))
    return [f"{name}: page {got.get(name)}, taps {want.get(name)}" for name in differ]


def final_simulation_counts(settings: Settings) -> dict[str, Any]:
    """The simulation's counts after its one run stopped cleanly: no Kafka record failed or in flight.

    A weather reading the REST Proxy cannot take within about a second is dropped and counted as
    failed, by design (an hourly reading must not stop the trains): an outage may cost one, never a
    Kafka record.
    """
    runs = producer_runs(settings, "simulate")
    assert len(runs) == 1 and runs[0]["final"], f"the simulation's counts: {runs}"
    (run,) = runs
    kafka_failed = {topic: n for topic, n in run["failed"].items() if topic != settings.topic_weather}
    assert kafka_failed == {} and run["in_flight"] == 0, f"the simulation's deliveries failed: {run}"
    return run
