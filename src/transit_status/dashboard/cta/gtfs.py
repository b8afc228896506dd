"""GTFS and GTFS-realtime out, over HTTP: what trip planners, OneBusAway and maps read.

* ``/gtfs/static.zip``: the static feed of the page's network (``feeds.gtfs_out.build_static_gtfs``),
  published as the network's own agency (Chicago's, or the one a static GTFS source names), built once
  (it depends on the network only), off the event loop, on the first request;
* ``/gtfs-rt/vehicle-positions.pb``, ``/gtfs-rt/trip-updates.pb``, ``/gtfs-rt/alerts.pb``: GTFS-realtime
  2.0 built from the page's live state at each request; ``?format=json`` gives the same message as
  JSON, for people.

Each train the page shows is a vehicle ``STOPPED_AT`` its last station's platform, on the static feed's
frequency-based trip of its route and direction (named by trip id, start date and start time: when it
left the trip's first station, by the static timetable). Its trip update predicts the next stops from
the static feed's running times. A broken-down train is an alert on its line and station; a train out of
service is in no feed. A train the static feed cannot name (a route, station or platform it lacks) is
left out of the feeds, never placed elsewhere: so every trip_id and stop_id they name is in the zip.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from transit_status.dashboard.cta.state import Train
from transit_status.dashboard.hub import LiveHub
from transit_status.feeds.gtfs_out import (
    Call,
    RealtimeFeeds,
    ServiceAlert,
    TrainState,
    build_static_gtfs,
    encode,
    to_json,
    trip_calls,
)
from transit_status.networks import Network, Route

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
PREDICTED_STOPS = 3
"""How many stops ahead a trip update predicts."""
WARNED_TRAINS = 1000
"""Left-out train ids remembered (each is logged once): a few days of a network's run numbers, not all of them."""
STATIC_FILE_NAME = "gtfs-static.zip"
Format = Literal["pb", "json"]
FORMATS: tuple[Format, ...] = ("pb", "json")


