"""The dashboard's HTTP side, assembled: both pages' routers, GTFS out, /healthz, /metrics and the status push.

Each network's page is its own subpackage (``cta/``, ``london/``): its parts (pure state, hub, Kafka
consumer, map) and its router (``page.py``). ``create_app(settings)`` builds both, includes their
routers and starts and stops their consumers with the app's lifespan; what the pages share (hub,
consumer, health, contracts, socket serving in ``web.py``) is at the top of the package.

WebSocket protocol (server -> browser, one JSON object per text frame; fan-out: ``hub.py``):
* ``{"type": "snapshot", "seq", "stations", "trains", "turnstiles", "weather"}`` first, and again
  when the browser asks (``{"type": "resync"}``, rate-limited) or fell too far behind;
* ``{"type": "updates", "pushed_at", "updates": [...]}`` at most once a tick, each update with its
  ``seq`` (a browser skips those its snapshot had): ``train`` (``train``: the train with
  ``produced_at``, ``x``/``y``), ``station``, ``station_removed``, ``turnstile`` (``station_id``,
  ``count``; null = removed) and ``weather``;
* ``{"type": "status", "server_time", "ok", "health"}`` once a second (feeds, freshness, Kafka);
* ``{"type": "alerts", "open", "lines", "network_time", ...}`` (the body of ``/api/alerts`` but ``recent``)
  on connecting and whenever it changes: within a tick of an alert opening or clearing, at most once a
  second when only a headway moved (``LiveHub.whole_view``).

London (``/london``, its own hub and socket ``/ws/london``, the same fan-out): a ``snapshot``
(``seq``, ``stations``, ``lines``, ``busiest``, ``series``), then ``updates`` of types ``activity``
(a station's entries/exits/inside, ``known``; null = removed), ``line``, ``busiest`` (the newest
15-minute window's top stations) and ``series`` (OpenSearch's histograms and the crowding against a
typical day, refreshed every few seconds by the server), the same ``status`` frames (London's
feeds under ``health.london``) and ``alerts`` frames (the body of ``/api/london/alerts`` but ``recent``) as they change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from transit_status.config import Settings, url_host
from transit_status.dashboard.cta.gtfs import gtfs_router
from transit_status.dashboard.cta.page import Chicago, chicago_router
from transit_status.dashboard.health import Clock, Healthz, health_report
from transit_status.dashboard.hub import LiveHub
from transit_status.dashboard.london.page import London, london_router
from transit_status.dashboard.memory import MemoryReleaser
from transit_status.dashboard.web import STATIC_DIR, page
from transit_status.dashboard.work_monitor import WorkInspector, WorkMonitor
from transit_status.networks.london import NETWORK_NAME as LONDON
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)

STATUS_EVERY_S = 1.0


def create_app(
    settings: Settings, *, start_consumer: bool = True, inspect_work: WorkInspector | None = None
) -> FastAPI:
    """The dashboard app; with ``start_consumer=False`` it serves state fed by the caller (tests).

    ``inspect_work`` (``pipeline.work.inspect_work`` for these settings, from ``serve.py``) puts
    the pipeline's jobs, connectors and groups into /healthz, refreshed in the background.
    """
    started_ms = now_ms()  # the start grace of every feed runs from here
    chicago = Chicago(settings, start_consumer)
    london = London(settings, start_consumer)
    for roles, consumer in london.counted_inputs():  # one /metrics for the dashboard: Chicago's registry
        chicago.metrics.count(roles, consumer)
    work = WorkMonitor(inspect_work) if inspect_work is not None and start_consumer else None

    pages = (chicago, london)  # the first one's health is the top level of /healthz

    def health() -> tuple[int, dict[str, Any]]:
        clock = Clock.of(settings, started_ms, now_ms())
        snapshot = work.snapshot() if work is not None else None
        clients = len(chicago.hub.clients)
        return health_report(settings, [part.health(clock) for part in pages], clients, clock, snapshot)

    def london_section() -> dict[str, Any]:
        return dict(london.health(Clock.of(settings, started_ms, now_ms())).section)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chicago.hub.loop = london.hub.loop = asyncio.get_running_loop()
        _broadcast_status(health, chicago.hub, london.hub)  # so the first clients get one at once
        tasks = [asyncio.create_task(_push_status(health, chicago.hub, london.hub))]
        # Only the networks that run are consumed (and London's charts queried): settings.run_networks.
        consumers = [consumer for part in pages for consumer in part.consumers()]
        for consumer in consumers:
            consumer.start()
        tasks += [asyncio.create_task(job) for part in pages for job in part.background()]
        if work is not None:
            work.start()
        log.info("dashboard serving on http://%s:%s", url_host(settings.dashboard_host), settings.dashboard_port)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            chicago.hub.loop = london.hub.loop = None
            for running in (*consumers, work):
                if running is not None:
                    await run_in_threadpool(running.stop)

    app = FastAPI(title="transit-status dashboard", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings
    app.state.chicago = chicago
    app.state.hub = chicago.hub
    app.state.consumer = chicago.consumer
    app.state.network_map = chicago.map
    app.state.london = london
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    async def index(network: str | None = None) -> FileResponse | RedirectResponse:
        """Chicago's page, or London's for ``?network=london``."""
        if network in ("london", LONDON):
            return RedirectResponse("/london", status_code=302)
        return page("index.html")

    app.include_router(chicago_router(chicago, settings, health))
    app.include_router(gtfs_router(chicago.network, chicago.hub))
    app.include_router(london_router(london, settings, london_section))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        code, body = health()
        return JSONResponse(body, status_code=code)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(chicago.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _push_status(health: Healthz, *hubs: LiveHub[Any]) -> None:
    memory = MemoryReleaser()
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        try:
            _broadcast_status(health, *hubs)
            memory.observe(sum(len(hub.clients) for hub in hubs))  # many browsers gone: give their memory back
        except Exception:
            log.exception("could not push the status")


def _broadcast_status(health: Healthz, *hubs: LiveHub[Any]) -> None:
    """The same status (Chicago's feeds, and London's under ``london``) to every page of every hub."""
    code, body = health()
    message = {"type": "status", "server_time": now_ms(), "ok": code == 200, "health": body}
    for hub in hubs:
        hub.broadcast_status(message)
