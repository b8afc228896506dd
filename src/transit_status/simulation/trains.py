"""Trains: route plans (where a train reports and how long until the next report) and the fleet.

Model (constants in :class:`TrainTiming` and :class:`BreakdownPolicy`):

* A train runs a route's stations in order ('a'), turns at the last one, runs back ('b'), turns at
  the first one, and so on. At a terminal it is reported twice: on arrival (old direction) and,
  after ``layover_s``, on the departure side (new direction). For routes ending on the Loop the
  turn is at the last Loop stop.
* Time between consecutive stations = distance / ``speed_kmh`` (an average including acceleration
  and braking; at least ``min_travel_s``) + the dwell at the station being left. Dwell grows with
  the station's ridership: ``dwell_min_s`` at an empty station up to ``dwell_max_s`` at
  ``busy_station_entries`` entries a day or more.
* Fleet: ``ceil(round trip / route headway)`` trains per route, at least ``min_trains_per_route``,
  spread evenly around the round trip at the start. Trains are independent: no track occupancy, so
  a train can catch up with (and pass) a broken-down one.
* Breakdowns: on each station arrival a train breaks down with ``probability``; it is reported
  ``broken_down`` there and held for a uniform ``min_hold_s``-``max_hold_s``, then carries on and
  is ``in_service`` again at its next station. Each train draws from its own ``random.Random``
  seeded with (engine seed, train id), so the outcome does not depend on how the engine is stepped.
* Part-time routes (service windows): trips start at the first station only inside a window; the
  train with rank k leaves ``k * headway`` after a window opens (if still inside it). A train
  reaching the first station outside its windows is reported ``out_of_service`` there and waits.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass
from datetime import datetime

from transit_status.networks.model import Network, Route, Station
from transit_status.simulation.events import ArrivalEvent, Direction, TrainStatus
from transit_status.simulation.timebase import TimeBase


@dataclass(frozen=True, slots=True)
class TrainTiming:
    speed_kmh: float = 32.0
    min_travel_s: float = 45.0
    dwell_min_s: float = 20.0
    dwell_max_s: float = 40.0
    busy_station_entries: float = 15_000.0
    layover_s: float = 300.0
    min_trains_per_route: int = 2

    def travel_s(self, km: float) -> float:
        return max(self.min_travel_s, km / self.speed_kmh * 3600.0)

    def dwell_s(self, station: Station) -> float:
        busiest = max(station.daily_entries.values(), default=0.0)
        return self.dwell_min_s + (self.dwell_max_s - self.dwell_min_s) * min(1.0, busiest / self.busy_station_entries)


@dataclass(frozen=True, slots=True)
class BreakdownPolicy:
    probability: float = 0.002
    """Chance per station arrival: ~1 breakdown per train per day, ~1 train broken down at any time."""
    min_hold_s: float = 180.0
    max_hold_s: float = 900.0


@dataclass(frozen=True, slots=True)
class Visit:
    """One report of a train's round trip: a station platform and the time until the next report."""

    stop_index: int
    direction: Direction
    station_id: int
    station_name: str
    stop_id: int | None
    turnaround: bool
    """The departure-side report at a terminal (after the layover), not an arrival."""
    gap_s: float
    dwell_s: float
    """The part of ``gap_s`` the train stands at the station (at a route's end: the layover)."""


@dataclass(frozen=True, slots=True)
class RoutePlan:
    route: Route
    visits: tuple[Visit, ...]
    """'a' from the first station (its departure side) to the last, then 'b' back likewise."""
    starts: tuple[float, ...]
    """Seconds from the start of the round trip to each visit."""
    round_trip_s: float
    train_ids: tuple[str, ...]

    def position_at(self, phase_s: float) -> tuple[int, float]:
        """Index of the visit a train ``phase_s`` into the round trip last made, and seconds to its next."""
        phase_s %= self.round_trip_s
        index = bisect.bisect_right(self.starts, phase_s) - 1
        return index, self.starts[index] + self.visits[index].gap_s - phase_s


@dataclass(frozen=True, slots=True)
class TrainPosition:
    """Where a train was last reported (what a dashboard fed by the arrival events shows)."""

    train_id: str
    line: str
    route: str
    station_id: int
    station_name: str
    direction: Direction
    status: TrainStatus
    stop_id: int | None
    since: datetime


