"""Arrival predictions and their accuracy, as a pure model (docs/PREDICTIONS.md).

No Kafka, no threads, no clock of its own: times are passed in, in the network's time (epoch ms of the
arrivals' ``simulated_at``: simulated time when the trains are simulated, which runs ``rate`` times
faster than the wall clock). Every rule here is unit-tested directly, and the benchmark
(``benchmarks/prediction_accuracy.py``) runs this same code on the simulation.

* **Run times** (:class:`RunTimes`): the typical time from arriving at a station to arriving at the next
  one, per line and direction, as Flink SQL learns them from the arrivals (``sql/cta_run_times.sql``).
* **Forecasts** (:class:`Forecast`): on each report of a train, its way ahead to the end of its trip in
  this direction (:class:`RouteBook`), with the run times added up: the time after the report it reaches
  each station. Stops at the first leg with no run time learned yet, and at the terminal (the layover
  and the trip back are not predicted). A train's first report (no ``prev_station_id``) gives none: it
  was somewhere along a leg, not arriving.
* **Predicted arrival** at a station, asked at time ``now``: report time + run times; once a train is
  overdue at its next station, everything ahead of it moves on with the clock (it is "due" there, not
  early anywhere).
* **Accuracy** (:class:`Predictor.report`): when a train arrives, what its forecast in effect 1, 3 and 5
  minutes earlier said, against when it arrived. Samples whose train was broken down (held) at any report
  in between are kept apart: a hold of unknown length is not something run times can predict.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from transit_status.networks.model import Network, Route

HORIZONS_S: tuple[int, ...] = (60, 180, 300)
"""How long before an arrival its prediction is scored: 1, 3 and 5 minutes (network time)."""
BOARD_TRAINS = 4
"""Trains listed per platform."""
BOARD_HORIZON_S = 60 * 60
"""Trains further away than this (network time) are not listed."""
LOST_AFTER_S = 30 * 60
"""A train not reported for this long (network time) is not predicted: its reports are lost."""
DUE_S = 30
"""Under this many seconds away a train is 'Due' (Train Tracker's word)."""
CLOCK_JUMP_S = LOST_AFTER_S
"""A train reported this much earlier than its last report (network time) is on a new clock, not a
replay: a restarted simulation starts its clock again from the wall clock. Its history starts afresh."""


# ---- run times -----------------------------------------------------------------------------------
LegKey = tuple[str, str, int, int]
"""(line, direction, from_station_id, to_station_id)."""


@dataclass(frozen=True, slots=True)
class RunTime:
    """One leg's typical run (the run-times topic's record)."""

    line: str
    direction: str
    from_station_id: int
    to_station_id: int
    run_seconds: float
    samples: int
    learned_at: int
    """Network time of the newest run it is made of, epoch ms."""

    @property
    def key(self) -> LegKey:
        return (self.line, self.direction, self.from_station_id, self.to_station_id)


class RunTimes:
    """The learned run times by leg; :attr:`version` changes with every change."""

    def __init__(self, run_times: Iterable[RunTime] = ()) -> None:
        self._legs: dict[LegKey, RunTime] = {}
        self.version = 0
        for run_time in run_times:
            self.put(run_time)

    def put(self, run_time: RunTime) -> bool:
        """Hold ``run_time``; True if it changed anything."""
        if self._legs.get(run_time.key) == run_time:
            return False
        self._legs[run_time.key] = run_time
        self.version += 1
        return True

    def remove(self, key: LegKey) -> bool:
        if self._legs.pop(key, None) is None:
            return False
        self.version += 1
        return True

    def seconds(self, line: str, direction: str, from_station_id: int, to_station_id: int) -> float | None:
        found = self._legs.get((line, direction, from_station_id, to_station_id))
        return found.run_seconds if found is not None else None

    def __len__(self) -> int:
        return len(self._legs)

    def all(self) -> list[RunTime]:
        return sorted(self._legs.values(), key=lambda r: r.key)


# ---- where trains go -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Platform:
    """Where trains of one route arrive at a station going one way."""

    station_id: int
    line: str
    route_id: str
    direction: str
    stop_id: int | None
    name: str
    """The platform's name where the network has one (e.g. 'Howard (95th-bound)'), else the station's."""

    @property
    def key(self) -> str:
        """Platforms of several lines share a stop (the Loop): one board group per stop and direction."""
        return f"stop:{self.stop_id}:{self.direction}" if self.stop_id is not None else f"{self.line}:{self.direction}"


class RouteBook:
    """Each route's stations in travel order per direction, and its destinations (from the network)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.colours = {line.line_id: line.colour for line in network.lines}
        self._routes: dict[str, Route] = {route.route_id: route for route in network.routes}
        self._ways: dict[tuple[str, str], tuple[int, ...]] = {}
        self._positions: dict[tuple[str, str], dict[int, int]] = {}
        for route in network.routes:
            for direction in ("a", "b"):
                ids = route.station_ids if direction == "a" else tuple(reversed(route.station_ids))
                self._ways[(route.route_id, direction)] = ids
                positions: dict[int, int] = {}
                for position, station_id in enumerate(ids):
                    positions.setdefault(station_id, position)
                self._positions[(route.route_id, direction)] = positions

    def route_of(self, route_id: str, line: str, station_id: int) -> Route | None:
        """The train's route; a route name the network does not know (a real feed's) is the line's first
        route through the station."""
        route = self._routes.get(route_id)
        if route is not None and route.line == line:
            return route
        return next((r for r in self.network.routes if r.line == line and station_id in r.station_ids), None)

    def ahead(self, route: Route, direction: str, station_id: int) -> tuple[int, ...]:
        """The stations after ``station_id`` to the end of the trip in ``direction`` (empty at the terminal)."""
        position = self._positions.get((route.route_id, direction), {}).get(station_id)
        if position is None:
            return ()
        return self._ways[(route.route_id, direction)][position + 1 :]

    def destination(self, route: Route, direction: str) -> str:
        """Where a trip ends, as riders read it: the terminal's name; 'Loop' for trips into the Loop."""
        if route.ends_on_loop and direction == "a":
            return "Loop"
        terminal = route.station_ids[-1] if direction == "a" else route.station_ids[0]
        return self.network.stations[terminal].name

    def platforms(self, station_id: int) -> list[Platform]:
        """Every platform of the station a train can arrive at (not a trip's first station)."""
        found = []
        for route in self.network.routes:
            for direction in ("a", "b"):
                way = self._ways[(route.route_id, direction)]
                position = self._positions[(route.route_id, direction)].get(station_id)
                if position is None or position == 0:
                    continue
                stop = route.stops[route.station_ids.index(station_id)]
                stop_id = stop.stop_id(direction)  # type: ignore[arg-type]
                known = self.network.stops.get(stop_id) if stop_id is not None else None
                name = known.name if known is not None else self.network.stations[way[position]].name
                found.append(Platform(station_id, route.line, route.route_id, direction, stop_id, name))
        return found


