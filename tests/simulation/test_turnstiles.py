"""Turnstile entries over whole simulated days against the dataset's day-type averages."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from transit_status.networks import Network
from transit_status.simulation import TurnstileEvent

if TYPE_CHECKING:
    from .conftest import SimulatedDay


def _entries(day: SimulatedDay) -> list[TurnstileEvent]:
    return [event for event in day.events if isinstance(event, TurnstileEvent)]


@pytest.mark.parametrize(
    ("fixture", "day_type"), [("weekday", "weekday"), ("saturday", "saturday"), ("sunday", "sunday_holiday")]
)
def test_daily_entries_per_station_are_within_ten_percent_of_the_data(
    network: Network, request: pytest.FixtureRequest, fixture: str, day_type: str
) -> None:
    day: SimulatedDay = request.getfixturevalue(fixture)
    assert network.day_type_of(day.day) == day_type
    counts = Counter(event.station_id for event in _entries(day))
    for station_id, station in network.stations.items():
        expected = station.daily_entries[day_type]
        simulated = counts.get(station_id, 0)
        if expected == 0:
            assert simulated == 0, f"{station.name} is closed but had {simulated} entries"
        else:
            assert abs(simulated - expected) <= 0.10 * expected, (station.name, day_type, simulated, expected)
    assert set(counts) <= set(network.stations)


def test_entries_carry_the_station_and_one_of_its_lines(network: Network, weekday: SimulatedDay) -> None:
    by_line: dict[int, Counter[str]] = {}
    for event in _entries(weekday):
        station = network.stations[event.station_id]
        assert event.station_name == station.name
        assert event.line in station.lines
        by_line.setdefault(event.station_id, Counter())[event.line] += 1
    # A multi-line station splits its entries evenly between its lines.
    clark_lake = by_line[40380]
    assert set(clark_lake) == set(network.stations[40380].lines)
    assert max(clark_lake.values()) - min(clark_lake.values()) <= 1


def test_entries_follow_the_hourly_curve(network: Network, weekday: SimulatedDay) -> None:
    chicago = ZoneInfo(network.timezone)
    per_hour = Counter(event.at.astimezone(chicago).hour for event in _entries(weekday))
    total = sum(per_hour.values())
    for hour in range(24):
        assert per_hour[hour] / total == pytest.approx(network.hourly_shares[hour], rel=0.05)
    assert per_hour[8] > 10 * per_hour[3]


def test_entries_are_spread_in_time_and_in_order(weekday: SimulatedDay) -> None:
    times = [event.at for event in weekday.events]
    assert times == sorted(times)
    entries = _entries(weekday)
    assert entries[0].at >= weekday.engine.start
    # Entries fall anywhere inside their minute, not on tick edges.
    by_second = Counter(event.at.second for event in entries)
    for second in range(60):
        assert by_second[second] == pytest.approx(len(entries) / 60, rel=0.05)