def _moment(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


@dataclass
class TrainMapper:
    """Maps the page's trains onto the static feed's routes, trips and platforms (pure)."""

    network: Network
    _calls: dict[tuple[str, str], list[Call]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for route in self.network.routes:
            for direction in ("a", "b"):
                self._calls[(route.route_id, direction)] = trip_calls(route, direction)  # type: ignore[arg-type]

    @cached_property
    def _routes_by_name(self) -> dict[str, Route]:
        # Every source's arrivals carry the route's name ("Green Ashland/63rd", the contract's `route`);
        # records an older simulation wrote, still in the topic, carry its id ("green-ashland-63rd").
        return {name: route for route in self.network.routes for name in (route.name, route.route_id)}

    def _call(self, route: Route, train: Train) -> tuple[list[Call], int] | None:
        """The trip's calls and the index of the train's station on it (None: not on this trip)."""
        calls = self._calls.get((route.route_id, train.direction), [])
        for index, call in enumerate(calls):
            if call.station_id == train.station_id and (train.stop_id is None or call.stop_id == train.stop_id):
                return calls, index
        for index, call in enumerate(calls):  # a platform id the route does not use: its station decides
            if call.station_id == train.station_id:
                return calls, index
        return None

    def locate(self, train: Train) -> tuple[Route, list[Call], int] | None:
        """The route, trip calls and call index of ``train``; None when the static feed cannot name it."""
        named = self._routes_by_name.get(train.route)
        candidates = [named] if named is not None and named.line == train.line else []
        candidates += [route for route in self.network.routes if route.line == train.line and route is not named]
        for route in candidates:
            found = self._call(route, train)
            if found is not None:
                return route, *found
        return None

    def state(self, train: Train) -> TrainState | None:
        located = self.locate(train)
        if located is None or train.train_status == "out_of_service":
            return None
        route, calls, index = located
        call = calls[index]
        at = _moment(train.simulated_at)
        station = self.network.stations.get(call.station_id)
        predictions = tuple(
            (ahead.stop_id, at + timedelta(seconds=ahead.offset_s - call.offset_s))
            for ahead in calls[index + 1 : index + 1 + PREDICTED_STOPS]
        )
        return TrainState(
            train_id=train.train_id,
            route_id=route.route_id,
            direction=train.direction,  # type: ignore[arg-type]
            stop_id=call.stop_id,
            status="STOPPED_AT",
            trip_start=at - timedelta(seconds=call.offset_s),
            at=at,
            latitude=station.latitude if station is not None else None,
            longitude=station.longitude if station is not None else None,
            predictions=predictions,
        )

    def states(self, trains: Iterable[Train]) -> tuple[list[TrainState], list[str]]:
        """The states of the trains the feeds can carry, and the ids of those they cannot."""
        states, left_out = [], []
        for train in trains:
            state = self.state(train)
            if state is not None:
                states.append(state)
            elif train.train_status != "out_of_service":
                left_out.append(train.train_id)
        return states, left_out

    def alerts(self, trains: Iterable[Train]) -> list[ServiceAlert]:
        """One alert per broken-down train: its line and station."""
        alerts = []
        for train in trains:
            if train.train_status != "broken_down":
                continue
            located = self.locate(train)
            station_ids = (located[1][located[2]].station_id,) if located is not None else ()
            alerts.append(
                ServiceAlert(
                    alert_id=f"broken-down-{train.train_id}",
                    header=f"{train.route} train {train.train_id} broken down at {train.station_name}",
                    description="Expect delays behind it.",
                    lines=(train.line,) if any(line.line_id == train.line for line in self.network.lines) else (),
                    station_ids=station_ids,
                    start=_moment(train.simulated_at),
                    cause="TECHNICAL_PROBLEM",
                    effect="SIGNIFICANT_DELAYS",
                )
            )
        return alerts


class GtfsOut:
    """The feeds of one dashboard: the static zip (built once) and realtime feeds whose headers never go back.

    Thread-safe: the handlers call it from the thread pool, never on the event loop.
    """

    def __init__(self, network: Network, hub: LiveHub[Any]) -> None:
        self.network = network
        self.hub = hub
        self.mapper = TrainMapper(network)
        self.realtime = RealtimeFeeds(network)
        self._static: bytes | None = None
        self._static_lock = threading.Lock()
        self._realtime_lock = threading.Lock()  # a header's read-max-write, and the warned trains
        self._warned: OrderedDict[str, None] = OrderedDict()

    def static_zip(self) -> bytes:
        with self._static_lock:  # two first requests build it once
            if self._static is None:
                self._static = build_static_gtfs(self.network)
            return self._static

    def render(self, name: str, chosen: Format) -> bytes:
        """Realtime feed ``name`` as protobuf or JSON, built from the page's state now."""
        with self._realtime_lock:
            message = self.feed(name)
        return to_json(message).encode() if chosen == "json" else encode(message)

    def _warn_once(self, left_out: list[str]) -> None:
        new = [train_id for train_id in left_out if train_id not in self._warned]
        for train_id in new:
            self._warned[train_id] = None
        while len(self._warned) > WARNED_TRAINS:
            self._warned.popitem(last=False)  # forgotten: logged again if it shows up again
        if new:
            log.warning("GTFS-realtime leaves out %d train(s) the static feed cannot name: %s", len(new), new[:10])

    def _trains(self) -> Sequence[Train]:
        return self.hub.read(lambda state: state.trains())

    def feed(self, name: str) -> Any:
        trains = self._trains()
        if name == "alerts":
            return self.realtime.alerts(self.mapper.alerts(trains))
        states, left_out = self.mapper.states(trains)
        self._warn_once(left_out)
        if name == "vehicle-positions":
            return self.realtime.vehicle_positions(states)
        return self.realtime.trip_updates(states)


REALTIME_FEEDS = ("vehicle-positions", "trip-updates", "alerts")


def _format(value: str) -> Format:
    if value not in FORMATS:
        raise HTTPException(400, f"format must be pb or json, not {value[:40]!r}")
    return value  # type: ignore[return-value]


def gtfs_router(network: Network, hub: LiveHub[Any]) -> APIRouter:
    """The GTFS and GTFS-realtime routes of Chicago's live state."""
    router = APIRouter()
    out = GtfsOut(network, hub)

    @router.get("/gtfs/static.zip", response_class=Response)
    async def static_zip() -> Response:
        data = await run_in_threadpool(out.static_zip)
        # Whichever agency's network it is (agency.txt names it): no agency in the file name.
        headers = {"Content-Disposition": f'attachment; filename="{STATIC_FILE_NAME}"'}
        return Response(data, media_type="application/zip", headers=headers)

    def realtime_route(name: str) -> None:
        async def realtime(format: str = "pb") -> Response:
            chosen = _format(format)
            # Off the event loop: for the whole CTA network (~130 trains) mapping, building and encoding
            # take 3-4 ms as protobuf and 8-13 ms as JSON on a 2-core machine, too long to hold the page's
            # sockets up for.
            body = await run_in_threadpool(out.render, name, chosen)
            return Response(body, media_type="application/json" if chosen == "json" else PROTOBUF)

        realtime.__name__ = f"gtfs_rt_{name.replace('-', '_')}"
        router.add_api_route(f"/gtfs-rt/{name}.pb", realtime, methods=["GET"], response_class=Response)

    for feed_name in REALTIME_FEEDS:
        realtime_route(feed_name)
    return router