# ---- forecasts -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Report:
    """A train reported at a station (one arrival record)."""

    train_id: str
    line: str
    route: str
    station_id: int
    direction: str
    status: str
    at_ms: int
    """Network time of the report (``simulated_at``), epoch ms."""
    first: bool = False
    """The train's first report (no ``prev_station_id``): where it was seen, not an arrival."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """A train's predictions from one report: seconds after it to each station ahead, in order."""

    report: Report
    ahead: tuple[tuple[int, float], ...]
    valid_from_ms: int
    """From when (network time) the board showed it: the report's time, or when new run times came."""
    route_id: str | None = None
    destination: str | None = None

    def arrival_ms(self, station_id: int, now_ms: int) -> int | None:
        """When the train is predicted at ``station_id``, asked at ``now_ms``; None if not on its way."""
        offset_s = next((offset for ahead_id, offset in self.ahead if ahead_id == station_id), None)
        if offset_s is None:
            return None
        first_s = self.ahead[0][1]
        # Overdue at the next station: it is due there now, and everything beyond moves on with it.
        next_ms = max(self.report.at_ms + round(first_s * 1000), now_ms)
        return next_ms + round((offset_s - first_s) * 1000)

    @property
    def predicts(self) -> bool:
        return bool(self.ahead)


def forecast(report: Report, book: RouteBook, run_times: RunTimes, valid_from_ms: int | None = None) -> Forecast:
    """``report``'s predictions with the run times known now."""
    valid_from = report.at_ms if valid_from_ms is None else valid_from_ms
    route = book.route_of(report.route, report.line, report.station_id)
    if route is None or report.first or report.status == "out_of_service":
        return Forecast(report, (), valid_from, route.route_id if route else None)
    ahead: list[tuple[int, float]] = []
    total_s = 0.0
    previous = report.station_id
    for station_id in book.ahead(route, report.direction, report.station_id):
        run_s = run_times.seconds(report.line, report.direction, previous, station_id)
        if run_s is None:
            break  # nothing is known beyond a leg not learned yet
        total_s += run_s
        ahead.append((station_id, total_s))
        previous = station_id
    return Forecast(report, tuple(ahead), valid_from, route.route_id, book.destination(route, report.direction))


