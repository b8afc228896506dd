"""Whole simulated days of London's barriers, once per session (pure: no platform)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from transit_status.config import load_settings
from transit_status.london.barriers import BarrierConfig, BarrierEvent, BarrierSimulation
from transit_status.networks import Network, load_network

# One day of each of the counts' day types, in June 2023 (the data's year, no clock change, no bank holiday).
DAYS = {
    "monday": date(2023, 6, 5),
    "tuesday_thursday": date(2023, 6, 7),
    "friday": date(2023, 6, 9),
    "saturday": date(2023, 6, 10),
    "sunday": date(2023, 6, 11),
}
SEED = 20230607
# A twentieth of London's travellers: a whole day is 200-400k taps, seconds of CPU on a busy machine,
# and the smallest open station (362 entries a weekday) still has 18 a day to measure.
SCALE = 0.05


@dataclass
class SimulatedDay:
    day: date
    barriers: BarrierSimulation
    events: list[BarrierEvent]


@pytest.fixture(scope="session")
def london() -> Network:
    return load_network(load_settings(network="tfl"))


def simulate_day(network: Network, day: date, seed: int = SEED, scale: float = SCALE) -> SimulatedDay:
    """A whole local day (midnight to midnight) in one step."""
    start = datetime(day.year, day.month, day.day)
    barriers = BarrierSimulation(network, start=start, seed=seed, config=BarrierConfig(ridership_scale=scale))
    return SimulatedDay(day, barriers, barriers.advance(start + timedelta(days=1)))


@pytest.fixture(scope="session")
def simulated_days(london: Network) -> dict[str, SimulatedDay]:
    """Day type -> its simulated day, each made on first use."""
    return _LazyDays(london)


class _LazyDays(dict[str, SimulatedDay]):
    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    def __missing__(self, day_type: str) -> SimulatedDay:
        self[day_type] = simulate_day(self.network, DAYS[day_type])
        return self[day_type]
