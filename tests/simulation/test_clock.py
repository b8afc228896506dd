"""The real-time side: a clock that maps wall time onto simulated time, and the driver loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from transit_status.networks import Network
from transit_status.simulation import DEFAULT_SPEED, SimulationClock, SimulationEngine, run_realtime


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


START = datetime(2024, 4, 10, 12, 0, tzinfo=UTC)


def test_clock_runs_speed_times_faster_than_real_time() -> None:
    fake = FakeTime()
    clock = SimulationClock(START, speed=10.0, monotonic=fake.monotonic)
    assert clock.now() == START
    fake.sleep(3)
    assert clock.now() == START + timedelta(seconds=30)
    assert clock.real_seconds_until(START + timedelta(seconds=50)) == pytest.approx(2.0)
    assert clock.real_seconds_until(START) == 0.0
    assert DEFAULT_SPEED >= 10
    with pytest.raises(ValueError):
        SimulationClock(START, speed=0)


def test_driver_keeps_the_engine_in_step_with_the_clock(network: Network) -> None:
    fake = FakeTime()
    engine = SimulationEngine(network, start=START, seed=1)
    clock = SimulationClock(engine.now, speed=10.0, monotonic=fake.monotonic)
    batches = []
    for batch in run_realtime(engine, clock, interval_s=0.5, sleep=fake.sleep, should_stop=lambda: len(batches) >= 8):
        batches.append(batch)
        assert engine.now == clock.now()
    assert len(batches) == 8
    assert batches[0] == []  # the clock has not moved yet
    assert engine.now == START + timedelta(seconds=35)
    reference = SimulationEngine(network, start=START, seed=1).step(35)
    assert [event for batch in batches for event in batch] == reference
