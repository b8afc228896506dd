"""Chicago's page: its parts (map, live state and fan-out, Kafka consumer, metrics) and its routes.

The page itself is ``/`` (``static/index.html``, served by ``app.py``); its JSON API is under ``/api/``
and its live socket is ``/ws`` (protocol: ``app.py``). When Chicago does not run (``run --network
london``) there is no consumer: the page is served and its health says Chicago is not running.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, WebSocket

from transit_status.config import Settings
from transit_status.dashboard.consumer import TopicConsumer
from transit_status.dashboard.cta.arrivals import LivePredictions, arrivals_router
from transit_status.dashboard.cta.consumer import ChicagoConsumer
from transit_status.dashboard.cta.health import ChicagoInputs, JobOutputs, SourceReport, chicago_health
from transit_status.dashboard.cta.map import NetworkMap
from transit_status.dashboard.cta.metrics import ChicagoMetrics
from transit_status.dashboard.cta.run_times import RunTimesConsumer
from transit_status.dashboard.cta.service_health import NetworkPlatforms, ServiceHealthConsumer, ServiceHealthView
from transit_status.dashboard.cta.state import DashboardState
from transit_status.dashboard.health import Clock, Healthz, NetworkHealth, runs
from transit_status.dashboard.hub import LiveHub
from transit_status.dashboard.web import serve_live
from transit_status.feeds.health import read_health
from transit_status.networks import load_network
from transit_status.networks.cta import CTA_AGENCY
from transit_status.networks.model import Agency
from transit_status.wallclock import now_ms


class Chicago:
    """Chicago's parts; ``start_consumer=False`` leaves the state to be fed by the caller (tests)."""

    def __init__(self, settings: Settings, start_consumer: bool) -> None:
        self.settings = settings
        self.network = load_network(settings)
        self.map = NetworkMap.of(self.network)
        self.state = DashboardState(self.map.line_order, self.map)
        self.hub: LiveHub[DashboardState] = LiveHub(self.state)
        # Arrivals feed the predictions too; the learned run times come on a consumer of their own.
        self.predictions = LivePredictions(settings, self.network)
        consuming = start_consumer and runs(settings, "cta")
        self.consumer = (
            ChicagoConsumer(settings, self.predictions.around(self.hub.apply), self.map.line_order)
            if consuming
            else None
        )
        self.run_times = RunTimesConsumer(settings, self.predictions.apply_run_times) if consuming else None
        # Service health (the cta-service-health job's alerts and headways): its own state and consumer.
        self.service_health = ServiceHealthView(self.map.line_order)
        self.service_health.on_change = self.hub.whole_view("alerts", lambda: self.alerts(recent=False))
        self.service_consumer = (
            ServiceHealthConsumer(settings, self.service_health.apply, NetworkPlatforms.of(self.network))
            if consuming
            else None
        )
        self.metrics = ChicagoMetrics(self.hub, self.consumer)
        self.metrics.count(RunTimesConsumer.topic_roles(settings).values(), self.run_times)
        self.metrics.count(ServiceHealthConsumer.topic_roles(settings).values(), self.service_consumer)
        self.predictions.register_metrics(self.metrics.registry)
        self.hub.on_updates.append(self.metrics.observe)
        self.map_json = {**self.map.as_json(), "heading": page_heading(self.network.agency)}

    def alerts(self, recent: bool = True) -> dict[str, Any]:
        """Open service alerts, each line's health, the network's time now (alerts' times are the network's:
        the arrivals' ``simulated_at``, not the wall clock's) and (``recent``) the newest alert records,
        which the page does not show: its pushed view leaves them out."""
        return {**self.service_health.as_json(recent), **self.predictions.network_now()}

    def consumers(self) -> list[TopicConsumer]:
        """What reads Kafka for this page (none when Chicago does not run), started and stopped by the app."""
        return [c for c in (self.consumer, self.run_times, self.service_consumer) if c is not None]

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Work the app runs on its event loop while it serves: none for Chicago."""
        return []

    def health(self, clock: Clock) -> NetworkHealth:
        """Chicago's part of /healthz: its consumers, its state's freshness, a real source's report."""
        outputs = JobOutputs(
            self.run_times.status() if self.run_times is not None else None,
            self.service_consumer.status() if self.service_consumer is not None else None,
        )
        inputs = ChicagoInputs(
            self.consumer.status() if self.consumer is not None else None,
            self.hub.read(lambda s: s.freshness()),
            self.source_report(),
            outputs,
        )
        return chicago_health(self.settings, inputs, clock)

    def source_report(self) -> SourceReport | None:
        """What a real feed's adapter last wrote (None: the trains are simulated). Passed through the
        settings' redaction: an adapter never writes its key, and the dashboard would not show it if one did."""
        if self.settings.simulated_source:
            return None
        path = self.settings.feed_health_file
        snapshot = read_health(path)
        if snapshot is None:
            return SourceReport(None, None)
        try:
            written_ms = int(path.stat().st_mtime * 1000)
        except OSError:
            written_ms = None
        return SourceReport(json.loads(self.settings.redact(json.dumps(snapshot))), written_ms)


