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
  one headway apart: the round trip is padded to a whole number of headways with layover (half at
  each end). A line's later routes are shifted by a share of the headway, so branches that share a
  trunk interleave (Green's two 12-minute branches give a train every 6 minutes on the trunk).
* Track: a line's platform (line, station, direction) holds one train at a time, whichever of the
  line's routes it runs (Green's branches share the trunk, the Purple Express runs the Local's track),
  and the track leading to it holds one train per ``block_s`` of running (signal blocks; at least one).
  A train leaves a station only when there is room on the track ahead; at its end it arrives only as
  the first train on that track and at least ``min_separation_s`` after the train ahead left the
  platform, else it waits at the signal. So trains never overtake: the ones behind a held train wait
  behind it, on the track and at the stations before, and follow it when it moves. Terminals are
  exempt (the arrival that starts a layover and the departure side: layover tracks hold several
  trains, which may leave in another order than they arrived). Lines do not block each other, on the
  Loop either: the model turns Loop routes back at their last Loop stop rather than running the
  one-way circuit, so sharing the Loop's platforms between lines would invent conflicts the real Loop
  does not have.
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
from dataclasses import dataclass, replace
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
    block_s: float = 120.0
    """Signals split the track between two stations into blocks of about this much running, one train each."""

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
        return index, max(0.0, self.starts[index] + self.visits[index].gap_s - phase_s)  # >= 0 despite rounding


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
        running = sum(visit.gap_s for visit in visits)
        count = max(timing.min_trains_per_route, math.ceil(running / route.headway_s))
        # The timetable: a train every headway, so the round trip is a whole number of headways; the spare
        # time is layover, half at each end. (A line's routes then keep their places on a shared trunk.)
        spare = (count * route.headway_s - running) / 2
        visits = tuple(
            replace(visit, gap_s=visit.gap_s + spare, dwell_s=visit.dwell_s + spare)
            if visit.gap_s == visit.dwell_s
            else visit
            for visit in visits
        )
        starts, elapsed = [], 0.0
        for visit in visits:
            starts.append(elapsed)
            elapsed += visit.gap_s
        elapsed = count * route.headway_s  # exactly (the sum may round a hair above)
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
        "action", "arrives", "blocks", "departs", "last", "plan", "planned_next", "rank", "ready", "rng", "seen",
        "since", "status", "visit", "waiting",
    )  # fmt: skip

    def __init__(self, plan: RoutePlan, rank: int, seed: int | str, blocks: tuple[int, ...]) -> None:
        self.plan = plan
        self.rank = rank
        self.rng = random.Random(f"{seed}:{plan.train_ids[rank]}")
        self.blocks = blocks
        """Per visit of the plan: its platform (an index into the fleet's), or _NO_BLOCK at a terminal."""
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
        self.arrives = 0.0
        """When its ride to the next station ends (it arrives then, or waits for the platform)."""
        self.planned_next = 0.0
        """When the next report is due on the train's schedule (how late it runs: now minus this)."""
        self.seen = False
        """Seen arriving where it was last reported (not placed there at the start): its departure counts."""
        self.waiting = False
        """Stopped with nothing in the heap: for the platform ahead, or for room on the track to it."""


