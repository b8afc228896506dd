"""The dashboard's HTTP side: the page, the JSON API, /healthz, /metrics and the /ws push channel.

``create_app(settings)`` wires the pure state (``state.py``), the hub (``hub.py``) and the Kafka
consumer thread (``consumer.py``); the consumer starts and stops with the app's lifespan.

WebSocket protocol (server -> browser, one JSON object per text frame):
* ``{"type": "snapshot", "seq", "table", "stations", "trains", "turnstiles", "weather"}`` first,
  and again whenever the browser asks (``{"type": "resync"}``) or fell too far behind;
* then updates, each with a ``seq`` higher than the snapshot's and a ``pushed_at`` (epoch ms):
  ``train`` (``train``: the train with ``produced_at``, ``x``/``y``; ``previous``), ``station``,
  ``station_removed``, ``turnstile`` (``count`` null = removed) and ``weather``;
* ``{"type": "status", "server_time", "ok", "health"}`` once a second (topics, freshness, Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from transit_status.config import Settings
from transit_status.dashboard.consumer import ConsumerStatus, DashboardConsumer, now_ms
from transit_status.dashboard.hub import RESYNC, Client, LiveHub
from transit_status.dashboard.reference import load_network_map
from transit_status.dashboard.state import TOPIC_ROLES, DashboardState, Freshness

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


def create_app(settings: Settings, *, start_consumer: bool = True) -> FastAPI:
    """The dashboard app; with ``start_consumer=False`` it serves state fed by the caller (tests)."""
    network_map = load_network_map(settings)
    state = DashboardState(network_map.line_order, network_map)
    hub = LiveHub(state)
    consumer = DashboardConsumer(settings, hub.apply, network_map.line_order) if start_consumer else None
    metrics = _Metrics(hub, consumer)
    hub.on_updates.append(metrics.observe)
    map_json = network_map.as_json()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        if consumer is not None:
            consumer.start()
        pusher = asyncio.create_task(_push_status(hub, settings, consumer))
        log.info("dashboard serving on http://%s:%s", settings.host, settings.dashboard_port)
        try:
            yield
        finally:
            pusher.cancel()
            hub.loop = None
            if consumer is not None:
                await run_in_threadpool(consumer.stop)

    app = FastAPI(title="transit-status dashboard", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings
    app.state.hub = hub
    app.state.consumer = consumer
    app.state.network_map = network_map
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @app.get("/api/state")
    async def api_state() -> dict[str, Any]:
        snapshot = hub.read(lambda s: s.snapshot())
        _, health = health_report(settings, consumer, hub)
        return {**snapshot, "generated_at": now_ms(), "freshness": health["topics"], "health": health}

    @app.get("/api/table")
    async def api_table() -> list[dict[str, Any]]:
        return hub.read(lambda s: s.status_rows())

    @app.get("/api/trains")
    async def api_trains() -> list[dict[str, Any]]:
        return hub.read(lambda s: s.snapshot()["trains"])

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
        return health_report(settings, consumer, hub)[1]["topics"]

    @app.get("/api/map")
    async def api_map() -> dict[str, Any]:
        return map_json

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        code, body = health_report(settings, consumer, hub)
        return JSONResponse(body, status_code=code)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws")
    async def websocket_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        client, snapshot = hub.connect()
        sender = asyncio.create_task(_send_frames(websocket, hub, client, snapshot, settings, consumer))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if _asks_for_resync(message.get("text")):
                    client.queue.put_nowait(RESYNC)
        except WebSocketDisconnect:
            pass
        finally:
            hub.disconnect(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    return app


async def _send_frames(
    websocket: WebSocket,
    hub: LiveHub,
    client: Client,
    snapshot: str,
    settings: Settings,
    consumer: DashboardConsumer | None,
) -> None:
    try:
        await websocket.send_text(snapshot)
        await websocket.send_text(_status_frame(settings, consumer, hub))
        while True:
            frame = await client.queue.get()
            if frame == RESYNC:
                frame = hub.resync(client)
            await websocket.send_text(frame)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the browser went away mid-send; the receive side ends the session
        log.debug("websocket send ended: %s", exc)
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


def _asks_for_resync(text: str | None) -> bool:
    if not text:
        return False
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(message, dict) and message.get("type") == "resync"


async def _push_status(hub: LiveHub, settings: Settings, consumer: DashboardConsumer | None) -> None:
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        if hub.clients:
            try:
                hub.broadcast(json.loads(_status_frame(settings, consumer, hub)))
            except Exception:
                log.exception("could not push the status")


def _status_frame(settings: Settings, consumer: DashboardConsumer | None, hub: LiveHub) -> str:
    code, health = health_report(settings, consumer, hub)
    return json.dumps({"type": "status", "server_time": now_ms(), "ok": code == 200, "health": health})


# ---- health ----------------------------------------------------------------------------------------
def health_report(settings: Settings, consumer: DashboardConsumer | None, hub: LiveHub) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 once the consumer runs, Kafka answers and every existing topic is
    loaded (missing topics are 'waiting' and do not make it unhealthy); 503 with a reason before."""
    status = consumer.status() if consumer is not None else None
    freshness = hub.read(lambda s: s.freshness())
    topics = _topics_view(settings, status, freshness, now_ms())
    reason: str | None = None
    if status is None or not status.running:
        reason = "starting: the Kafka consumer is not running yet"
    elif not status.kafka_connected:
        reason = f"{status.kafka_error or 'Kafka unreachable'}; retrying"
    elif status.registry_error:  # Avro topics cannot load without it: the more useful reason
        reason = f"{status.registry_error} ({settings.schema_registry_url}); retrying"
    elif loading := [t for t in status.topics.values() if t.state in ("loading", "unknown")]:
        reason = "starting: " + "; ".join(t.detail for t in loading)
    body: dict[str, Any] = {
        "status": "ok" if reason is None else "unavailable",
        "reason": reason,
        "kafka": {
            "bootstrap_servers": settings.bootstrap_servers,
            "connected": bool(status and status.kafka_connected),
            "error": status.kafka_error if status else None,
        },
        "schema_registry": {"url": settings.schema_registry_url, "error": status.registry_error if status else None},
        "topics": topics,
        "dead_letters": {"topic": settings.topic_dead_letters, "by_input": status.dead_letters if status else {}},
        "websocket_clients": len(hub.clients),
    }
    return (200 if reason is None else 503), body