# ---- accuracy ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sample:
    """One scored prediction: made ``horizon_s`` before the train arrived at ``station_id``."""

    horizon_s: int
    train_id: str
    station_id: int
    predicted_ms: int
    arrived_ms: int
    disrupted: bool
    """The train was broken down (held) at a report between the prediction and the arrival."""

    @property
    def error_s(self) -> float:
        """Predicted minus actual: positive when the train came earlier than predicted."""
        return (self.predicted_ms - self.arrived_ms) / 1000.0


@dataclass(frozen=True, slots=True)
class Unpredicted:
    """An arrival with no prediction ``horizon_s`` before it (its train was turning, or a leg unknown)."""

    horizon_s: int
    train_id: str
    station_id: int


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (linear between the nearest ranks); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Accuracy:
    """The scored predictions so far: the last ``keep`` absolute errors per horizon and service, and counts."""

    horizons_s: tuple[int, ...] = HORIZONS_S
    keep: int = 5000
    errors: dict[tuple[int, bool], deque[float]] = field(default_factory=dict)
    counts: dict[tuple[int, bool], int] = field(default_factory=dict)
    unpredicted: dict[int, int] = field(default_factory=dict)

    def add(self, outcomes: Iterable[Sample | Unpredicted]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Unpredicted):
                self.unpredicted[outcome.horizon_s] = self.unpredicted.get(outcome.horizon_s, 0) + 1
                continue
            key = (outcome.horizon_s, outcome.disrupted)
            self.errors.setdefault(key, deque(maxlen=self.keep)).append(abs(outcome.error_s))
            self.counts[key] = self.counts.get(key, 0) + 1

    def summary(self) -> list[dict[str, Any]]:
        """Per horizon: p50/p90 of the absolute error (seconds, network time) in normal service and
        where a breakdown came between, over the last ``keep`` arrivals each, and how many were scored."""
        rows = []
        for horizon in self.horizons_s:
            row: dict[str, Any] = {"horizon_s": horizon, "unpredicted": self.unpredicted.get(horizon, 0)}
            for disrupted, name in ((False, "normal"), (True, "breakdowns")):
                recent = list(self.errors.get((horizon, disrupted), ()))
                row[name] = {
                    "samples": self.counts.get((horizon, disrupted), 0),
                    "p50_s": _rounded(quantile(recent, 0.5)),
                    "p90_s": _rounded(quantile(recent, 0.9)),
                }
            rows.append(row)
        return rows


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# ---- the predictor -------------------------------------------------------------------------------
class Predictor:
    """Every train's forecasts (the latest, and those in effect over the last few minutes for scoring)."""

    def __init__(
        self, network: Network, run_times: RunTimes | None = None, horizons_s: tuple[int, ...] = HORIZONS_S
    ) -> None:
        self.book = RouteBook(network)
        self.run_times = run_times if run_times is not None else RunTimes()
        self.horizons_s = horizons_s
        self._keep_ms = (max(horizons_s, default=0) + 120) * 1000
        self._history: dict[str, deque[Forecast]] = {}
        self._run_times_seen = self.run_times.version
        self._swept_ms: int | None = None

    # ---- writes ----------------------------------------------------------------------------------
    def report(self, report: Report, score: bool = True) -> list[Sample | Unpredicted]:
        """A train reported at a station: score what was predicted for this arrival (``score``: a live
        arrival, not the start-up replay), then forecast from here."""
        self._forget_lost(report.at_ms)
        history = self._history.setdefault(report.train_id, deque())
        if history and report.at_ms < history[-1].report.at_ms:
            if history[-1].report.at_ms - report.at_ms <= CLOCK_JUMP_S * 1000:
                return []  # an older report (another replay): the train is already further
            history.clear()  # the network's clock went back (a restarted simulation): a new timeline
        elif report.first:
            # Seen afresh (a restarted producer places its trains anew, on a clock that goes on): what was
            # shown before belongs to the old run and is not scored against this one's arrivals.
            history.clear()
        outcomes = self._score(report, history) if score and not report.first else []
        history.append(forecast(report, self.book, self.run_times))
        self._prune(history, report.at_ms)
        return outcomes

    def refresh(self, now_ms: int) -> int:
        """Run times changed: forecast every train again from its last report; returns how many changed.

        The new forecasts count from ``now_ms`` (what the board shows from now on); a train's earlier
        predictions stay as they were for scoring."""
        if self.run_times.version == self._run_times_seen:
            return 0
        self._run_times_seen = self.run_times.version
        changed = 0
        for history in self._history.values():
            latest = history[-1]
            again = forecast(latest.report, self.book, self.run_times, max(now_ms, latest.valid_from_ms))
            if again.ahead != latest.ahead:
                history.append(again)
                self._prune(history, now_ms)
                changed += 1
        return changed

    def _forget_lost(self, now_ms: int) -> None:
        """Forget trains not reported within ``LOST_AFTER_S`` of ``now_ms`` either way (lost, out of the feed,
        or of another clock), at most once per ``LOST_AFTER_S`` of network time: the trains held stay those
        that run, however long the dashboard does."""
        if self._swept_ms is not None and abs(now_ms - self._swept_ms) < LOST_AFTER_S * 1000:
            return
        self._swept_ms = now_ms
        lost = [
            train_id
            for train_id, history in self._history.items()
            if abs(now_ms - history[-1].report.at_ms) > LOST_AFTER_S * 1000
        ]
        for train_id in lost:
            del self._history[train_id]

    def _prune(self, history: deque[Forecast], now_ms: int) -> None:
        # Keep what was in effect up to the longest horizon ago: the newest forecast from before then, and all since.
        cutoff = now_ms - self._keep_ms
        while len(history) > 1 and history[1].valid_from_ms <= cutoff:
            history.popleft()

    def _score(self, arrival: Report, history: deque[Forecast]) -> list[Sample | Unpredicted]:
        outcomes: list[Sample | Unpredicted] = []
        starts = [f.valid_from_ms for f in history]
        for horizon in self.horizons_s:
            asked_ms = arrival.at_ms - horizon * 1000
            index = bisect.bisect_right(starts, asked_ms) - 1
            if index < 0:
                continue  # the train was not known yet: nothing was shown, nothing missed
            shown = history[index]
            same_trip = shown.report.direction == arrival.direction and shown.report.line == arrival.line
            predicted = shown.arrival_ms(arrival.station_id, asked_ms) if same_trip else None
            if predicted is None:
                outcomes.append(Unpredicted(horizon, arrival.train_id, arrival.station_id))
                continue
            disrupted = any(f.report.status == "broken_down" for f in list(history)[index:])
            outcomes.append(Sample(horizon, arrival.train_id, arrival.station_id, predicted, arrival.at_ms, disrupted))
        return outcomes

    # ---- reads -----------------------------------------------------------------------------------
    def latest(self, train_id: str) -> Forecast | None:
        history = self._history.get(train_id)
        return history[-1] if history else None

    def trains(self) -> int:
        return len(self._history)

    def board(self, station_id: int, now_ms: int, per_platform: int = BOARD_TRAINS) -> list[dict[str, Any]]:
        """The station's arrivals board at ``now_ms``: per platform and direction, the next trains."""
        platforms = self.book.platforms(station_id)
        groups: dict[str, dict[str, Any]] = {}
        for platform in platforms:
            group = groups.setdefault(
                platform.key,
                {
                    "platform": platform.name,
                    "stop_id": platform.stop_id,
                    "direction": platform.direction,
                    "lines": [],
                    "destinations": [],
                    "trains": [],
                },
            )
            if platform.line not in group["lines"]:
                group["lines"].append(platform.line)
            route = self.book.route_of(platform.route_id, platform.line, station_id)
            assert route is not None
            destination = self.book.destination(route, platform.direction)
            if destination not in group["destinations"]:
                group["destinations"].append(destination)
        keys = {(p.line, p.direction): p.key for p in platforms}
        for history in self._history.values():
            shown = history[-1]
            report = shown.report
            key = keys.get((report.line, report.direction))
            if key is None or abs(now_ms - report.at_ms) > LOST_AFTER_S * 1000:
                continue  # lost, or reported on another clock (before a restarted simulation)
            predicted = shown.arrival_ms(station_id, now_ms)
            if predicted is None or predicted - now_ms > BOARD_HORIZON_S * 1000:
                continue
            seconds = max(0.0, (predicted - now_ms) / 1000.0)
            groups[key]["trains"].append(
                {
                    "train_id": report.train_id,
                    "line": report.line,
                    "colour": self.book.colours.get(report.line),
                    "route": shown.route_id,
                    "destination": shown.destination,
                    "predicted_at": predicted,
                    "seconds": round(seconds, 1),
                    "minutes": minutes_text(seconds),
                    "delayed": report.status == "broken_down",
                    "last_station_id": report.station_id,
                    "stops_away": next(i for i, (sid, _) in enumerate(shown.ahead) if sid == station_id) + 1,
                }
            )
        board = []
        for group in groups.values():
            group["trains"] = sorted(group["trains"], key=lambda t: (t["predicted_at"], t["train_id"]))[:per_platform]
            board.append(group)
        return board