class Fleet:
    """All trains of a network, advanced event by event (a heap of arrival and departure times).

    Track: per platform of a line (line, station, direction), the train at it (``_occupant``), when the
    last one left it, the trains on the track leading to it in order (``_approach``, at most
    ``_capacity``: one per ``block_s`` of the longest ride there) and those waiting at the station before
    for room on that track (``_entering``). A train arrives only as the first on its track and once the
    platform has been free for ``min_separation_s``; so none overtakes. A waiting train has no event in
    the heap: the train that frees what it waits for wakes it, so the work stays per event, not per train.
    """

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
        platforms: dict[tuple[str, int, str], int] = {}
        self._occupant: list[int] = []
        self._free_at: list[float] = []
        self._approach: list[deque[int]] = []
        self._capacity: list[int] = []
        self._entering: list[deque[int]] = []
        line_routes = {line.line_id: sum(r.line == line.line_id for r in network.routes) for line in network.lines}
        shifted: dict[str, int] = {}
        placed: list[tuple[_Train, float]] = []
        for plan in self.plans:
            blocks = tuple(self._platform(platforms, plan, position) for position in range(len(plan.visits)))
            # A line's routes interleave where they share track: the j-th is shifted j/n of its headway.
            line = plan.route.line
            shift = shifted.get(line, 0) * plan.route.headway_s / line_routes[line]
            shifted[line] = shifted.get(line, 0) + 1
            placed += [(_Train(plan, rank, seed, blocks), shift) for rank in range(len(plan.train_ids))]
        for train, shift in placed:
            self._place(train, shift)

    def _platform(self, platforms: dict[tuple[str, int, str], int], plan: RoutePlan, position: int) -> int:
        visit = plan.visits[position]
        if visit.turnaround or visit.gap_s == visit.dwell_s:  # a terminal: the layover's arrival, the departure side
            return _NO_BLOCK
        key = (plan.route.line, visit.station_id, visit.direction)
        if key not in platforms:
            platforms[key] = len(self._occupant)
            self._occupant.append(_FREE)
            self._free_at.append(-math.inf)
            self._approach.append(deque())
            self._capacity.append(1)
            self._entering.append(deque())
        block = platforms[key]
        before = plan.visits[position - 1]
        room = math.ceil((before.gap_s - before.dwell_s) / self.timing.block_s)
        self._capacity[block] = max(self._capacity[block], room, 1)
        return block

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
        self._set_position(train, plan.visits[visit], 0.0)
        self._push(0.0, index)

    def _push(self, when: float, index: int) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, index))

    def _wake(self, index: int, when: float) -> None:
        train = self._trains[index]
        if train.waiting:
            train.waiting = False
            self._push(when, index)

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
                self._start(train, index, when, out)
            elif action == _DISPATCH:
                visit = plan.visits[0]
                train.status = TrainStatus.IN_SERVICE
                train.seen = True
                out.append((when, self._report(train, visit, when, train.last.station_id, train.last.direction)))
                train.planned_next = when + visit.gap_s  # a new trip: on time
                self._ready(train, index, when, visit.dwell_s)
            else:
                block = train.blocks[train.visit]
                if block != _NO_BLOCK and not self._may_arrive(train, index, block, when):
                    continue
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

    def _start(self, train: _Train, index: int, when: float, out: list[tuple[float, ArrivalEvent]]) -> None:
        """The first report, where the train was placed; then it leaves, or is already on its way on."""
        plan = train.plan
        visit = plan.visits[train.visit]
        out.append((when, self._report(train, visit, when, None, None)))
        if train.status is TrainStatus.OUT_OF_SERVICE:
            self._schedule_dispatch(train, index, when)
            return
        ride = visit.gap_s - visit.dwell_s
        if train.planned_next >= ride:  # at the station: it holds the platform until it leaves
            block = train.blocks[train.visit]
            if block != _NO_BLOCK and self._occupant[block] == _FREE:
                self._occupant[block] = index
            self._ready(train, index, when, train.planned_next - ride)
            return
        # Between stations: on the track to the next one, in order of arrival.
        train.visit = (train.visit + 1) % len(plan.visits)
        train.arrives = when + train.planned_next
        block = train.blocks[train.visit]
        if block != _NO_BLOCK:
            approach = self._approach[block]
            position = len(approach)
            while position and self._trains[approach[position - 1]].arrives > train.arrives:
                position -= 1
            approach.insert(position, index)
        train.action = _VISIT
        self._push(train.arrives, index)

    def _may_arrive(self, train: _Train, index: int, block: int, when: float) -> bool:
        """At the end of its ride: in only as the first on the track, to a platform free long enough."""
        approach = self._approach[block]
        if approach[0] != index or self._occupant[block] != _FREE:
            train.waiting = True  # woken when the train ahead arrives, or leaves the platform
            return False
        earliest = self._free_at[block] + self.timing.min_separation_s
        if when < earliest:
            self._push(earliest, index)
            return False
        approach.popleft()
        self._occupant[block] = index
        if approach:
            self._wake(approach[0], when)  # now first: it waits for this one to leave
        if self._entering[block]:
            self._wake(self._entering[block].popleft(), when)  # room on the track behind
        return True

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
        """Leave for the next station if there is room on the track to it; else wait at the platform."""
        plan = train.plan
        here = train.visit
        ahead = (here + 1) % len(plan.visits)
        block = train.blocks[ahead]
        if block != _NO_BLOCK:
            approach = self._approach[block]
            if len(approach) >= self._capacity[block]:
                train.waiting = True
                self._entering[block].append(index)  # woken when one on that track arrives
                return
            approach.append(index)
        visit = plan.visits[here]
        ride = visit.gap_s - visit.dwell_s
        if ride and self.timing.run_variation:
            ride *= 1.0 + train.rng.uniform(-self.timing.run_variation, self.timing.run_variation)
        train.departs = when if train.seen else None
        mine = train.blocks[here]
        if mine != _NO_BLOCK and self._occupant[mine] == index:
            self._occupant[mine] = _FREE
            self._free_at[mine] = when
            if self._approach[mine]:
                self._wake(self._approach[mine][0], when + self.timing.min_separation_s)
        train.visit = ahead
        train.arrives = when + ride
        train.action = _VISIT
        self._push(train.arrives, index)

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
