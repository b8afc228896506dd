"""The engine's contract: determinism, stepping, snapshots, time handling, speed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from transit_status.networks import Network
from transit_status.simulation import (
    ArrivalEvent,
    SimulationEngine,
    TrainStatus,
    TurnstileEvent,
    WeatherReading,
)

if TYPE_CHECKING:
    from .conftest import SimulatedDay

START = datetime(2024, 4, 10, 7, 30)


def test_same_seed_same_events_different_seed_different_events(network: Network) -> None:
    first = SimulationEngine(network, start=START, seed=42).step(2 * 3600)
    again = SimulationEngine(network, start=START, seed=42).step(2 * 3600)
    other = SimulationEngine(network, start=START, seed=43).step(2 * 3600)
    assert first == again
    assert first != other
    turnstiles = [e for e in first if isinstance(e, TurnstileEvent)]
    assert turnstiles != [e for e in other if isinstance(e, TurnstileEvent)]


def test_how_time_is_cut_up_does_not_change_what_happens(network: Network) -> None:
    whole = SimulationEngine(network, start=START, seed=7).step(3600)
    engine = SimulationEngine(network, start=START, seed=7)
    pieces: list = []
    for seconds in [0, 0.5, 1, 59.5, 1.25, 600, 937.75, 1, 1000, 998.0]:
        pieces += engine.step(seconds)
    pieces += engine.advance(engine.start + timedelta(hours=1))
    assert engine.now == engine.start + timedelta(hours=1)
    assert pieces == whole


def test_events_are_in_time_order_within_the_interval(network: Network) -> None:
    engine = SimulationEngine(network, start=START, seed=3)
    first = engine.step(600)
    second = engine.step(600)
    assert first and second
    assert all(engine.start <= e.at < engine.start + timedelta(seconds=600) for e in first)
    assert all(engine.start + timedelta(seconds=600) <= e.at < engine.now for e in second)
    times = [e.at for e in first + second]
    assert times == sorted(times)
    assert {type(e) for e in first} == {ArrivalEvent, TurnstileEvent, WeatherReading}


def test_every_train_is_reported_at_the_start(network: Network) -> None:
    engine = SimulationEngine(network, start=START, seed=3)
    at_start = [e for e in engine.step(1) if isinstance(e, ArrivalEvent) and e.at == engine.start]
    train_ids = {train_id for plan in engine.route_plans for train_id in plan.train_ids}
    assert {e.train_id for e in at_start} == train_ids
    assert all(e.prev_station_id is None for e in at_start)
    # Trains start spread out along their routes, not bunched at a terminal.
    red = {e.station_id for e in at_start if e.route == network.route("red").name}
    assert len(red) > 15


def test_snapshot_matches_the_last_report_of_every_train(network: Network, weekday: SimulatedDay) -> None:
    last: dict[str, ArrivalEvent] = {}
    for event in weekday.events:
        if isinstance(event, ArrivalEvent):
            last[event.train_id] = event
    snapshot = weekday.engine.snapshot()
    assert snapshot.at == weekday.engine.now
    assert {p.train_id for p in snapshot.trains} == set(last)
    for position in snapshot.trains:
        event = last[position.train_id]
        assert (position.station_id, position.direction, position.status, position.stop_id, position.since) == (
            event.station_id,
            event.direction,
            event.train_status,
            event.stop_id,
            event.at,
        )
        assert position == snapshot.train(position.train_id)


def test_snapshot_during_a_run_tracks_arrivals(network: Network) -> None:
    engine = SimulationEngine(network, start=START, seed=11)
    engine.step(1)
    before = {p.train_id: p for p in engine.snapshot().trains}
    moved = [e for e in engine.step(300) if isinstance(e, ArrivalEvent)]
    after = engine.snapshot()
    for event in moved[-20:]:
        position = after.train(event.train_id)
        if position.since == event.at:
            assert position.station_id == event.station_id
    assert sum(1 for p in after.trains if p.station_id != before[p.train_id].station_id) > 50


def test_naive_times_are_network_local_and_events_are_utc(network: Network) -> None:
    engine = SimulationEngine(network, start=datetime(2024, 7, 1, 8, 0), seed=1)
    assert engine.start == datetime(2024, 7, 1, 13, 0, tzinfo=UTC)  # CDT is UTC-5
    assert engine.local_time().hour == 8
    aware = SimulationEngine(network, start=datetime(2024, 7, 1, 8, 0, tzinfo=ZoneInfo("America/Chicago")), seed=1)
    assert aware.start == engine.start
    events = engine.advance(datetime(2024, 7, 1, 8, 1))
    assert events and all(e.at.tzinfo is UTC for e in events)


def test_time_does_not_run_backwards(network: Network) -> None:
    engine = SimulationEngine(network, start=START, seed=1)
    engine.step(60)
    with pytest.raises(ValueError, match="back in time"):
        engine.advance(START)
    with pytest.raises(ValueError):
        engine.step(-1)
    assert engine.step(0) == []


def test_default_start_is_now(network: Network) -> None:
    engine = SimulationEngine(network)
    assert abs((engine.start - datetime.now(UTC)).total_seconds()) < 5


def test_a_simulated_day_is_cheap(weekday: SimulatedDay) -> None:
    # ~400k events (330k turnstile entries, 70k arrivals). Generous bound for slow CI machines;
    # typically 1-2.5 s of CPU here.
    assert weekday.cpu_seconds < 15
    arrivals = sum(1 for e in weekday.events if isinstance(e, ArrivalEvent))
    assert 40_000 < arrivals < 120_000
    broken = sum(1 for e in weekday.events if isinstance(e, ArrivalEvent) and e.train_status is TrainStatus.BROKEN_DOWN)
    assert 0 < broken < arrivals / 100
