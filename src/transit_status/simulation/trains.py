"""Trains: route plans (where a train reports and how long until the next report) and the fleet.

Model (constants in :class:`TrainTiming` and :class:`BreakdownPolicy`):

* A train runs a route's stations in order ('a'), turns at the last one, runs back ('b'), turns at
  the first one, and so on. At a terminal it is reported twice: on arrival (old direction) and,
  after ``layover_s``, on the departure side (new direction). For routes ending on the Loop the
  turn is at the last Loop stop.
* Time between consecutive stations = distance / ``speed_kmh`` (an average including acceleration
  and braking; at least ``min_travel_s``) + the dwell at the station being left. Dwell grows with
  the station's ridership: ``dwell_min_s`` at an empty station up to ``dwell_max_s`` at
  ``busy_station_entries`` entries a day or more. That is the schedule (:class:`RoutePlan`); each run
  varies around it: every leg's ride by a uniform +/-``run_variation`` (a share) and every dwell by a
  uniform +/-``dwell_variation_s``.
* Fleet: ``ceil(round trip / route headway)`` trains per route, at least ``min_trains_per_route``,
  spread evenly around the round trip at the start (a line's later routes shifted by a share of the
  headway, so branches that share a trunk interleave instead of running in pairs).
* Track: a line's platform (line, station, direction) holds one train at a time, whichever of the
  line's routes it runs (Green's branches share the trunk, the Purple Express runs the Local's track).
  A train leaves a station only once the platform ahead is free: the train before it has left it, and
  it arrives there at least ``min_separation_s`` after that one left. So trains never overtake: the ones
  behind a held train wait at the stations behind it, one per platform, and follow it when it moves.
  Terminals are exempt (the arrival that starts a layover and the departure side: layover tracks hold
  several trains). Lines do not block each other, on the Loop either: the model turns Loop routes back
  at their last Loop stop rather than running the one-way circuit, so sharing the Loop's platforms
  between lines would invent conflicts the real Loop does not have.
* Schedule recovery: a train keeps count of how late it is against its schedule; at a terminal it
  shortens its layover (down to ``min_layover_s``) to catch up, or waits longer if it is early. So
  variations and the queues behind a breakdown do not add up over a day.
* Breakdowns: on each station arrival a train breaks down with ``probability``; it is reported
  ``broken_down`` there and held for a uniform ``min_hold_s``-``max_hold_s``, then carries on and
  is ``in_service`` again at its next station. A :class:`ForcedBreakdown` holds a chosen train (or the
  first of a route) at a known time, for tests and demos. Each train draws from its own ``random.Random``
  seeded with (engine seed, train id), and trains meet in the order of a heap of (time, sequence), so
  the outcome does not depend on how the engine is stepped.
* Part-time routes (service windows): trips start at the first station only inside a window; the
  train with rank k leaves ``k * headway`` after a window opens (if still inside it). A train
  reaching the first station outside its windows is reported ``out_of_service`` there and waits.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import deque
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
    min_layover_s: float = 120.0
    """A late train shortens its layover down to this to catch up with its schedule."""
    min_trains_per_route: int = 2
    run_variation: float = 0.05
    """Each leg's ride varies by a uniform share up to this either way (0: every run as scheduled)."""
    dwell_variation_s: float = 5.0
    """Each dwell varies by a uniform number of seconds up to this either way."""
    min_separation_s: float = 90.0
    """A train arrives at a platform at least this long after the train ahead left it."""

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
    forced: tuple[ForcedBreakdown, ...] = ()
    """Known breakdowns, on top of the random ones (``probability=0``: only these)."""


@dataclass(frozen=True, slots=True)
class ForcedBreakdown:
    """Hold a train for ``hold_s`` at the first station it arrives at ``after_s`` or more into the run.

    The train: ``train_id``, or the first train of ``route`` (a route id) to arrive anywhere but a
    terminal after that time, or, with neither, the first train of all. Each one happens once.
    """

    hold_s: float
    after_s: float = 0.0
    route: str | None = None
    train_id: str | None = None

    def __post_init__(self) -> None:
        if self.hold_s <= 0 or self.after_s < 0:
            raise ValueError("a forced breakdown needs hold_s > 0 and after_s >= 0")

    def matches(self, route_id: str, train_id: str, when: float) -> bool:
        return (
            when >= self.after_s
            and (self.route is None or self.route == route_id)
            and (self.train_id is None or self.train_id == train_id)
        )


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


