"""What the dashboard tests share: real topics, real producers (Avro via the registry), a real server process."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.processes import ServiceProcess, running_service, wait_until
from transit_status.config import Settings
from transit_status.networks.cta import load_cta_network
from transit_status.platform.ports import free_ports, private_topics
from transit_status.schemas import load_schema
from transit_status.topics import ensure_topics
from transit_status.wallclock import now_ms


def service_alert(
    state: str, at_ms: int, alert_id: str = "gap:red:40900:a", kind: str = "gap", **fields: Any
) -> dict[str, Any]:
    """A record of the service-alerts topic (docs/ARCHITECTURE.md, "Service health"): a gap at Howard,
    unless ``fields`` say otherwise."""
    return {
        "alert_id": alert_id,
        "kind": kind,
        "state": state,
        "line": "red",
        "station_id": 40900,
        "station_name": "Howard",
        "direction": "a",
        "train_id": None,
        "since_ms": 1_000,
        "at_ms": at_ms,
        "measured_s": 800.0,
        "scheduled_s": 360.0,
        "threshold_s": 720.0,
        "reason": "no train for 13.3 min",
        **fields,
    }


def crowding_alert(**fields: Any) -> dict[str, Any]:
    """A record of London's crowding-alerts topic: Oxford Circus's quarter from 07:15 UTC open at three
    times its typical entries, unless ``fields`` say otherwise."""
    return {
        "alert_id": "crowding:Oxford Circus",
        "state": "open",
        "station": "Oxford Circus",
        "since": "2023-06-07T07:15:00Z",
        "at": "2023-06-07T07:30:00Z",
        "entries": 900,
        "typical_entries": 300.0,
        "ratio": 3.0,
        "day_type": "tuesday_thursday",
        "reason": "900 entries in the quarter from 08:15",
        **fields,
    }


@dataclass(frozen=True)
class Topics:
    """This test's own topics: ``settings`` with private topic names (``private_topics``)."""

    settings: Settings

    @classmethod
    def unique(cls, settings: Settings) -> Topics:
        return cls(private_topics(settings, f"dash-{uuid.uuid4().hex[:8]}"))

    @property
    def stations(self) -> str:
        return self.settings.topic_stations

    @property
    def arrivals(self) -> str:
        return self.settings.topic_arrivals

    @property
    def summary(self) -> str:
        return self.settings.topic_turnstile_summary

    @property
    def weather(self) -> str:
        return self.settings.topic_weather

    @property
    def dead_letters(self) -> str:
        return self.settings.topic_dead_letters

    def env(self) -> dict[str, str]:
        """The ``TRANSIT_TOPIC_*`` variables that give a dashboard these topics."""
        return {name: value for name, value in self.settings.as_env().items() if name.startswith("TRANSIT_TOPIC_")}

    def create(self, partitions: int = 2) -> None:
        """Create the topics as the pipeline does (transit_status.topics); events and summaries with ``partitions``."""
        ensure_topics(self.settings.with_overrides(partitions=partitions))


def network_stations() -> list[dict[str, Any]]:
    """Stations records as Faust writes them: one per (line, station), ``order`` along the line."""
    network = load_cta_network()
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for route in network.routes:
        next_order = sum(1 for line, _ in records if line == route.line)
        for stop in route.stops:
            key = (route.line, stop.station_id)
            if key in records:
                continue
            station = network.stations[stop.station_id]
            records[key] = {
                "station_id": stop.station_id,
                "station_name": station.name,
                "line": route.line,
                "order": next_order,
                "stops": {"a": stop.stop_id_a, "b": stop.stop_id_b},
                "latitude": station.latitude,
                "longitude": station.longitude,
            }
            next_order += 1
    return list(records.values())


class Feed:
    """Produces the dashboard's inputs like the pipeline does (JSON tables, Avro events)."""

    def __init__(self, settings: Settings, topics: Topics) -> None:
        self.topics = topics
        self.producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})
        registry = SchemaRegistryClient({"url": settings.schema_registry_url})
        self._avro = {
            name: AvroSerializer(registry, load_schema(name))
            for name in ("arrival_key", "arrival_value", "weather_key", "weather_value")
        }

    def _serialize(self, schema: str, topic: str, field: MessageField, record: dict[str, Any]) -> bytes:
        return self._avro[schema](record, SerializationContext(topic, field))  # type: ignore[return-value]

    def station(self, record: dict[str, Any]) -> None:
        key = json.dumps({"line": record["line"], "station_id": record["station_id"]})
        self.producer.produce(self.topics.stations, key=key.encode(), value=json.dumps(record).encode())

    def summary(self, station_id: int, station_name: str, count: int) -> None:
        value = {"station_id": station_id, "station_name": station_name, "count": count}
        key = json.dumps({"station_id": station_id}).encode()
        self.producer.produce(self.topics.summary, key=key, value=json.dumps(value).encode())

    def arrival(
        self,
        train_id: str,
        station_id: int,
        station_name: str,
        line: str = "red",
        direction: str = "a",
        status: str = "in_service",
        route: str = "Red",
        prev_station_id: int | None = None,
    ) -> dict[str, Any]:
        value = {
            "station_id": station_id,
            "station_name": station_name,
            "stop_id": None,
            "train_id": train_id,
            "direction": direction,
            "line": line,
            "route": route,
            "train_status": status,
            "prev_station_id": prev_station_id,
            "prev_direction": None if prev_station_id is None else direction,
            "simulated_at": now_ms(),
            "produced_at": now_ms(),
        }
        topic = self.topics.arrivals
        self.producer.produce(
            topic,
            key=self._serialize("arrival_key", topic, MessageField.KEY, {"train_id": train_id}),
            value=self._serialize("arrival_value", topic, MessageField.VALUE, value),
        )
        return value

    def weather(self, temperature: float, status: str) -> None:
        topic = self.topics.weather
        self.producer.produce(
            topic,
            key=self._serialize("weather_key", topic, MessageField.KEY, {"timestamp": now_ms()}),
            value=self._serialize(
                "weather_value", topic, MessageField.VALUE, {"temperature": temperature, "status": status}
            ),
        )

    def raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.producer.produce(topic, key=key, value=value)

    def flush(self) -> None:
        assert self.producer.flush(15) == 0, "records not delivered"


@dataclass
class Dashboard:
    service: ServiceProcess
    url: str

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self.service.process is not None
        return self.service.process

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def log(self) -> str:
        return self.service.log()


@contextmanager
def run_dashboard(
    settings: Settings, topics: Topics, log_dir: Path, port: int | None = None, **env: str
) -> Iterator[Dashboard]:
    """``transit-status serve dashboard`` as a real process (on a free port unless given), stopped with SIGTERM."""
    port = port or free_ports(1, settings.dashboard_host)[0]
    own = topics.settings.with_overrides(dashboard_port=port, dashboard_host=settings.dashboard_host)
    log_path = log_dir / f"dashboard-{port}-{uuid.uuid4().hex[:6]}.log"
    with running_service("dashboard", own, log_path, env) as service:
        dashboard = Dashboard(service, own.dashboard_url)
        service.wait_for(lambda: _serving(dashboard), 30, "serving HTTP")
        yield dashboard


def _serving(dashboard: Dashboard) -> bool:
    try:
        dashboard.get("/healthz", timeout=1.0)
        return True
    except httpx.HTTPError:
        return False


def wait_for(
    check: Callable[[], Any], timeout_s: float, what: str, dashboard: Dashboard | None = None, every_s: float = 0.2
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the dashboard's log if it never does."""
    return wait_until(check, timeout_s, what, every_s=every_s, log=dashboard.log if dashboard else None)
