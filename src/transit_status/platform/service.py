"""What a supervised service is (``ServiceSpec``): how to prepare it, start it, tell it is ready and stop it.

Each platform service is one module in ``platform/services/``; the pipeline's processes are in
``transit_status.pipeline``. The readiness checks they share are here.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from transit_status.config import Settings

# librdkafka reports every refused connection while the broker is starting; readiness polling
# expects those, so they go to a logger nobody listens to.
quiet_kafka_logger = logging.getLogger("transit_status.platform.readiness.librdkafka")
quiet_kafka_logger.addHandler(logging.NullHandler())
quiet_kafka_logger.propagate = False


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
    needs: tuple[str, ...] = ()
    """Services that must run beside this one, without being waited for first (unlike ``after``):
    what ``run`` starts for a network follows ``after`` and ``needs``."""
    uses: tuple[str, ...] = ()
    """Services it talks to while it runs, if they run (Connect: whichever databases are there): like
    ``after`` and ``needs``, they are stopped only once it has stopped (``down`` stops in parallel)."""
    host: str | None = None
    """The address it listens on, when not the platform's ``settings.host`` (the dashboard's own)."""
    preflight: Callable[[], None] | None = None
    """Raises a ``PlatformError`` when the settings cannot work with the state directory as it is (a
    three-broker start on a one-broker Kafka's data); ``up`` asks every service before starting any."""

    def healthy(self) -> bool:
        return (self.is_healthy or self.is_ready)()

    def log_file(self, settings: Settings) -> Path:
        return settings.logs_dir / f"{self.name}.log"


def with_dependencies(specs: Sequence[ServiceSpec], roots: Iterable[str]) -> list[ServiceSpec]:
    """``roots`` and every service they depend on (``after`` and ``needs``, transitively), in the
    order of ``specs``: what must run for ``roots`` to work, and nothing else."""
    by_name = {spec.name: spec for spec in specs}
    needed: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        if name not in by_name:
            raise ValueError(f"unknown service {name!r} (known: {', '.join(by_name)})")
        needed.add(name)
        pending += [*by_name[name].after, *by_name[name].needs]
    return [spec for spec in specs if spec.name in needed]


def registered_brokers(settings: Settings) -> set[int] | None:
    """The node ids of the brokers the cluster lists as alive, or None when no broker answers."""
    admin = AdminClient(settings.kafka_client_config(logger=quiet_kafka_logger, **{"socket.timeout.ms": 1000}))
    try:
        metadata = admin.list_topics(timeout=1.0)
    except Exception:
        return None
    return set(metadata.brokers)


def kafka_is_ready(settings: Settings) -> bool:
    return bool(registered_brokers(settings))


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def python_service(name: str, settings: Settings) -> Launch:
    """``transit-status serve <name>`` in this interpreter, with ``settings`` as ``TRANSIT_*`` variables."""
    # -u: unbuffered, so the log file shows progress as it happens.
    return Launch(command=[sys.executable, "-u", "-m", "transit_status", "serve", name], env=settings.as_env())


def http_responds(url: str) -> bool:
    """The server answers at all (a 503 'still loading' counts: it is up and saying so)."""
    try:
        httpx.get(url, timeout=1.0)
        return True
    except httpx.HTTPError:
        return False


def consumer_group_stable(settings: Settings, group: str) -> bool:
    admin = AdminClient(settings.kafka_client_config(logger=quiet_kafka_logger))
    try:
        description = admin.describe_consumer_groups([group], request_timeout=2)[group].result()
    except Exception:
        return False
    return description.state == ConsumerGroupState.STABLE and bool(description.members)


def python_http_service(
    name: str, serve_as: str, port: int, ready_url: str, settings: Settings, needs: tuple[str, ...] = ()
) -> ServiceSpec:
    """One of this project's Python HTTP services on the platform; ready when ``ready_url`` answers 200.

    They only need Kafka to start: each waits for anything else it ``needs`` itself.
    """
    return ServiceSpec(
        name=name,
        port=port,
        after=settings.kafka_services,
        prepare=lambda: python_service(serve_as, settings),
        is_ready=lambda: http_ok(ready_url),
        needs=needs,
    )
