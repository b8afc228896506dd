"""The dashboard's HTTP side: the page, the JSON API, /healthz, /metrics and the /ws push channel.

``create_app(settings)`` wires the pure states (``cta/state.py``, ``london/state.py``), the hub
(``hub.py``) and the Kafka consumer thread (``consumer.py``); the consumer starts and stops with the
app's lifespan.

WebSocket protocol (server -> browser, one JSON object per text frame; fan-out: ``hub.py``):
* ``{"type": "snapshot", "seq", "stations", "trains", "turnstiles", "weather"}`` first, and again
  when the browser asks (``{"type": "resync"}``, rate-limited) or fell too far behind;
* ``{"type": "updates", "pushed_at", "updates": [...]}`` at most once a tick, each update with its
  ``seq`` (a browser skips those its snapshot had): ``train`` (``train``: the train with
  ``produced_at``, ``x``/``y``), ``station``, ``station_removed``, ``turnstile`` (``station_id``,
  ``count``; null = removed) and ``weather``;
* ``{"type": "status", "server_time", "ok", "health"}`` once a second (feeds, freshness, Kafka).

London (``/london``, its own hub and socket ``/ws/london``, the same fan-out): a ``snapshot``
(``seq``, ``stations``, ``lines``, ``busiest``, ``series``), then ``updates`` of types ``activity``
(a station's entries/exits/inside, ``known``; null = removed), ``line``, ``busiest`` (the newest
15-minute window's top stations) and ``series`` (OpenSearch's histograms and the crowding against a
typical day, refreshed every few seconds by the server), and the same ``status`` frames (London's
feeds under ``health.london``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from transit_status.config import Settings, normalise_origin, url_host
from transit_status.dashboard.consumer import DashboardConsumer, LondonConsumer
from transit_status.dashboard.cta.map import load_network_map
from transit_status.dashboard.cta.state import TOPIC_ROLES, DashboardState, TrainMoved, Update
from transit_status.dashboard.health import Clock, LondonInputs, health_report, london_health, not_running, runs
from transit_status.dashboard.hub import Client, LiveHub
from transit_status.dashboard.london.map import LondonMap
from transit_status.dashboard.london.series import REFRESH_S, LondonSeries
from transit_status.dashboard.london.state import LondonState, SeriesRefreshed
from transit_status.dashboard.memory import MemoryReleaser
from transit_status.dashboard.state import Received
from transit_status.dashboard.work_monitor import WorkInspector, WorkMonitor
from transit_status.networks import load_network
from transit_status.networks.london import NETWORK_NAME as LONDON
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATUS_EVERY_S = 1.0
SECURITY_HEADERS = {
    # Everything is local; no inline script, so injected markup could not run even if it got in.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class London:
    """The London page's parts: its map, live state and fan-out, Kafka consumer and OpenSearch series.

    When London does not run (``run --network cta``) there is no consumer and OpenSearch is never asked:
    the page is served and says London is not running.
    """

    def __init__(self, settings: Settings, start_consumer: bool) -> None:
        network = load_network(settings.with_overrides(network=LONDON))
        self.running = runs(settings, "london")
        self.not_running = not_running("London", settings)
        self.map = LondonMap.of(network, settings.london_barrier_scale, settings.simulation_speed)
        self.state = LondonState()
        self.hub: LiveHub[LondonState] = LiveHub(self.state)
        self.consumer = (
            LondonConsumer(settings, self.hub.apply, network.line_ids) if start_consumer and self.running else None
        )
        self.series = LondonSeries(settings, self.map)
        self._map_json: dict[str, dict[str, Any]] = {}

    def map_json(self) -> dict[str, Any]:
        """The map with today's typical-day counts (built once per day type)."""
        day_type = self.map.day_type(datetime.now(UTC))
        if day_type not in self._map_json:
            self._map_json[day_type] = self.map.as_json(day_type)
        return self._map_json[day_type]

    def inputs(self) -> LondonInputs:
        status = self.consumer.status() if self.consumer is not None else None
        return LondonInputs(status, self.hub.read(lambda s: s.freshness()), self.series.status())

    async def refresh_series(self) -> None:
        """Query OpenSearch every few seconds and push the result to the London pages."""
        while True:
            series = await self.series.refresh()
            if series is not None:
                self.hub.apply([Received("opensearch", SeriesRefreshed(series), None, now_ms())])
            await asyncio.sleep(REFRESH_S)