def page_heading(agency: Agency | None) -> str | None:
    """The page's heading when another agency's trains run (its static GTFS names it); None: the page's
    own, written for the CTA."""
    if agency is None or agency == CTA_AGENCY:
        return None
    return f"{agency.name} status"


def chicago_router(chicago: Chicago, settings: Settings, health: Healthz) -> APIRouter:
    """Chicago's API and socket; ``health`` is the dashboard's whole /healthz (both networks, the work)."""
    router = APIRouter()
    hub = chicago.hub

    @router.get("/api/state")
    async def api_state() -> dict[str, Any]:
        snapshot = hub.read(lambda s: {**s.snapshot(), "table": s.status_rows()})
        _, body = health()
        return {**snapshot, "generated_at": now_ms(), "freshness": body["topics"], "health": body}

    @router.get("/api/table")
    async def api_table() -> list[dict[str, Any]]:
        return hub.read(lambda s: s.status_rows())

    @router.get("/api/trains")
    async def api_trains() -> list[dict[str, Any]]:
        return hub.read(lambda s: s.trains_json())

    @router.get("/api/stations")
    async def api_stations() -> dict[str, Any]:
        return {"lines": hub.read(lambda s: s.stations_json())}

    @router.get("/api/turnstiles")
    async def api_turnstiles() -> dict[str, int]:
        return {str(k): v for k, v in hub.read(lambda s: s.turnstiles()).items()}

    @router.get("/api/weather")
    async def api_weather() -> dict[str, Any]:
        weather = hub.read(lambda s: s.weather())
        if weather is None:
            return {"available": False, "detail": f"waiting for data on {settings.topic_weather}"}
        return {"available": True, **weather}

    @router.get("/api/freshness")
    async def api_freshness() -> dict[str, Any]:
        return health()[1]["topics"]

    @router.get("/api/alerts")
    async def api_alerts() -> dict[str, Any]:
        """Open service alerts (where, since when, why), the newest alert records and each line's health;
        the page gets the same over its socket (``alerts`` frames) as they change.

        Their times are the network's (the arrivals' ``simulated_at``), not the wall clock's: the body says
        the network's time now, so a reader can tell how long an alert has been open."""
        return chicago.alerts()

    @router.get("/api/map")
    async def api_map() -> dict[str, Any]:
        return chicago.map_json

    @router.get("/api/dwells")
    async def api_dwells() -> dict[str, Any]:
        """How long trains stand at each platform: the median of its latest stops (the cta-service-health
        job's dwells), in the network's seconds; per line on ``/api/alerts``' strip."""
        return {
            "platforms": chicago.service_health.dwells(),
            "time_basis": chicago.predictions.network_now()["time_basis"],
        }

    router.include_router(arrivals_router(chicago.predictions, chicago.service_health.typical_dwell))

    @router.websocket("/ws")
    async def websocket_endpoint(websocket: WebSocket) -> None:
        await serve_live(websocket, hub, settings.dashboard_origins)

    return router
