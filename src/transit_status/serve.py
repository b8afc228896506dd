"""How every transit-status process starts and stops: ``transit-status serve <service>``.

The supervisor starts each long-running Python process of the platform and the pipeline as
``python -m transit_status serve <name>``. One function, :func:`run_service`, owns what they all
need: logging to stdout (the supervisor's log file), settings errors as one line, SIGINT/SIGTERM
as a graceful stop with exit code 0, uvicorn for the HTTP services, and user-facing errors without
a traceback. A service only says how it builds its app or runs its loop (:data:`SERVICES`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from transit_status.config import Settings, load_settings, url_host
from transit_status.errors import TransitError, describe_validation_error

log = logging.getLogger("transit_status.serve")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_SETTINGS = 2


@dataclass(frozen=True)
class HttpService:
    """An ASGI app served by uvicorn; ``app`` opens what the app needs and closes it afterwards."""

    app: Callable[[Settings], AbstractContextManager[Any]]
    port: Callable[[Settings], int]
    access_log: bool = False
    # The platform's address unless the service has its own: only the dashboard is meant for browsers.
    host: Callable[[Settings], str] = lambda settings: settings.host
    # "h11" for the services Java clients call: Java's HttpClient offers `Upgrade: h2c` on a POST, and
    # uvicorn's httptools parser then drops the request's body (uvicorn issue 2722); h11 ignores the
    # offer and reads the body, as RFC 9110 allows.
    http: Literal["auto", "h11"] = "auto"


@dataclass(frozen=True)
class LoopService:
    """A blocking loop that returns soon after ``stop`` is set (a signal arrived)."""

    run: Callable[[Settings, threading.Event], None]


@dataclass(frozen=True)
class ForegroundService:
    """A process that handles its own signals (Faust's worker); returns its exit code."""

    run: Callable[[Settings], int]


Service = HttpService | LoopService | ForegroundService


def _registry() -> dict[str, Callable[[], Service]]:
    # Imported on demand: each process loads only its own service (Faust alone takes a second).
    def registry() -> Service:
        from transit_status.platform.schema_registry.server import serving_registry

        return HttpService(serving_registry, lambda settings: settings.schema_registry_port, http="h11")

    def rest_proxy() -> Service:
        from transit_status.platform.rest_proxy.server import serving_rest_proxy

        return HttpService(serving_rest_proxy, lambda settings: settings.rest_proxy_port, access_log=True, http="h11")

    def dashboard() -> Service:
        from transit_status.dashboard.app import create_app
        from transit_status.dashboard.waiting import dashboard_app

        def app(settings: Settings) -> AbstractContextManager[Any]:
            def build() -> Any:
                return create_app(settings, inspect_work=_WorkInspector(settings))

            # Another agency's network may not be saved by the feed yet: served as degraded until it is.
            return contextlib.nullcontext(dashboard_app(settings, build))

        return HttpService(app, lambda s: s.dashboard_port, host=lambda s: s.dashboard_host)

    def streams() -> Service:
        from transit_status.streams.worker import run_worker

        return ForegroundService(run_worker)

    def simulate() -> Service:
        from transit_status.producers.runner import run_simulation

        return LoopService(run_simulation)

    def feed() -> Service:
        from transit_status.feeds.runner import run_feed

        def run(settings: Settings, stop: threading.Event) -> None:
            run_feed(settings, stop)
            if not stop.is_set():
                # A replay that has played its last poll: idle, not exit, or the supervisor would restart
                # it and the same arrivals would be produced again.
                log.info("the replay has ended; its health stays in %s until the process is stopped",
                         settings.feed_health_file)  # fmt: skip
                stop.wait()

        return LoopService(run)

    def barriers() -> Service:
        from transit_status.london.producer import run_barriers

        return LoopService(run_barriers)

    def opensearch_sink() -> Service:
        from transit_status.london.opensearch_sink import run_opensearch_sink

        return LoopService(run_opensearch_sink)

    def watchdog() -> Service:
        from transit_status.pipeline.watchdog import run_watchdog

        return LoopService(run_watchdog)

    return {
        "registry": registry,
        "rest-proxy": rest_proxy,
        "dashboard": dashboard,
        "streams": streams,
        "simulate": simulate,
        "feed": feed,
        "barriers": barriers,
        "opensearch-sink": opensearch_sink,
        "watchdog": watchdog,
    }


SERVICES = _registry()


class _WorkInspector:
    """The pipeline's work as the dashboard's /healthz shows it: one progress tracker and one group
    reader, kept between inspections (the dashboard sits below the pipeline layer: wired here)."""

    def __init__(self, settings: Settings) -> None:
        from transit_status.pipeline.work import GroupReader, ProgressTracker

        self.settings = settings
        self.tracker = ProgressTracker(stall_after_s=settings.watchdog_stall_after_s)  # the watchdog's rule
        self.reader = GroupReader(settings)

    def inspect(self) -> list[Any]:
        from transit_status.pipeline.work import inspect_work

        return list(inspect_work(self.settings, self.tracker, self.reader))

    def close(self) -> None:
        self.reader.close()


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(stream=sys.stdout, level=level.upper(), format=LOG_FORMAT, force=True)
    # One line per registry or REST call is noise in a service's log, and so is opensearch-py's
    # traceback for each refused request: the services report an unreachable OpenSearch themselves.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("opensearch").setLevel(logging.ERROR)


class RedactingFormatter(logging.Formatter):
    """A formatter that hides the settings' secrets in every line, tracebacks included: a client's
    error may quote what it was given (a connector's config, a DSN)."""

    def __init__(self, inner: logging.Formatter, settings: Settings) -> None:
        super().__init__()
        self.inner = inner
        self.settings = settings

    def format(self, record: logging.LogRecord) -> str:
        return self.settings.redact(self.inner.format(record))


def redact_logs(settings: Settings) -> None:
    """From now on, no log line of this process shows a secret of ``settings``."""
    for handler in logging.getLogger().handlers:
        inner = handler.formatter or logging.Formatter(LOG_FORMAT)
        if not isinstance(inner, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(inner, settings))


@contextlib.contextmanager
def _stop_event() -> Iterator[threading.Event]:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _interrupted_by_stop_signals() -> Iterator[None]:
    """SIGINT/SIGTERM raise KeyboardInterrupt: a stop while an app is still being built (waiting for
    Kafka or the registry) ends at once, and its resources are closed on the way out."""

    def interrupt(signum: int, _frame: object) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve_http(service: HttpService, settings: Settings, name: str) -> int:
    import uvicorn

    with _interrupted_by_stop_signals(), service.app(settings) as app:
        config = uvicorn.Config(
            app,
            host=service.host(settings),
            port=service.port(settings),
            log_config=None,  # keep the logging configured above
            access_log=service.access_log,
            http=service.http,
            timeout_graceful_shutdown=max(1, int(settings.service_stop_grace_s)),
            ws_ping_interval=20,
            ws_ping_timeout=20,
            ws_per_message_deflate=False,  # the dashboard sends one encoded frame to all: no per-socket deflate
        )
        server = uvicorn.Server(config)
        log.info("%s serving http://%s:%d", name, url_host(service.host(settings)), service.port(settings))
        # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler found
        # before it started: ours, whose KeyboardInterrupt run_service turns into exit code 0.
        server.run()
        return 0 if server.started else 1


def run_service(name: str, settings: Settings | None = None, log_level: str = "info") -> int:
    """Run service ``name`` until SIGINT/SIGTERM; returns the process exit code.

    ``settings`` default to ``TRANSIT_*`` variables, which is how the supervisor passes them on.
    """
    configure_logging(log_level)
    # A child may inherit blocked signals from a parent that was mid-spawn: a stop must always reach us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))
    if settings is None:
        try:
            settings = load_settings()
        except ValidationError as invalid:
            log.error("invalid settings: %s", describe_validation_error(invalid))
            return EXIT_SETTINGS
    redact_logs(settings)
    service = SERVICES[name]()
    try:
        if isinstance(service, HttpService):
            return _serve_http(service, settings, name)
        if isinstance(service, ForegroundService):
            return service.run(settings)
        with _stop_event() as stop:
            service.run(settings, stop)
        return 0
    except TransitError as problem:
        log.error("%s cannot run: %s", name, problem)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        log.info("%s stopped", name)