def create_app(
    settings: Settings, *, start_consumer: bool = True, inspect_work: WorkInspector | None = None
) -> FastAPI:
    """The dashboard app; with ``start_consumer=False`` it serves state fed by the caller (tests).

    ``inspect_work`` (``pipeline.work.inspect_work`` for these settings, from ``serve.py``) puts
    the pipeline's jobs, connectors and groups into /healthz, refreshed in the background.
    """
    started_ms = now_ms()  # the start grace of every feed runs from here
    network_map = load_network_map(settings)
    state = DashboardState(network_map.line_order, network_map)
    hub = LiveHub(state)
    consumer = (
        DashboardConsumer(settings, hub.apply, network_map.line_order)
        if start_consumer and runs(settings, "cta")
        else None
    )
    london = London(settings, start_consumer)
    work = WorkMonitor(inspect_work) if inspect_work is not None and start_consumer else None
    metrics = _Metrics(hub, consumer)
    hub.on_updates.append(metrics.observe)
    map_json = network_map.as_json()

    def health() -> tuple[int, dict[str, Any]]:
        status = consumer.status() if consumer is not None else None
        freshness = hub.read(lambda s: s.freshness())
        clock = Clock.of(settings, started_ms, now_ms())
        snapshot = work.snapshot() if work is not None else None
        return health_report(settings, status, freshness, len(hub.clients), clock, london.inputs(), snapshot)

    def london_section() -> dict[str, Any]:
        return london_health(settings, london.inputs(), Clock.of(settings, started_ms, now_ms()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.loop = london.hub.loop = asyncio.get_running_loop()
        _broadcast_status(health, hub, london.hub)  # so the first clients get one at once
        tasks = [asyncio.create_task(_push_status(health, hub, london.hub))]
        # Only the networks that run are consumed (and London's charts queried): settings.run_networks.
        if consumer is not None:
            consumer.start()
        if london.consumer is not None:
            london.consumer.start()
            tasks.append(asyncio.create_task(london.refresh_series()))
        if work is not None:
            work.start()
        log.info("dashboard serving on http://%s:%s", url_host(settings.dashboard_host), settings.dashboard_port)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            hub.loop = london.hub.loop = None
            for running in (consumer, london.consumer, work):
                if running is not None:
                    await run_in_threadpool(running.stop)

    app = FastAPI(title="transit-status dashboard", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings
    app.state.hub = hub
    app.state.consumer = consumer
    app.state.network_map = network_map
    app.state.london = london
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    async def index(network: str | None = None) -> FileResponse | RedirectResponse:
        if network in ("london", LONDON):
            return RedirectResponse("/london", status_code=302)
        return _page("index.html")

    @app.get("/london", include_in_schema=False)
    async def london_page() -> FileResponse:
        return _page("london.html")

    @app.get("/api/state")
    async def api_state() -> dict[str, Any]:
        snapshot = hub.read(lambda s: {**s.snapshot(), "table": s.status_rows()})
        _, body = health()
        return {**snapshot, "generated_at": now_ms(), "freshness": body["topics"], "health": body}

    @app.get("/api/table")
    async def api_table() -> list[dict[str, Any]]:
        return hub.read(lambda s: s.status_rows())

    @app.get("/api/trains")
    async def api_trains() -> list[dict[str, Any]]:
        return hub.read(lambda s: s.trains_json())

    @app.get("/api/stations")
    async def api_stations() -> dict[str, Any]:
        return {"lines": hub.read(lambda s: s.stations_json())}

    @app.get("/api/turnstiles")
    async def api_turnstiles() -> dict[str, int]:
        return {str(k): v for k, v in hub.read(lambda s: s.turnstiles()).items()}

    @app.get("/api/weather")
    async def api_weather() -> dict[str, Any]:
        weather = hub.read(lambda s: s.weather())
        if weather is None:
            return {"available": False, "detail": f"waiting for data on {settings.topic_weather}"}
        return {"available": True, **weather}

    @app.get("/api/freshness")
    async def api_freshness() -> dict[str, Any]:
        return health()[1]["topics"]

    @app.get("/api/map")
    async def api_map() -> dict[str, Any]:
        return map_json

    @app.get("/api/london/map")
    async def api_london_map() -> dict[str, Any]:
        return london.map_json()

    @app.get("/api/london/state")
    async def api_london_state() -> dict[str, Any]:
        snapshot = london.hub.read(lambda s: s.snapshot())
        return {**snapshot, "generated_at": now_ms(), "health": london_section()}

    @app.get("/api/london/stations")
    async def api_london_stations() -> list[dict[str, Any]]:
        return london.hub.read(lambda s: [asdict(activity) for activity in s.stations()])

    @app.get("/api/london/unknown")
    async def api_london_unknown() -> list[dict[str, Any]]:
        """Stations barrier events came from that the stations table does not know."""
        return london.hub.read(lambda s: [asdict(activity) for activity in s.unknown_stations()])

    @app.get("/api/london/lines")
    async def api_london_lines() -> list[dict[str, Any]]:
        return london.hub.read(lambda s: [asdict(activity) for activity in s.lines()])

    @app.get("/api/london/busiest")
    async def api_london_busiest() -> dict[str, Any]:
        busiest = london.hub.read(lambda s: s.busiest())
        return busiest or {"available": False, "detail": "waiting for the first 15-minute window"}

    @app.get("/api/london/series")
    async def api_london_series() -> JSONResponse:
        """OpenSearch's histograms (cached for a few seconds, shared by every caller) and the crowding."""
        if not london.running:
            return JSONResponse({"available": False, "running": False, "detail": london.not_running}, status_code=503)
        series = await london.series.current()
        status = london.series.status()
        if series is None:
            detail = status.error or "OpenSearch has not answered yet"
            return JSONResponse({"available": False, "detail": detail}, status_code=503)
        return JSONResponse({"available": True, "stale": status.error is not None, **series})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        code, body = health()
        return JSONResponse(body, status_code=code)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws")
    async def websocket_endpoint(websocket: WebSocket) -> None:
        if await _refused_cross_origin(websocket, settings.dashboard_origins):
            return
        await _serve_socket(websocket, hub)

    @app.websocket("/ws/london")
    async def london_websocket(websocket: WebSocket) -> None:
        if await _refused_cross_origin(websocket, settings.dashboard_origins):
            return
        await _serve_socket(websocket, london.hub)

    return app


def origin_refusal(origin: str | None, host: str | None, allowed: frozenset[str]) -> str | None:
    """Why a WebSocket upgrade must be refused, or None to accept it.

    Browsers send ``Origin`` with every WebSocket and let any page open one to any address, so without
    this check a page on another site could read the live feed through a visitor's browser. Accepted:
    no Origin (not a browser: scripts, benchmarks), the page's own origin (its host is the ``Host``
    the browser connected to), and the configured ``dashboard_allowed_origins``.
    """
    if origin is None:
        return None
    normalised = normalise_origin(origin)
    if normalised in allowed:
        return None
    # Browsers write both without a default port; https too, for a TLS proxy that keeps the Host.
    if host and normalised in (f"http://{host.strip().lower()}", f"https://{host.strip().lower()}"):
        return None
    return (
        f"cross-origin WebSocket refused: origin {origin!r} is not this dashboard's ({host or 'no Host header'}); "
        "allow another origin with TRANSIT_DASHBOARD_ALLOWED_ORIGINS"
    )


async def _refused_cross_origin(websocket: WebSocket, allowed: frozenset[str]) -> bool:
    """Refuse a cross-origin upgrade with 403 and the reason (before accepting it); True if refused."""
    reason = origin_refusal(websocket.headers.get("origin"), websocket.headers.get("host"), allowed)
    if reason is None:
        return False
    log.info("%s (from %s)", reason, websocket.client.host if websocket.client else "?")
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=403))
    else:  # a server without ASGI's denial responses: uvicorn answers a close before accept with a bare 403
        await websocket.close(code=1008, reason=reason[:120])
    return True


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


async def _serve_socket(websocket: WebSocket, hub: LiveHub[Any]) -> None:
    """One browser on one page's hub: its own sender task; what it sends back is rate-limited by its client."""
    await websocket.accept()
    client = hub.connect()
    sender = asyncio.create_task(_send_frames(websocket, hub, client))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            client.on_message(message.get("text"))
    except WebSocketDisconnect:
        pass
    finally:
        hub.disconnect(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _send_frames(websocket: WebSocket, hub: LiveHub[Any], client: Client) -> None:
    """This client's own sender: a slow socket holds up only this task, never the tick or other clients."""
    try:
        while True:
            await websocket.send_text(await client.next_frame(hub))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the browser went away mid-send; the receive side ends the session
        log.debug("websocket send ended: %s", exc)
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


Health = Callable[[], tuple[int, dict[str, Any]]]


async def _push_status(health: Health, *hubs: LiveHub[Any]) -> None:
    memory = MemoryReleaser()
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        try:
            _broadcast_status(health, *hubs)
            memory.observe(sum(len(hub.clients) for hub in hubs))  # many browsers gone: give their memory back
        except Exception:
            log.exception("could not push the status")


def _broadcast_status(health: Health, *hubs: LiveHub[Any]) -> None:
    """The same status (Chicago's feeds, and London's under ``london``) to every page of every hub."""
    code, body = health()
    message = {"type": "status", "server_time": now_ms(), "ok": code == 200, "health": body}
    for hub in hubs:
        hub.broadcast_status(message)


# ---- metrics ---------------------------------------------------------------------------------------
class _Metrics:
    """Prometheus metrics in a registry of this app's own (several apps may share a process in tests)."""

    def __init__(self, hub: LiveHub[DashboardState], consumer: DashboardConsumer | None) -> None:
        self.hub = hub
        self.consumer = consumer
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "transit_dashboard_arrival_push_latency_seconds",
            "From an arrival's produced_at to the dashboard pushing it to browsers (live records only).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.registry.register(self)

    def observe(self, updates: Sequence[Update]) -> None:
        now = now_ms()
        for update in updates:
            if isinstance(update, TrainMoved) and update.live:
                self.latency.observe(max(now - update.train.produced_at, 0) / 1000.0)

    def collect(self) -> Any:
        status = self.consumer.status() if self.consumer else None
        records = CounterMetricFamily("transit_dashboard_records", "Good records applied, by input", labels=["input"])
        dead = CounterMetricFamily(
            "transit_dashboard_dead_letters", "Records sent to the dead-letter topic, by input", labels=["input"]
        )
        live = GaugeMetricFamily("transit_dashboard_topic_live", "1 when an input topic is loaded", labels=["input"])
        for role in TOPIC_ROLES:
            records.add_metric([role], status.records.get(role, 0) if status else 0)
            dead.add_metric([role], status.dead_letters.get(role, 0) if status else 0)
            live.add_metric([role], 1 if status and status.topics[role].state == "live" else 0)
        yield records
        yield dead
        yield live
        connected = 1 if status and status.kafka_connected else 0
        yield GaugeMetricFamily("transit_dashboard_kafka_connected", "1 while Kafka answers", value=connected)
        trains = self.hub.read(lambda s: len(s.trains()))
        yield GaugeMetricFamily("transit_dashboard_trains", "Trains with a known position", value=trains)
        clients = list(self.hub.clients)
        yield GaugeMetricFamily("transit_dashboard_websocket_clients", "Connected browsers", value=len(clients))
        yield CounterMetricFamily(
            "transit_dashboard_frames_encoded",
            "Update frames encoded (once per tick for all clients)",
            value=self.hub.frames_encoded,
        )
        yield CounterMetricFamily(
            "transit_dashboard_snapshots_encoded",
            "Snapshot frames encoded (once per state seq)",
            value=self.hub.snapshots_encoded,
        )
        yield GaugeMetricFamily(
            "transit_dashboard_client_queue_max",
            "Frames waiting for the slowest client",
            value=max((len(c.frames) for c in clients), default=0),
        )
