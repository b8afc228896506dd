"""Hourly weather readings: cadence, statuses, seasons."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from statistics import mean
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from transit_status.networks import Network
from transit_status.simulation import CHICAGO_CLIMATE, SimulationEngine, WeatherReading, WeatherStatus
from transit_status.simulation.weather import WeatherModel

if TYPE_CHECKING:
    from .conftest import SimulatedDay


def test_one_reading_per_simulated_hour(network: Network, weekday: SimulatedDay) -> None:
    chicago = ZoneInfo(network.timezone)
    readings = [event for event in weekday.events if isinstance(event, WeatherReading)]
    assert [reading.at.astimezone(chicago).hour for reading in readings] == list(range(24))
    assert all(reading.at.astimezone(chicago).minute == 0 for reading in readings)
    assert {reading.status for reading in readings} <= set(WeatherStatus)
    assert weekday.engine.snapshot().weather == readings[-1]


def test_first_reading_at_an_unaligned_start_then_on_the_hour(network: Network) -> None:
    engine = SimulationEngine(network, start=datetime(2024, 4, 10, 9, 37, 12), seed=1)
    readings = [event for event in engine.step(3 * 3600) if isinstance(event, WeatherReading)]
    local = [reading.at.astimezone(ZoneInfo(network.timezone)) for reading in readings]
    assert [(t.hour, t.minute) for t in local] == [(9, 37), (10, 0), (11, 0), (12, 0)]


def _month_of_readings(month: int, seed: int = 5) -> list[tuple[datetime, float, WeatherStatus]]:
    model = WeatherModel(CHICAGO_CLIMATE, seed)
    start = datetime(2024, month, 1, tzinfo=ZoneInfo("America/Chicago"))
    out = []
    for hour in range(31 * 24):
        moment = start + timedelta(hours=hour)
        temperature, status = model.reading(moment)
        out.append((moment, temperature, status))
    return out


def test_january_is_colder_than_july_and_both_are_plausible() -> None:
    january = _month_of_readings(1)
    july = _month_of_readings(7)
    january_mean = mean(t for _, t, _ in january)
    july_mean = mean(t for _, t, _ in july)
    assert 5 < january_mean < 40  # normal 23.8 °F
    assert 60 < july_mean < 88  # normal 74.0 °F
    assert july_mean - january_mean > 30
    assert all(-30 < t < 70 for _, t, _ in january)
    assert all(40 < t < 110 for _, t, _ in july)


def test_afternoons_are_warmer_than_nights() -> None:
    readings = _month_of_readings(7)
    afternoons = mean(t for moment, t, _ in readings if moment.hour == 15)
    nights = mean(t for moment, t, _ in readings if moment.hour == 4)
    assert afternoons - nights > 10  # July's normal high-low range is ~20 °F


def test_every_status_occurs_and_persists() -> None:
    statuses = [status for month in (1, 4, 7, 10) for _, _, status in _month_of_readings(month)]
    assert set(statuses) == set(WeatherStatus)
    changes = sum(1 for a, b in itertools.pairwise(statuses) if a != b)
    assert changes < len(statuses) / 3  # weather lasts a few hours, it does not flicker


def test_weather_is_deterministic_under_the_seed() -> None:
    assert _month_of_readings(3, seed=9) == _month_of_readings(3, seed=9)
    assert _month_of_readings(3, seed=9) != _month_of_readings(3, seed=10)


def test_readings_follow_the_local_clock_across_daylight_saving_changes(network: Network) -> None:
    chicago = ZoneInfo(network.timezone)
    spring = SimulationEngine(network, start=datetime(2024, 3, 10, 0, 0), seed=1)  # 02:00 -> 03:00
    readings = [e for e in spring.step(4 * 3600) if isinstance(e, WeatherReading)]
    assert [r.at.astimezone(chicago).hour for r in readings] == [0, 1, 3, 4]
    autumn = SimulationEngine(network, start=datetime(2024, 11, 3, 0, 0), seed=1)  # 02:00 -> 01:00
    readings = [e for e in autumn.step(4 * 3600) if isinstance(e, WeatherReading)]
    assert [r.at.astimezone(chicago).hour for r in readings] == [0, 1, 1, 2]
