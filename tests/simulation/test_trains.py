"""Trains over a simulated weekday: line order, turnarounds, fleet sizes, ids, breakdowns, express, track
(no overtaking, separation, branches interleaving), run-time variation and known breakdowns."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from transit_status.networks import Network
from transit_status.simulation import (
    ArrivalEvent,
    BreakdownPolicy,
    ForcedBreakdown,
    SimulationConfig,
    SimulationEngine,
    TrainStatus,
    TrainTiming,
)

if TYPE_CHECKING:
    from .conftest import SimulatedDay


def _by_train(events: list) -> dict[str, list[ArrivalEvent]]:
    trains: dict[str, list[ArrivalEvent]] = defaultdict(list)
    for event in events:
        if isinstance(event, ArrivalEvent):
            trains[event.train_id].append(event)
    return trains


def test_trains_visit_every_station_in_line_order_both_ways_and_turn_at_the_ends(
    network: Network, weekday: SimulatedDay
) -> None:
    trains = _by_train(weekday.events)
    flips: dict[str, set[tuple[int, str]]] = defaultdict(set)
    moves: dict[str, set[str]] = defaultdict(set)
    for train_id, reports in trains.items():
        route = next(r for r in network.routes if r.name == reports[0].route)  # events carry the route's name
        index = {station_id: i for i, station_id in enumerate(route.station_ids)}
        last = len(route.stops) - 1
        assert reports[0].prev_station_id is None and reports[0].prev_direction is None
        for before, after in itertools.pairwise(reports):
            assert after.route == route.name and after.line == route.line
            # Each report names the previous one, so a consumer can move the train.
            assert (after.prev_station_id, after.prev_direction) == (before.station_id, before.direction)
            assert after.at >= before.at
            i, j = index[before.station_id], index[after.station_id]
            if after.direction == before.direction and i != j:
                step = 1 if after.direction == "a" else -1
                assert j == i + step, f"{train_id} skipped from {before.station_name} to {after.station_name}"
                moves[route.route_id].add(after.direction)
            elif after.direction != before.direction:
                # A turn happens in place, at the end of the direction it finishes.
                assert i == j == (last if before.direction == "a" else 0), (train_id, before, after)
                flips[route.route_id].add((i, after.direction))
            else:
                # Same station, same direction: only the Purple Express going out of / into service.
                assert route.part_time and i == 0 and after.direction == "a"
                assert TrainStatus.OUT_OF_SERVICE in (before.train_status, after.train_status)
    for route in network.routes:
        last = len(route.stops) - 1
        assert moves[route.route_id] == {"a", "b"}, route.route_id
        assert flips[route.route_id] == {(last, "b"), (0, "a")}, route.route_id


def test_loop_lines_turn_back_at_the_end_of_the_loop(network: Network, weekday: SimulatedDay) -> None:
    for route_id, end_name in [("brown", "Clark/Lake"), ("orange", "Adams/Wabash"), ("pink", "Washington/Wells")]:
        turns = [
            event
            for event in weekday.events
            if isinstance(event, ArrivalEvent)
            and event.route == network.route(route_id).name
            and event.direction == "b"
            and event.prev_direction == "a"
        ]
        assert turns and {event.station_name for event in turns} == {end_name}
        assert all(event.prev_station_id == event.station_id for event in turns)


def test_fleet_size_fits_each_route(network: Network, weekday: SimulatedDay) -> None:
    plans = {plan.route.route_id: plan for plan in weekday.engine.route_plans}
    for plan in plans.values():
        trains = len(plan.train_ids)
        assert trains >= 2
        assert trains == max(2, math.ceil(plan.round_trip_s / plan.route.headway_s))
        # ~32 km/h plus dwell: a round trip takes between 2x length at 50 km/h and at 20 km/h.
        km = 2 * plan.route.length_km
        assert km / 50 * 3600 < plan.round_trip_s < km / 20 * 3600 + 2 * 600
    assert len(plans["red"].train_ids) > len(plans["pink"].train_ids) > len(plans["yellow"].train_ids)
    total = sum(len(plan.train_ids) for plan in plans.values())
    assert 100 <= total <= 200  # CTA runs a few hundred cars in ~8-car trains: the right order of size


def test_train_ids_are_unique_and_look_like_the_seeds(network: Network, weekday: SimulatedDay) -> None:
    ids = [train_id for plan in weekday.engine.route_plans for train_id in plan.train_ids]
    assert len(ids) == len(set(ids))
    prefixes = {line.line_id: line.train_prefix for line in network.lines}
    for plan in weekday.engine.route_plans:
        for train_id in plan.train_ids:
            assert re.fullmatch(rf"{prefixes[plan.route.line]}\d{{3}}", train_id)
    assert "RL001" in ids and "BL001" in ids
    assert set(_by_train(weekday.events)) == set(ids)  # every train reports


def test_breakdowns_hold_a_train_then_it_carries_on(weekday: SimulatedDay) -> None:
    trains = _by_train(weekday.events)
    held = 0
    for reports in trains.values():
        for before, after in itertools.pairwise(reports):
            if before.train_status is TrainStatus.BROKEN_DOWN:
                held += 1
                assert after.station_id != before.station_id or after.direction != before.direction
                # Next report only after the hold (at least 3 minutes) plus the ride on.
                assert after.at - before.at >= timedelta(minutes=3)
    assert held >= 20  # ~1 per train per day
    statuses = {event.train_status for reports in trains.values() for event in reports}
    assert statuses == set(TrainStatus)


def test_each_report_says_when_the_train_left_the_last_station_so_its_dwell_there_is_known(
    weekday: SimulatedDay,
) -> None:
    dwells, held_dwells = [], []
    for reports in _by_train(weekday.events).values():
        # Where the train was placed at the start it was never seen arriving: no dwell there.
        assert reports[0].prev_departed_at is None and reports[1].prev_departed_at is None
        for before, after in itertools.pairwise(reports[1:]):
            if after.prev_departed_at is None:
                assert before.train_status is TrainStatus.OUT_OF_SERVICE
                continue
            # It left after arriving and before reaching the next station.
            assert before.at <= after.prev_departed_at <= after.at
            dwell = (after.prev_departed_at - before.at).total_seconds()
            if before.station_id == after.station_id:
                continue  # a terminal's layover, reported twice at one station
            (held_dwells if before.train_status is TrainStatus.BROKEN_DOWN else dwells).append(dwell)
    # Ordinary dwells are the timing model's (20-40 s, varied by up to 5 s either way), except where the train
    # waited for the platform ahead (test_a_platform_holds_one_train_at_a_time...); a breakdown's hold is spent
    # at the station.
    dwells.sort()
    assert dwells[0] >= 15 and dwells[len(dwells) * 9 // 10] <= 45
    assert held_dwells and min(held_dwells) >= 15 + 180


def test_no_breakdowns_when_disabled(network: Network) -> None:
    config = SimulationConfig(breakdowns=BreakdownPolicy(probability=0.0))
    engine = SimulationEngine(network, start=datetime(2024, 4, 10, 6), seed=1, config=config)
    events = engine.step(4 * 3600)
    assert not any(isinstance(e, ArrivalEvent) and e.train_status is TrainStatus.BROKEN_DOWN for e in events)


def test_purple_express_runs_on_weekday_rush_hours_only(
    network: Network, weekday: SimulatedDay, saturday: SimulatedDay
) -> None:
    chicago = ZoneInfo(network.timezone)
    express_name = network.route("purple-express").name
    express = [e for e in weekday.events if isinstance(e, ArrivalEvent) and e.route == express_name]
    linden = network.route("purple-express").stops[0].station_id
    departures = [
        e.at.astimezone(chicago)
        for e in express
        if e.station_id == linden
        and e.direction == "a"
        and e.train_status is TrainStatus.IN_SERVICE
        and e.prev_station_id is not None
    ]
    assert departures
    for moment in departures:
        hour = moment.hour + moment.minute / 60
        assert 6 <= hour < 9 or 15 <= hour < 19, moment
    # A trip that started runs to the Loop and back (~2 h); by midday and by midnight all are parked.
    midday = [e for e in express if 12 <= e.at.astimezone(chicago).hour < 15]
    assert all(e.train_status is TrainStatus.OUT_OF_SERVICE and e.station_id == linden for e in midday)
    parked = [p for p in weekday.engine.snapshot().trains if p.route == express_name]
    assert parked and all(p.status is TrainStatus.OUT_OF_SERVICE and p.station_id == linden for p in parked)
    # On a Saturday the express stays parked all day.
    parked_all_day = [e for e in saturday.events if isinstance(e, ArrivalEvent) and e.route == express_name]
    assert parked_all_day and all(e.train_status is TrainStatus.OUT_OF_SERVICE for e in parked_all_day)
    assert all(e.prev_station_id is None for e in parked_all_day)  # only the reports at the start


def _departures(trains: dict[str, list[ArrivalEvent]]) -> dict[tuple[str, datetime], datetime]:
    """(train, arrival time) -> when it left that station (from its next report)."""
    return {
        (before.train_id, before.at): after.prev_departed_at
        for reports in trains.values()
        for before, after in itertools.pairwise(reports)
        if after.prev_departed_at is not None
    }


def _platform_arrivals(events: list) -> dict[tuple[str, int, str], list[ArrivalEvent]]:
    """Arrivals at every platform of a line (line, station, direction), in time order; not a terminal's turn."""
    platforms: dict[tuple[str, int, str], list[ArrivalEvent]] = defaultdict(list)
    for event in events:
        if isinstance(event, ArrivalEvent) and event.prev_station_id != event.station_id:
            platforms[(event.line, event.station_id, event.direction)].append(event)
    return platforms