_INITIAL, _VISIT, _DISPATCH, _DEPART = 0, 1, 2, 3
_FREE = -1
_NO_BLOCK = -1


class _Train:
    __slots__ = (
        "action", "blocks", "departs", "last", "plan", "planned_next", "rank", "ready", "rng", "seen", "since",
        "status", "visit",
    )  # fmt: skip

    def __init__(self, plan: RoutePlan, rank: int, seed: int | str, blocks: tuple[int, ...]) -> None:
        self.plan = plan
        self.rank = rank
        self.rng = random.Random(f"{seed}:{plan.train_ids[rank]}")
        self.blocks = blocks
        """Per visit of the plan: the platform it occupies there (an index into the fleet's), or _NO_BLOCK."""
        self.visit = 0
        self.status = TrainStatus.IN_SERVICE
        self.last: Visit = plan.visits[0]
        """The visit last reported (or, before the first report, where the train starts)."""
        self.since = 0.0
        self.action = _INITIAL
        self.departs: float | None = None
        """When the train leaves the station last reported (None: not known, e.g. where it was placed)."""
        self.ready = 0.0
        """When the train is ready to leave the station last reported (dwell and any hold done)."""
        self.planned_next = 0.0
        """When the next report is due on the train's schedule (how late it runs: now minus this)."""
        self.seen = False
        """Seen arriving where it was last reported (not placed there at the start): its departure counts."""


