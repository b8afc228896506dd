"""Run the REST proxy: ``python -m transit_status.platform.rest_proxy`` (settings from ``TRANSIT_*``)."""

from __future__ import annotations

import logging
import signal
import sys
import time
from types import FrameType

import uvicorn
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from transit_status.config import Settings, load_settings
from transit_status.platform.rest_proxy.app import create_app
from transit_status.platform.rest_proxy.schemas import make_registry_client

log = logging.getLogger("transit_status.platform.rest_proxy")

# The supervisor starts us after Kafka and the registry, but give them a moment in case they are still
# finishing their own start-up.
DEPENDENCY_WAIT_S = 30.0  # the supervisor starts us alongside the registry, not after it
HINT = "Start the platform first: transit-status platform up"


class DependencyUnavailable(RuntimeError):
    pass


def _check_kafka(settings: Settings) -> None:
    # log_level 2: librdkafka's own connection errors would only repeat what we report below.
    admin = AdminClient(
        {"bootstrap.servers": settings.bootstrap_servers, "client.id": "transit-status-rest-proxy", "log_level": 2}
    )
    try:
        admin.list_topics(timeout=3)
    except KafkaException as exc:
        reason = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
        raise DependencyUnavailable(f"cannot reach Kafka at {settings.bootstrap_servers}: {reason}") from None


def _check_registry(settings: Settings) -> None:
    client = make_registry_client(settings)
    try:
        client.get_subjects()
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise DependencyUnavailable(
            f"cannot reach the schema registry at {settings.schema_registry_url}: {reason}"
        ) from None


def wait_for_dependencies(settings: Settings, wait_s: float = DEPENDENCY_WAIT_S) -> None:
    """Return once Kafka and the schema registry answer; raise DependencyUnavailable after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            _check_kafka(settings)
            _check_registry(settings)
            return
        except DependencyUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def _exit_on_stop_signal(signum: int, _frame: FrameType | None) -> None:
    # Before uvicorn runs (dependency wait) a stop signal ends us at once. While it runs, uvicorn's own
    # handlers shut down gracefully; afterwards it re-raises the signal to the handler found before it
    # started -- this one -- so a requested stop ends with exit code 0 rather than "killed by SIGTERM".
    log.info("rest-proxy: stopped (%s)", signal.Signals(signum).name)
    raise SystemExit(0)


def main() -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per registry call is noise
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _exit_on_stop_signal)
    settings = load_settings()
    try:
        wait_for_dependencies(settings)
    except DependencyUnavailable as exc:
        log.error("rest-proxy cannot start: %s. %s", exc, HINT)
        return 1
    # uvicorn handles SIGINT/SIGTERM: it stops accepting requests, finishes the ones in flight and runs
    # the app's shutdown, which flushes the producer.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.rest_proxy_port,
        log_config=None,
        access_log=True,
        timeout_graceful_shutdown=int(settings.stop_timeout_s),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