def _topics_view(
    settings: Settings, status: ConsumerStatus | None, freshness: dict[str, Freshness], now: int
) -> dict[str, dict[str, Any]]:
    names = {
        "stations": settings.topic_stations,
        "arrivals": settings.topic_arrivals,
        "turnstile_summary": settings.topic_turnstile_summary,
        "weather": settings.topic_weather,
    }
    view = {}
    for role in TOPIC_ROLES:
        topic_status = status.topics.get(role) if status else None
        fresh = freshness.get(role, Freshness())
        last = fresh.last_record_ms or fresh.last_received_ms
        state = topic_status.state if topic_status else "unknown"
        if fresh.records == 0:
            text = "waiting for data" + (f" (topic {names[role]} does not exist yet)" if state == "missing" else "")
        else:
            text = "live" if state == "live" else (topic_status.detail if topic_status else state)
        view[role] = {
            "topic": names[role],
            "state": state,
            "waiting": fresh.records == 0,
            "text": text,
            "records": fresh.records,
            "partitions": topic_status.partitions if topic_status else 0,
            "last_record_at": last,
            "age_s": round(max(now - last, 0) / 1000.0, 1) if last is not None else None,
        }
    return view


# ---- metrics ---------------------------------------------------------------------------------------
class _Metrics:
    """Prometheus metrics in a registry of this app's own (several apps may share a process in tests)."""

    def __init__(self, hub: LiveHub, consumer: DashboardConsumer | None) -> None:
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

    def observe(self, updates: list[dict[str, Any]]) -> None:
        now = time.time_ns() // 1_000_000
        for update in updates:
            if update["type"] == "train" and update.get("live"):
                self.latency.observe(max(now - update["train"]["produced_at"], 0) / 1000.0)

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
        clients = len(self.hub.clients)
        yield GaugeMetricFamily("transit_dashboard_websocket_clients", "Connected browsers", value=clients)
