"""What each service of the embedded platform is: how to prepare it, start it and tell it is ready."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from transit_status.config import Settings
from transit_status.platform import jvm, postgres
from transit_status.platform.errors import PlatformError

# librdkafka reports every refused connection while the broker is starting; readiness polling
# expects those, so they go to a logger nobody listens to.
_quiet_kafka_logger = logging.getLogger("transit_status.platform.readiness.librdkafka")
_quiet_kafka_logger.addHandler(logging.NullHandler())
_quiet_kafka_logger.propagate = False


@dataclass(frozen=True)
class Launch:
    """A prepared command line for one service."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen_kwargs: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    after: tuple[str, ...]
    prepare: Callable[[], Launch]
    is_ready: Callable[[], bool]
    on_ready: Callable[[], str | None] = lambda: None
    stop_signal: int = signal.SIGTERM
    extra_ports: tuple[int, ...] = ()
    is_healthy: Callable[[], bool] | None = None
    """What ``status`` checks once the service is up; the readiness check unless given."""

    def healthy(self) -> bool:
        return (self.is_healthy or self.is_ready)()

    def log_file(self, settings: Settings) -> Path:
        return settings.logs_dir / f"{self.name}.log"


def kafka_is_ready(settings: Settings) -> bool:
    admin = AdminClient(
        {"bootstrap.servers": settings.bootstrap_servers, "logger": _quiet_kafka_logger, "socket.timeout.ms": 1000}
    )
    try:
        metadata = admin.list_topics(timeout=1.0)
    except Exception:
        return False
    return bool(metadata.brokers)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def postgres_is_ready(settings: Settings) -> bool:
    try:
        with postgres.connect(settings, dbname="postgres") as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def stations_loaded(settings: Settings) -> bool:
    try:
        with postgres.connect(settings) as conn:
            (count,) = conn.execute("SELECT count(*) FROM stations").fetchone()  # type: ignore[misc]
        return count > 0
    except Exception:
        return False


def python_service(module: str, settings: Settings) -> Launch:
    # -u: unbuffered, so the log file shows progress as it happens.
    return Launch(command=[sys.executable, "-u", "-m", module], env=settings.as_env())


def service_specs(settings: Settings) -> list[ServiceSpec]:
    """Every service, in start order; ``after`` names what must be ready first."""

    def prepare_postgres() -> Launch:
        binaries = postgres.PostgresBinaries.find()
        run_as = postgres.RunAs.for_current_process()
        postgres.initialise_cluster(settings, binaries, run_as)
        return Launch(command=postgres.server_command(settings, binaries), popen_kwargs=run_as.popen_kwargs())

    def load_stations() -> str:
        try:
            return f"{postgres.load_stations(settings)} stops in table stations"
        except psycopg.Error as error:
            raise PlatformError(f"loading the stations table into PostgreSQL failed: {error}") from error

    def prepare_kafka() -> Launch:
        return Launch(command=jvm.broker_command(settings, jvm.prepare_broker(settings)))

    def prepare_connect() -> Launch:
        return Launch(command=jvm.connect_command(settings, jvm.prepare_connect(settings)))

    return [
        ServiceSpec(
            name="postgres",
            port=settings.postgres_port,
            after=(),
            prepare=prepare_postgres,
            is_ready=lambda: postgres_is_ready(settings),
            on_ready=load_stations,
            is_healthy=lambda: stations_loaded(settings),
            # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
            stop_signal=signal.SIGINT,
        ),
        ServiceSpec(
            name="kafka",
            port=settings.kafka_port,
            extra_ports=(settings.kafka_controller_port,),
            after=(),
            prepare=prepare_kafka,
            is_ready=lambda: kafka_is_ready(settings),
        ),
        ServiceSpec(
            name="schema-registry",
            port=settings.schema_registry_port,
            after=("kafka",),
            prepare=lambda: python_service("transit_status.platform.schema_registry", settings),
            is_ready=lambda: http_ok(f"{settings.schema_registry_url}/subjects"),
        ),
        ServiceSpec(
            name="connect",
            port=settings.connect_port,
            after=("kafka",),  # PostgreSQL is needed only once a connector is registered
            prepare=prepare_connect,
            is_ready=lambda: http_ok(f"{settings.connect_url}/connectors"),
        ),
        ServiceSpec(
            name="rest-proxy",
            port=settings.rest_proxy_port,
            # It waits for the registry itself, so both start as soon as Kafka is ready.
            after=("kafka",),
            prepare=lambda: python_service("transit_status.platform.rest_proxy", settings),
            is_ready=lambda: http_ok(f"{settings.rest_proxy_url}/topics"),
        ),
    ]


def http_responds(url: str) -> bool:
    """The server answers at all (a 503 'still loading' counts: it is up and saying so)."""
    try:
        httpx.get(url, timeout=1.0)
        return True
    except httpx.HTTPError:
        return False


def consumer_group_stable(settings: Settings, group: str) -> bool:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "logger": _quiet_kafka_logger})
    try:
        description = admin.describe_consumer_groups([group], request_timeout=2)[group].result()
    except Exception:
        return False
    return description.state == ConsumerGroupState.STABLE and bool(description.members)


def pipeline_specs(settings: Settings) -> list[ServiceSpec]:
    """The CTA pipeline on top of the platform: Faust workers, the dashboard, the simulation."""

    def prepare_streams() -> Launch:
        # Topics and the stations connector exist before anything reads or writes them.
        from transit_status.platform.connect import ensure_stations_connector
        from transit_status.topics import ensure_topics

        ensure_topics(settings)
        ensure_stations_connector(settings)
        return python_service("transit_status.streams", settings)

    return [
        ServiceSpec(
            name="streams",
            port=0,
            # The connector registered in prepare_streams reads PostgreSQL's stations table.
            after=("kafka", "schema-registry", "connect", "postgres"),
            prepare=prepare_streams,
            is_ready=lambda: consumer_group_stable(settings, settings.faust_app_id),
        ),
        ServiceSpec(
            name="dashboard",
            port=settings.dashboard_port,
            after=("kafka", "schema-registry"),
            prepare=lambda: python_service("transit_status.dashboard", settings),
            is_ready=lambda: http_responds(f"{settings.dashboard_url}/healthz"),
        ),
        ServiceSpec(
            name="simulation",
            port=0,
            after=("streams", "dashboard", "rest-proxy"),
            prepare=lambda: python_service("transit_status.producers", settings),
            is_ready=lambda: True,
        ),
    ]