def plan_routes(network: Network, timing: TrainTiming) -> tuple[RoutePlan, ...]:
    """Every route's round trip and fleet; train ids are numbered per line in route order."""
    numbers = {line.line_id: 0 for line in network.lines}
    prefixes = {line.line_id: line.train_prefix for line in network.lines}
    plans = []
    for route in network.routes:
        visits = _round_trip(network, route, timing)
        starts, elapsed = [], 0.0
        for visit in visits:
            starts.append(elapsed)
            elapsed += visit.gap_s
        count = max(timing.min_trains_per_route, math.ceil(elapsed / route.headway_s))
        ids = []
        for _ in range(count):
            numbers[route.line] += 1
            ids.append(f"{prefixes[route.line]}{numbers[route.line]:03d}")
        plans.append(RoutePlan(route, visits, tuple(starts), elapsed, tuple(ids)))
    return tuple(plans)


def _round_trip(network: Network, route: Route, timing: TrainTiming) -> tuple[Visit, ...]:
    stops = route.stops
    last = len(stops) - 1
    visits = []
    for direction, order in (("a", range(0, last + 1)), ("b", range(last, -1, -1))):
        indices = list(order)
        for position, index in enumerate(indices):
            stop = stops[index]
            station = network.stations[stop.station_id]
            at_end = position == len(indices) - 1
            if at_end:
                gap = dwell = timing.layover_s
            else:
                km = abs(stops[indices[position + 1]].km - stop.km)
                dwell = timing.dwell_s(station)
                gap = dwell + timing.travel_s(km)
            visits.append(
                Visit(
                    stop_index=index,
                    direction=direction,
                    station_id=stop.station_id,
                    station_name=station.name,
                    stop_id=stop.stop_id(direction),
                    turnaround=position == 0,
                    gap_s=gap,
                    dwell_s=dwell,
                )
            )
    return tuple(visits)


_INITIAL, _VISIT, _DISPATCH = 0, 1, 2


class _Train:
    __slots__ = ("action", "departs", "last", "plan", "rank", "rng", "since", "status", "visit")

    def __init__(self, plan: RoutePlan, rank: int, seed: int | str) -> None:
        self.plan = plan
        self.rank = rank
        self.rng = random.Random(f"{seed}:{plan.train_ids[rank]}")
        self.visit = 0
        self.status = TrainStatus.IN_SERVICE
        self.last: Visit = plan.visits[0]
        """The visit last reported (or, before the first report, where the train starts)."""
        self.since = 0.0
        self.action = _INITIAL
        self.departs: float | None = None
        """When the train leaves the station last reported (None: not known, e.g. where it was placed)."""


