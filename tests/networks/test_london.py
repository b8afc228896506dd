"""The London Underground as built from data/tfl: lines, stations, counts per day type, calendar."""

from __future__ import annotations

import csv
import math
from datetime import date

import pytest

from transit_status.config import load_settings
from transit_status.networks import Network, load_network, load_network_from
from transit_status.networks.london import DAY_TYPES, london_day_type

DATA = load_settings(network="tfl").network_data_dir


@pytest.fixture(scope="module")
def london() -> Network:
    return load_network(load_settings(network="tfl"))


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_eleven_lines_in_tfl_colours(london: Network) -> None:
    assert london.name == "tfl"
    assert london.timezone == "Europe/London"
    assert len(london.lines) == 11
    assert london.line("central").colour == "#e32017"
    assert london.line("hammersmith-city").name == "Hammersmith & City"


def test_every_underground_station_with_its_nlc_zone_coordinates_and_lines(london: Network) -> None:
    assert len(london.stations) == 270
    stations_per_line = {line: 0 for line in london.line_ids}
    for station in london.stations.values():
        assert station.nlc == station.station_id
        assert 51.3 < station.latitude < 51.8 and -0.7 < station.longitude < 0.3, station.name
        assert station.lines and set(station.lines) <= set(london.line_ids)
        assert station.zones and all(1 <= zone <= 9 for zone in station.zones)
        for line in station.lines:
            stations_per_line[line] += 1
    # As the data's README counts them.
    assert stations_per_line["district"] == 60 and stations_per_line["waterloo-city"] == 2
    assert london.stations[530].zones == (2, 3)  # Bromley-by-Bow, a boundary station


def test_counts_per_day_type_come_from_the_lu_rows_joined_on_nlc(london: Network) -> None:
    counts = {int(row["nlc"]): row for row in _rows("tfl_station_entries_exits.csv") if row["mode"] == "LU"}
    bank = london.stations[513]
    assert bank.name == "Bank and Monument"  # one station and one count
    assert bank.daily_entries["tuesday_thursday"] == float(counts[513]["entries_midweek_tue_thu"])
    assert bank.daily_exits["sunday"] == float(counts[513]["exits_sun"])
    # Two stations each, with their own counts.
    names = {station.name for station in london.stations.values()}
    assert {"Edgware Road (Bak)", "Edgware Road (DIS)", "Hammersmith (DIS)", "Hammersmith (H&C)"} <= names
    closed = [s.name for s in london.stations.values() if not any(s.daily_entries.values())]
    assert sorted(closed) == ["Kensington (Olympia)", "Kentish Town"]
    for station in london.stations.values():
        assert set(station.daily_entries) == set(station.daily_exits) == set(DAY_TYPES)
    total = sum(station.daily_entries["tuesday_thursday"] for station in london.stations.values())
    assert total == pytest.approx(3_918_582)


def test_day_types_follow_the_counts_and_bank_holidays_are_sundays() -> None:
    assert london_day_type(date(2023, 6, 5)) == "monday"
    assert london_day_type(date(2023, 6, 7)) == "tuesday_thursday"
    assert london_day_type(date(2023, 6, 9)) == "friday"
    assert london_day_type(date(2023, 6, 10)) == "saturday"
    assert london_day_type(date(2023, 6, 11)) == "sunday"
    for holiday in (date(2023, 4, 7), date(2023, 4, 10), date(2023, 5, 29), date(2023, 8, 28), date(2023, 12, 26)):
        assert london_day_type(holiday) == "sunday", holiday
    assert london_day_type(date(2022, 12, 27)) == "sunday"  # Christmas Day fell on a Sunday: substitute day


def test_hours_peak_on_weekdays_and_not_at_weekends(london: Network) -> None:
    for day_type in DAY_TYPES:
        assert math.isclose(sum(london.hourly_shares_on(day_type)), 1.0)
    weekday = london.hourly_shares_on("tuesday_thursday")
    assert max(range(24), key=weekday.__getitem__) == 8
    saturday = london.hourly_shares_on("saturday")
    assert 11 <= max(range(24), key=saturday.__getitem__) <= 15


def test_loaded_by_name() -> None:
    assert load_network_from("tfl", DATA).name == "tfl"