def minutes_text(seconds: float) -> str:
    """As Train Tracker says it: 'Due' under half a minute, else whole minutes."""
    if seconds < DUE_S:
        return "Due"
    return f"{max(1, round(seconds / 60))} min"


# ---- the network's clock -------------------------------------------------------------------------
class NetworkClock:
    """The network's time now, from the arrivals: each says its network time (``simulated_at``) and when
    it was produced (wall clock); network time runs ``rate`` times faster than the wall clock (the
    simulation's speed; 1 for a real feed). An arrival is produced a little after its network time, so
    each gives a lower bound of the network's time; the tightest of the last ``window_ms`` wins."""

    def __init__(self, rate: float, window_ms: int = 30_000) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.window_ms = window_ms
        self._anchors: deque[tuple[int, float]] = deque()
        self._best: float | None = None

    def observe(self, network_ms: int, produced_ms: int) -> None:
        """An arrival at network time ``network_ms``, produced at wall time ``produced_ms``."""
        offset = network_ms - self.rate * produced_ms
        while self._anchors and self._anchors[-1][1] <= offset:
            self._anchors.pop()  # a monotonic queue: the front is the largest offset in the window
        self._anchors.append((produced_ms, offset))
        while self._anchors[0][0] < produced_ms - self.window_ms:
            self._anchors.popleft()
        self._best = self._anchors[0][1]

    def now(self, wall_ms: int) -> int | None:
        """Network time at ``wall_ms``; None before the first arrival."""
        if self._best is None:
            return None
        return round(self._best + self.rate * wall_ms)