class Fleet:
    """All trains of a network, advanced event by event (a heap of next report and departure times)."""

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
        self._forced = list(self.breakdowns.forced)
        # Platforms (line, station, direction): who holds each, when the last one left, who waits for it.
        platforms: dict[tuple[str, int, str], int] = {}
        self._occupant: list[int] = []
        self._free_at: list[float] = []
        self._waiting: list[deque[int]] = []
        offsets: dict[str, int] = {}
        line_routes = {line.line_id: sum(r.line == line.line_id for r in network.routes) for line in network.lines}
        for plan in self.plans:
            blocks = tuple(self._platform(platforms, plan.route.line, visit) for visit in plan.visits)
            # A line's routes interleave where they share track: the j-th is shifted j/n of its headway.
            shift = offsets.get(plan.route.line, 0) * plan.route.headway_s / line_routes[plan.route.line]
            offsets[plan.route.line] = offsets.get(plan.route.line, 0) + 1
            for rank in range(len(plan.train_ids)):
                self._place(_Train(plan, rank, seed, blocks), shift)

    def _platform(self, platforms: dict[tuple[str, int, str], int], line: str, visit: Visit) -> int:
        if visit.turnaround or visit.gap_s == visit.dwell_s:  # a terminal: the layover's arrival, the departure side
            return _NO_BLOCK
        key = (line, visit.station_id, visit.direction)
        if key not in platforms:
            platforms[key] = len(self._occupant)
            self._occupant.append(_FREE)
            self._free_at.append(-math.inf)
            self._waiting.append(deque())
        return platforms[key]

    # ---- set-up --------------------------------------------------------------------------------
    def _place(self, train: _Train, shift: float) -> None:
        plan = train.plan
        index = len(self._trains)
        self._trains.append(train)
        if plan.route.part_time and not self._runs_at(plan.route, 0.0):
            train.visit = 0
            train.status = TrainStatus.OUT_OF_SERVICE
            self._set_position(train, plan.visits[0], 0.0)
            self._push(0.0, index)  # initial report, then wait for the first window
            return
        phase = (train.rank * plan.round_trip_s / len(plan.train_ids) + shift) % plan.round_trip_s
        visit, until_next = plan.position_at(phase)
        train.visit = visit
        train.planned_next = until_next
        block = train.blocks[visit]
        if block != _NO_BLOCK and self._occupant[block] == _FREE:
            self._occupant[block] = index
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
            if action == _DEPART:
                self._depart(train, index, when)
            elif action == _INITIAL:
                visit = plan.visits[train.visit]
                out.append((when, self._report(train, visit, when, None, None)))
                if train.status is TrainStatus.OUT_OF_SERVICE:
                    self._schedule_dispatch(train, index, when)
                else:
                    # Placed part-way: it leaves when its ride on would still arrive on time.
                    train.ready = max(when, train.planned_next - (visit.gap_s - visit.dwell_s))
                    train.action = _DEPART
                    self._push(train.ready, index)
            elif action == _DISPATCH:
                visit = plan.visits[0]
                train.status = TrainStatus.IN_SERVICE
                train.seen = True
                out.append((when, self._report(train, visit, when, train.last.station_id, train.last.direction)))
                train.planned_next = when + visit.gap_s  # a new trip: on time
                self._ready(train, index, when, visit.dwell_s)
            else:
                visit = plan.visits[train.visit]
                prev_station, prev_direction = train.last.station_id, train.last.direction
                late = when - train.planned_next
                if train.visit == 0 and plan.route.part_time and not self._runs_at(plan.route, when):
                    train.status = TrainStatus.OUT_OF_SERVICE
                    out.append((when, self._report(train, visit, when, prev_station, prev_direction)))
                    train.departs = None
                    self._schedule_dispatch(train, index, when)
                    continue
                train.status = TrainStatus.IN_SERVICE
                train.seen = True
                hold = self._hold(train, visit, when)
                if hold:
                    train.status = TrainStatus.BROKEN_DOWN
                out.append((when, self._report(train, visit, when, prev_station, prev_direction)))
                train.planned_next = when - late + visit.gap_s
                if visit.gap_s == visit.dwell_s:  # a terminal's layover: catch up, or wait if early
                    stay = max(self.timing.min_layover_s, visit.dwell_s - late)
                else:
                    stay = self._vary_dwell(train, visit.dwell_s)
                # A breakdown holds the train at the station: it leaves after its dwell and the hold.
                self._ready(train, index, when, stay + hold)
        return out

    def _hold(self, train: _Train, visit: Visit, when: float) -> float:
        if visit.turnaround:
            return 0.0
        if self._forced and visit.gap_s != visit.dwell_s:
            route_id, train_id = train.plan.route.route_id, train.plan.train_ids[train.rank]
            for forced in self._forced:
                if forced.matches(route_id, train_id, when):
                    self._forced.remove(forced)
                    return forced.hold_s
        if train.rng.random() < self.breakdowns.probability:
            return train.rng.uniform(self.breakdowns.min_hold_s, self.breakdowns.max_hold_s)
        return 0.0

    def _vary_dwell(self, train: _Train, dwell: float) -> float:
        spread = self.timing.dwell_variation_s
        return max(0.0, dwell + train.rng.uniform(-spread, spread)) if spread else dwell

    def _ready(self, train: _Train, index: int, when: float, stay: float) -> None:
        train.ready = when + stay
        train.action = _DEPART
        self._push(train.ready, index)

    def _depart(self, train: _Train, index: int, when: float) -> None:
        """Leave the visit last reported for the next one, if its platform is free; else wait for it."""
        plan = train.plan
        here = train.visit
        ahead = (here + 1) % len(plan.visits)
        block = train.blocks[ahead]
        occupant = self._occupant
        if block != _NO_BLOCK and occupant[block] not in (_FREE, index):
            self._waiting[block].append(index)  # woken by the train ahead leaving that platform
            return
        visit = plan.visits[here]
        ride = visit.gap_s - visit.dwell_s
        if ride and self.timing.run_variation:
            ride *= 1.0 + train.rng.uniform(-self.timing.run_variation, self.timing.run_variation)
        arrives = when + ride
        if block != _NO_BLOCK:
            occupant[block] = index
            arrives = max(arrives, self._free_at[block] + self.timing.min_separation_s)
        leaves = arrives - ride
        train.departs = leaves if train.seen else None
        mine = train.blocks[here]
        if mine != _NO_BLOCK and occupant[mine] == index:
            self._free_at[mine] = leaves
            waiting = self._waiting[mine]
            if waiting:
                # The first train waiting for this platform gets it now, so none can jump the queue.
                follower = waiting.popleft()
                occupant[mine] = follower
                self._push(leaves, follower)
            else:
                occupant[mine] = _FREE
        train.visit = ahead
        train.action = _VISIT
        self._push(arrives, index)

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
