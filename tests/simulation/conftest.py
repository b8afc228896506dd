"""Shared, expensive-once fixtures: full simulated days of the CTA network (``network``, tests/conftest.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from transit_status.networks import Network
from transit_status.simulation import Event, SimulationEngine

WEEKDAY = date(2024, 4, 10)  # a Wednesday in April 2024, the month of the ridership data (no DST change)
SATURDAY = date(2024, 4, 13)
SUNDAY = date(2024, 4, 14)
SEED = 20240410


@dataclass
class SimulatedDay:
    day: date
    engine: SimulationEngine
    events: list[Event]
    cpu_seconds: float


def simulate_day(network: Network, day: date, seed: int = SEED) -> SimulatedDay:
    """A whole local day (midnight to midnight) in one step."""
    start = datetime(day.year, day.month, day.day)
    engine = SimulationEngine(network, start=start, seed=seed)
    began = time.process_time()
    events = engine.advance(start + timedelta(days=1))
    return SimulatedDay(day, engine, events, time.process_time() - began)


@pytest.fixture(scope="session")
def weekday(network: Network) -> SimulatedDay:
    return simulate_day(network, WEEKDAY)


@pytest.fixture(scope="session")
def saturday(network: Network) -> SimulatedDay:
    return simulate_day(network, SATURDAY)


@pytest.fixture(scope="session")
def sunday(network: Network) -> SimulatedDay:
    return simulate_day(network, SUNDAY)