def test_trains_on_the_same_track_never_overtake(weekday: SimulatedDay) -> None:
    legs: dict[tuple[str, str, int, int], list[tuple[datetime, datetime]]] = defaultdict(list)
    for reports in _by_train(weekday.events).values():
        for before, after in itertools.pairwise(reports):
            if before.direction == after.direction and before.station_id != after.station_id:
                left = after.prev_departed_at or before.at  # placed at the start: its departure is not reported
                legs[(before.line, before.direction, before.station_id, after.station_id)].append((left, after.at))
    assert len(legs) > 200  # every leg of every line, Green's trunk and the Purple Local's track shared
    for leg, runs in legs.items():
        runs.sort()
        arrivals = [arrived for _, arrived in runs]
        assert arrivals == sorted(arrivals), f"a train overtook another on {leg}"  # they arrive as they left


def test_a_platform_holds_one_train_at_a_time_and_the_next_arrives_a_separation_after_it_left(
    network: Network, weekday: SimulatedDay
) -> None:
    separation = TrainTiming().min_separation_s
    left = _departures(_by_train(weekday.events))
    terminals = {(route.line, route.stops[-1].station_id, "a") for route in network.routes} | {
        (route.line, route.stops[0].station_id, "b") for route in network.routes
    }  # layover tracks: several trains at once
    queued = 0
    for platform, arrivals in _platform_arrivals(weekday.events).items():
        if platform in terminals:
            continue
        for ahead, behind in itertools.pairwise(arrivals):
            ahead_left = left.get((ahead.train_id, ahead.at))
            if ahead_left is None:
                continue  # placed at the start, or parked
            gap = (behind.at - ahead_left).total_seconds()
            assert gap >= separation - 1e-3, (platform, ahead.train_id, behind.train_id, gap)
            # Held back: it left the station before just as the one ahead left this one, or arrived exactly a
            # separation after it.
            if behind.prev_departed_at is not None and (
                abs(gap - separation) < 1e-3 or abs((behind.prev_departed_at - ahead_left).total_seconds()) < 1e-3
            ):
                queued += 1
    assert queued > 0  # it happens: behind breakdowns, and where branches merge


