"""Chicago's arrivals boards, live: the pure predictor (``predictions.py``) fed by the arrivals and the
learned run times, its accuracy on /metrics, and the JSON API.

* ``GET /api/stations/{station_id}/arrivals``: the station's board (per platform and direction, the next
  trains: line, destination, minutes away), with the network's clock the minutes count in.
* ``GET /api/predictions``: accuracy so far (p50/p90 of the error at 1, 3 and 5 minutes ahead) and how
  many run times are learned.

Minutes are the network's: simulated minutes when the trains are simulated (``rate`` times faster than
the wall clock), real ones for a real feed. The page counts them down between two fetches with the same rate.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Path
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from transit_status.config import Settings
from transit_status.dashboard.cta.predictions import (
    Accuracy,
    NetworkClock,
    Predictor,
    Report,
    RunTime,
    Sample,
)
from transit_status.dashboard.cta.run_times import ROLE as RUN_TIMES_ROLE
from transit_status.dashboard.cta.state import TrainArrival
from transit_status.dashboard.state import Received
from transit_status.networks import Network
from transit_status.wallclock import now_ms

Sink = Callable[[list[Received[Any]]], None]
ERROR_BUCKETS_S = (5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)


def network_rate(settings: Settings) -> float:
    """How many network seconds pass per wall-clock second: the simulation's speed, a replay's, or 1."""
    if settings.simulated_source:
        return settings.simulation_speed
    return settings.replay_speed if settings.replay_dir is not None else 1.0


def time_basis(rate: float) -> str:
    if rate == 1.0:
        return "minutes of the network's clock (real time)"
    return f"minutes of the network's simulated clock, which runs {rate:g}x faster than the wall clock"


class LivePredictions:
    """The predictor, its clock and its accuracy, shared by the consumer threads and the web handlers."""

    def __init__(self, settings: Settings, network: Network) -> None:
        self.network = network
        self.rate = network_rate(settings)
        self.clock = NetworkClock(self.rate)
        self.predictor = Predictor(network)
        self.accuracy = Accuracy(self.predictor.horizons_s)
        self.lock = threading.Lock()
        self.errors: Histogram | None = None
        self.unpredicted: Counter | None = None

    # ---- inputs (consumer threads) -----------------------------------------------------------------
    def around(self, sink: Sink) -> Sink:
        """``sink`` (the page's hub), with every arrival also fed to the predictor first."""

        def feed_then(batch: list[Received[Any]]) -> None:
            self.feed(batch)
            sink(batch)

        return feed_then

    def feed(self, batch: list[Received[Any]]) -> None:
        with self.lock:
            for received in batch:
                if not isinstance(received.change, TrainArrival):
                    continue
                train = received.change.train
                self.clock.observe(train.simulated_at, train.produced_at)
                report = Report(
                    train.train_id,
                    train.line,
                    train.route,
                    train.station_id,
                    train.direction,
                    train.train_status,
                    train.simulated_at,
                    first=train.prev_station_id is None,
                )
                outcomes = self.predictor.report(report, score=received.live)
                self.accuracy.add(outcomes)
                self._observe(outcomes)

    def apply_run_times(self, batch: list[Received[Any]]) -> None:
        """Records of the run-times topic (``run_times.RunTimesConsumer``'s sink)."""
        with self.lock:
            for received in batch:
                if received.role != RUN_TIMES_ROLE:
                    continue
                change = received.change
                if isinstance(change, RunTime):
                    self.predictor.run_times.put(change)
                else:
                    self.predictor.run_times.remove(change)
            now = self.clock.now(now_ms())
            if now is not None:
                self.predictor.refresh(now)

    def _observe(self, outcomes: list[Any]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Sample):
                if self.errors is not None:
                    service = "breakdowns" if outcome.disrupted else "normal"
                    self.errors.labels(str(outcome.horizon_s), service).observe(abs(outcome.error_s))
            elif self.unpredicted is not None:
                self.unpredicted.labels(str(outcome.horizon_s)).inc()

    # ---- outputs -----------------------------------------------------------------------------------
    def register_metrics(self, registry: CollectorRegistry) -> None:
        self.errors = Histogram(
            "transit_prediction_error_seconds",
            "Absolute error of arrival predictions made horizon_s (network time) before the train arrived, in "
            "network seconds; service=breakdowns where the train was held between prediction and arrival.",
            labelnames=("horizon_s", "service"),
            buckets=ERROR_BUCKETS_S,
            registry=registry,
        )
        self.unpredicted = Counter(
            "transit_prediction_unpredicted_arrivals",
            "Arrivals with no prediction horizon_s before them (the train was turning, or a leg was not learned).",
            labelnames=("horizon_s",),
            registry=registry,
        )
        predictions = self

        class Learned:
            def collect(self) -> Any:
                with predictions.lock:
                    legs = len(predictions.predictor.run_times)
                yield GaugeMetricFamily("transit_prediction_run_times_learned", "Legs with a learned run time", legs)

        registry.register(Learned())

    def board(self, station_id: int) -> dict[str, Any]:
        station = self.network.stations[station_id]
        wall = now_ms()
        with self.lock:
            network_now = self.clock.now(wall)
            platforms = self.predictor.board(station_id, network_now) if network_now is not None else []
            learned = len(self.predictor.run_times)
        if network_now is None:
            note = "waiting for the first arrival: the network's clock is not known yet"
        elif not learned:
            note = "learning run times from the arrivals: no train can be predicted yet"
        else:
            note = None
        return {
            "station_id": station_id,
            "station_name": station.name,
            "generated_at": wall,
            "network_time": network_now,
            "rate": self.rate,
            "time_basis": time_basis(self.rate),
            "run_times_learned": learned,
            "note": note,
            "platforms": platforms,
        }

    def network_now(self) -> dict[str, Any]:
        """The network's time now (None before the first arrival) and what it is: what alerts' times are in."""
        wall = now_ms()
        with self.lock:
            network_now = self.clock.now(wall)
        return {"network_time": network_now, "rate": self.rate, "time_basis": time_basis(self.rate)}

    def summary(self) -> dict[str, Any]:
        with self.lock:
            learned = len(self.predictor.run_times)
            accuracy = self.accuracy.summary()
        return {
            "time_basis": time_basis(self.rate),
            "run_times_learned": learned,
            "error": "absolute difference between predicted and actual arrival, network seconds",
            "accuracy": accuracy,
        }


TypicalDwell = Callable[[tuple[str, int, str]], float | None]
"""A platform's (line, station_id, direction) typical dwell in network seconds, None when not measured."""


def arrivals_router(predictions: LivePredictions, typical_dwell: TypicalDwell | None = None) -> APIRouter:
    router = APIRouter()

    @router.get("/api/stations/{station_id}/arrivals")
    async def station_arrivals(
        station_id: int = Path(..., ge=0, le=2**31 - 1, description="The station's id (MAP_ID), e.g. 40380"),
    ) -> dict[str, Any]:
        if station_id not in predictions.network.stations:
            raise HTTPException(404, f"no station {station_id} on the {predictions.network.name.upper()} network")
        board = predictions.board(station_id)
        if typical_dwell is not None:
            for platform in board["platforms"]:
                measured = [typical_dwell((line, station_id, platform["direction"])) for line in platform["lines"]]
                known = [dwell for dwell in measured if dwell is not None]
                platform["dwell_s"] = round(statistics.median(known), 1) if known else None
        return board

    @router.get("/api/predictions")
    async def prediction_accuracy() -> dict[str, Any]:
        return predictions.summary()

    return router