class Fleet:
    """All trains of a network, advanced event by event (a heap of next report times)."""

    def __init__(
        self,
        network: Network,
        timebase: TimeBase,
        seed: int | str,
        timing: TrainTiming | None = None,
        breakdowns: BreakdownPolicy | None = None,
    ) -> None:
        self.network = network
        self.timebase = timebase
        self.timing = timing or TrainTiming()
        self.breakdowns = breakdowns or BreakdownPolicy()
        self.plans = plan_routes(network, self.timing)
        self._trains: list[_Train] = []
        self._heap: list[tuple[float, int, int]] = []
        self._sequence = 0
        for plan in self.plans:
            for rank in range(len(plan.train_ids)):
                self._place(_Train(plan, rank, seed))

    # ---- set-up --------------------------------------------------------------------------------
    def _place(self, train: _Train) -> None:
        plan = train.plan
        index = len(self._trains)
        self._trains.append(train)
        if plan.route.part_time and not self._runs_at(plan.route, 0.0):
            train.visit = 0
            train.status = TrainStatus.OUT_OF_SERVICE
            self._set_position(train, plan.visits[0], 0.0)
            self._push(0.0, index)  # initial report, then wait for the first window
            return
        phase = train.rank * plan.round_trip_s / len(plan.train_ids)
        visit, _ = plan.position_at(phase)
        train.visit = visit
        self._set_position(train, plan.visits[visit], 0.0)
        self._push(0.0, index)

    def _push(self, when: float, index: int) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, index))

    @staticmethod
    def _set_position(train: _Train, visit: Visit, when: float) -> None:
        train.last = visit
        train.since = when

    # ---- service windows -----------------------------------------------------------------------
    def _runs_at(self, route: Route, when: float) -> bool:
        local = self.timebase.local(when)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        return route.runs_at(self.timebase.day_type(local.date()), hour)

    def _next_dispatch(self, route: Route, rank: int, after: float) -> float:
        day = self.timebase.local(after).date()
        for ahead in range(15):
            current = day.fromordinal(day.toordinal() + ahead)
            day_type = self.timebase.day_type(current)
            for window in sorted(route.service_windows, key=lambda w: w.start_hour):
                if day_type not in window.day_types:
                    continue
                leave = self.timebase.local_seconds(current, window.start_hour) + rank * route.headway_s
                if after < leave < self.timebase.local_seconds(current, window.end_hour):
                    return leave
        return math.inf

    # ---- running ---------------------------------------------------------------------------------
    def run_until(self, end: float) -> list[tuple[float, ArrivalEvent]]:
        """Process every report before ``end`` (engine seconds); returns them in time order."""
        out: list[tuple[float, ArrivalEvent]] = []
        heap = self._heap
        trains = self._trains
        while heap and heap[0][0] < end:
            when, _, index = heapq.heappop(heap)
            train = trains[index]
            plan = train.plan
            action = train.action
            if action == _INITIAL:
                visit = plan.visits[train.visit]
                out.append((when, self._report(train, visit, when, None, None)))
                if train.status is TrainStatus.OUT_OF_SERVICE:
                    self._schedule_dispatch(train, index, when)
                else:
                    _, until_next = plan.position_at(train.rank * plan.round_trip_s / len(plan.train_ids))
                    train.visit = (train.visit + 1) % len(plan.visits)
                    train.action = _VISIT
                    self._push(when + until_next, index)
            elif action == _DISPATCH:
                visit = plan.visits[0]
                train.status = TrainStatus.IN_SERVICE
                out.append((when, self._report(train, visit, when, train.last.station_id, train.last.direction)))
                train.departs = when + visit.dwell_s
                train.visit = 1
                train.action = _VISIT
                self._push(when + visit.gap_s, index)
            else:
                visit = plan.visits[train.visit]
                prev_station, prev_direction = train.last.station_id, train.last.direction
                if train.visit == 0 and plan.route.part_time and not self._runs_at(plan.route, when):
                    train.status = TrainStatus.OUT_OF_SERVICE
                    out.append((when, self._report(train, visit, when, prev_station, prev_direction)))
                    train.departs = None
                    self._schedule_dispatch(train, index, when)
                    continue
                hold = 0.0
                train.status = TrainStatus.IN_SERVICE
                if not visit.turnaround and train.rng.random() < self.breakdowns.probability:
                    train.status = TrainStatus.BROKEN_DOWN
                    hold = train.rng.uniform(self.breakdowns.min_hold_s, self.breakdowns.max_hold_s)
                out.append((when, self._report(train, visit, when, prev_station, prev_direction)))
                # A breakdown holds the train at the station: it leaves after its dwell and the hold.
                train.departs = when + visit.dwell_s + hold
                train.visit = (train.visit + 1) % len(plan.visits)
                self._push(when + visit.gap_s + hold, index)
        return out

    def _schedule_dispatch(self, train: _Train, index: int, when: float) -> None:
        train.visit = 0
        train.action = _DISPATCH
        leave = self._next_dispatch(train.plan.route, train.rank, when)
        if leave != math.inf:
            self._push(leave, index)

    def _report(
        self,
        train: _Train,
        visit: Visit,
        when: float,
        prev_station: int | None,
        prev_direction: Direction | None,
    ) -> ArrivalEvent:
        departed = train.departs if prev_station is not None else None
        self._set_position(train, visit, when)
        route = train.plan.route
        return ArrivalEvent(
            station_id=visit.station_id,
            station_name=visit.station_name,
            train_id=train.plan.train_ids[train.rank],
            direction=visit.direction,
            line=route.line,
            route=route.name,
            train_status=train.status,
            prev_station_id=prev_station,
            prev_direction=prev_direction,
            stop_id=visit.stop_id,
            at=self.timebase.to_datetime(when),
            prev_departed_at=self.timebase.to_datetime(departed) if departed is not None else None,
        )

    # ---- queries ---------------------------------------------------------------------------------
    def positions(self) -> tuple[TrainPosition, ...]:
        """Every train's last reported position (before the first report: where it starts)."""
        positions = []
        for train in self._trains:
            plan = train.plan
            visit = train.last
            positions.append(
                TrainPosition(
                    train_id=plan.train_ids[train.rank],
                    line=plan.route.line,
                    route=plan.route.name,
                    station_id=visit.station_id,
                    station_name=visit.station_name,
                    direction=visit.direction,
                    status=train.status,
                    stop_id=visit.stop_id,
                    since=self.timebase.to_datetime(train.since),
                )
            )
        return tuple(positions)
