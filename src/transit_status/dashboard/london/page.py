"""London's page: its parts (map, live state and fan-out, Kafka consumer, OpenSearch series) and its routes.

The page is ``/london`` (``static/london.html``), its JSON API is under ``/api/london/`` and its live
socket is ``/ws/london`` (protocol: ``app.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import FileResponse, JSONResponse

from transit_status.config import Settings
from transit_status.dashboard.consumer import CountedInput, TopicConsumer
from transit_status.dashboard.health import Clock, NetworkHealth, not_running, runs
from transit_status.dashboard.hub import LiveHub
from transit_status.dashboard.london.consumer import LondonConsumer
from transit_status.dashboard.london.crowding_alerts import CrowdingAlertsConsumer, CrowdingAlertsView
from transit_status.dashboard.london.health import LondonInputs, london_health
from transit_status.dashboard.london.map import LondonMap
from transit_status.dashboard.london.series import REFRESH_S, LondonSeries
from transit_status.dashboard.london.state import LondonState, SeriesRefreshed
from transit_status.dashboard.state import Received
from transit_status.dashboard.web import page, serve_live
from transit_status.networks import load_data_network
from transit_status.networks.london import NETWORK_NAME as LONDON
from transit_status.wallclock import now_ms


class London:
    """The London page's parts: its map, live state and fan-out, Kafka consumer and OpenSearch series.

    When London does not run (``run --network cta``) there is no consumer and OpenSearch is never asked:
    the page is served and says London is not running.
    """

    def __init__(self, settings: Settings, start_consumer: bool) -> None:
        network = load_data_network(settings.with_overrides(network=LONDON))  # London is simulated whatever the source
        self.settings = settings
        self.running = runs(settings, "london")
        self.not_running = not_running("London", settings)
        self.map = LondonMap.of(network, settings.london_barrier_scale, settings.simulation_speed)
        self.state = LondonState()
        self.hub: LiveHub[LondonState] = LiveHub(self.state)
        self.consumer = LondonConsumer(settings, self.hub.apply) if start_consumer and self.running else None
        self.series = LondonSeries(settings, self.map)
        # Crowding alerts (the london-crowding job): their own state and consumer.
        self.crowding_alerts = CrowdingAlertsView()
        self.crowding_alerts.on_change = self.hub.whole_view(
            "alerts", lambda: self.crowding_alerts.as_json(recent=False)
        )
        self.alerts_consumer = (
            CrowdingAlertsConsumer(settings, self.crowding_alerts.apply, self.map.by_name)
            if self.consumer is not None
            else None
        )
        self._map_json: dict[str, dict[str, Any]] = {}

    def map_json(self) -> dict[str, Any]:
        """The map with today's typical-day counts (built once per day type)."""
        day_type = self.map.day_type(datetime.now(UTC))
        if day_type not in self._map_json:
            self._map_json[day_type] = self.map.as_json(day_type)
        return self._map_json[day_type]

    def consumers(self) -> list[TopicConsumer]:
        """What reads Kafka for this page (none when London does not run), started and stopped by the app."""
        return [c for c in (self.consumer, self.alerts_consumer) if c is not None]

    def counted_inputs(self) -> list[CountedInput]:
        """Its consumers' roles, for /metrics to count records and dead letters (zeros when London does not run)."""
        return [
            (tuple(LondonConsumer.topic_roles(self.settings).values()), self.consumer),
            (tuple(CrowdingAlertsConsumer.topic_roles(self.settings).values()), self.alerts_consumer),
        ]

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Work the app runs on its event loop while it serves: OpenSearch's charts, when London runs."""
        return [self.refresh_series()] if self.consumer is not None else []

    def inputs(self) -> LondonInputs:
        status = self.consumer.status() if self.consumer is not None else None
        alerts = self.alerts_consumer.status() if self.alerts_consumer is not None else None
        freshness = self.hub.read(lambda s: s.freshness())
        return LondonInputs(status, freshness, self.series.status(), alerts, alerts_read=True)

    def health(self, clock: Clock) -> NetworkHealth:
        """London's part of /healthz: its consumers, its state's freshness, OpenSearch's series."""
        return london_health(self.settings, self.inputs(), clock)

    async def refresh_series(self) -> None:
        """Query OpenSearch every few seconds and push the result to the London pages."""
        while True:
            series = await self.series.refresh()
            if series is not None:
                self.hub.apply([Received("opensearch", SeriesRefreshed(series), None, now_ms())])
            await asyncio.sleep(REFRESH_S)


def london_router(london: London, settings: Settings, health: Callable[[], dict[str, Any]]) -> APIRouter:
    """London's page, API and socket; ``health`` is London's section of /healthz."""
    router = APIRouter()

    @router.get("/london", include_in_schema=False)
    async def london_page() -> FileResponse:
        return page("london.html")

    @router.get("/api/london/map")
    async def api_london_map() -> dict[str, Any]:
        return london.map_json()

    @router.get("/api/london/state")
    async def api_london_state() -> dict[str, Any]:
        snapshot = london.hub.read(lambda s: s.snapshot())
        return {**snapshot, "generated_at": now_ms(), "health": health()}

    @router.get("/api/london/stations")
    async def api_london_stations() -> list[dict[str, Any]]:
        return london.hub.read(lambda s: [asdict(activity) for activity in s.stations()])

    @router.get("/api/london/unknown")
    async def api_london_unknown() -> list[dict[str, Any]]:
        """Stations barrier events came from that the stations table does not know."""
        return london.hub.read(lambda s: [asdict(activity) for activity in s.unknown_stations()])

    @router.get("/api/london/lines")
    async def api_london_lines() -> list[dict[str, Any]]:
        return london.hub.read(lambda s: [asdict(activity) for activity in s.lines()])

    @router.get("/api/london/busiest")
    async def api_london_busiest() -> dict[str, Any]:
        busiest = london.hub.read(lambda s: s.busiest())
        return busiest or {"available": False, "detail": "waiting for the first 15-minute window"}

    @router.get("/api/london/alerts")
    async def api_london_alerts() -> dict[str, Any]:
        """Stations far above their typical entries for the time of day: open alerts and the newest records."""
        return london.crowding_alerts.as_json()

    @router.get("/api/london/series")
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

    @router.websocket("/ws/london")
    async def london_websocket(websocket: WebSocket) -> None:
        await serve_live(websocket, london.hub, settings.dashboard_origins)

    return router
