"""Real time -> simulated time, kept out of the pure engine.

``SimulationClock`` maps a monotonic wall clock onto simulated time at ``speed`` simulated seconds
per real second; ``run_realtime`` is the small loop a producer runs: advance the engine to the
clock's "now", hand over the batch, sleep, repeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

EventT_co = TypeVar("EventT_co", covariant=True)

DEFAULT_SPEED = 10.0
"""Simulated seconds per real second: trains visibly move within seconds (a stop every ~15 s)."""


class SteppedSimulation(Protocol[EventT_co]):
    """What ``run_realtime`` drives: the CTA engine, London's barriers."""

    @property
    def now(self) -> datetime: ...

    def advance(self, to: datetime) -> list[EventT_co]: ...


class SimulationClock:
    def __init__(
        self,
        start: datetime,
        speed: float = DEFAULT_SPEED,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)

    def real_seconds_until(self, moment: datetime) -> float:
        """Real seconds until the clock shows ``moment`` (0 if it already has)."""
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)


def run_realtime(
    engine: SteppedSimulation[EventT_co],
    clock: SimulationClock | None = None,
    *,
    interval_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[list[EventT_co]]:
    """Yield the engine's events batch by batch, keeping simulated time in step with ``clock``.

    Each batch covers [previous now, clock.now()); an empty batch is yielded too, so a caller can
    flush or check for shutdown every ``interval_s`` real seconds.
    """
    clock = clock or SimulationClock(engine.now)
    while not should_stop():
        target = clock.now()
        yield engine.advance(target) if target > engine.now else []
        sleep(interval_s)