def test_branches_sharing_a_trunk_interleave(network: Network, weekday: SimulatedDay) -> None:
    """Green's two branches run every 12 minutes each; on the shared trunk a train comes every ~6."""
    ashland, cottage = network.route("green-ashland-63rd"), network.route("green-cottage-grove")
    trunk = [s for s in ashland.station_ids if s in set(cottage.station_ids)]
    middle = trunk[len(trunk) // 2]
    chicago = ZoneInfo(network.timezone)
    arrivals = [
        e.at
        for e in _platform_arrivals(weekday.events)[("green", middle, "a")]
        if 10 <= e.at.astimezone(chicago).hour < 14
    ]
    headways = sorted((b - a).total_seconds() for a, b in itertools.pairwise(arrivals))
    assert 5 * 60 <= headways[len(headways) // 2] <= 7 * 60
    assert headways[len(headways) // 10] >= 3 * 60  # not in pairs


def test_run_times_vary_around_the_schedule_and_not_at_all_when_told(network: Network) -> None:
    quiet = BreakdownPolicy(probability=0.0)
    exact = SimulationConfig(timing=TrainTiming(run_variation=0.0, dwell_variation_s=0.0), breakdowns=quiet)

    def rides(config: SimulationConfig) -> dict[tuple[int, int], list[float]]:
        engine = SimulationEngine(network, start=datetime(2024, 4, 10, 10), seed=5, config=config)
        runs: dict[tuple[int, int], list[float]] = defaultdict(list)
        for reports in _by_train(engine.step(2 * 3600)).values():
            for before, after in itertools.pairwise(reports):
                if after.prev_departed_at and after.route == "Red" and before.station_id != after.station_id:
                    ride = (after.at - after.prev_departed_at).total_seconds()
                    runs[(before.station_id, after.station_id)].append(ride)
        return runs

    varied, fixed = rides(SimulationConfig(breakdowns=quiet)), rides(exact)
    for leg, runs in fixed.items():
        assert max(runs) - min(runs) < 1e-3, leg  # the schedule, every time
        assert all(abs(run / runs[0] - 1) <= 0.05 + 1e-6 for run in varied[leg]), leg  # within 5 % of it
    spreads = sorted(max(runs) - min(runs) for runs in varied.values() if len(runs) >= 5)
    assert spreads and spreads[len(spreads) // 2] > 1.0


def test_a_known_breakdown_holds_that_train_and_the_ones_behind_follow_it(network: Network) -> None:
    hold = 15 * 60
    forced = ForcedBreakdown(hold_s=hold, after_s=600, route="red")
    config = SimulationConfig(breakdowns=BreakdownPolicy(probability=0.0, forced=(forced,)))
    start = datetime(2024, 4, 10, 10)
    engine = SimulationEngine(network, start=start, seed=9, config=config)
    events = [e for e in engine.step(3600) if isinstance(e, ArrivalEvent)]
    broken = [e for e in events if e.train_status is TrainStatus.BROKEN_DOWN]
    assert len(broken) == 1  # once, and no other
    held = broken[0]
    # The first Red train to arrive somewhere after 10 minutes (one comes every 6 at each of its platforms).
    assert held.route == "Red"
    assert engine.start + timedelta(seconds=600) <= held.at < engine.start + timedelta(seconds=600 + 360)
    trains = _by_train(events)
    after = trains[held.train_id][trains[held.train_id].index(held) + 1]
    assert after.train_status is TrainStatus.IN_SERVICE and after.prev_departed_at is not None
    assert (after.prev_departed_at - held.at).total_seconds() >= hold
    platforms = _platform_arrivals(events)
    # No train reaches the next station in the meantime: the ones behind do not pass it.
    at_next = [e for e in platforms[("red", after.station_id, after.direction)] if e.at > held.at]
    assert at_next[0].train_id == held.train_id
    # The next train at the held train's station comes exactly a separation after it left, having waited
    # behind it (its last report, at the station before, is long ago).
    behind = next(e for e in platforms[("red", held.station_id, held.direction)] if e.at > held.at)
    separation = (behind.at - after.prev_departed_at).total_seconds()
    assert separation == pytest.approx(TrainTiming().min_separation_s, abs=1e-3)
    waited_at = trains[behind.train_id][trains[behind.train_id].index(behind) - 1]
    assert (behind.at - waited_at.at).total_seconds() > hold / 2
    # The same seed and breakdown: the same run.
    again = SimulationEngine(network, start=start, seed=9, config=config).step(3600)
    assert [e for e in again if isinstance(e, ArrivalEvent)] == events
