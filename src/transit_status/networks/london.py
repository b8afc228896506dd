"""The London Underground, built from the files in ``data/tfl/`` (see ``data/tfl/README.md``).

* Lines: the 11 Underground lines, ids as TfL's API spells them (``hammersmith-city``), in TfL's
  colours.
* Stations: ``tfl_stations.csv``, all 270 Underground stations; the station id is TfL's ``nlc``.
  Zone as published (``2,3`` for a boundary station), WGS84 coordinates, and the lines that call.
* Entries and exits per day type: ``tfl_station_entries_exits.csv`` (TfL's 2023 typical-day counts),
  its ``LU`` rows joined on ``nlc``. An empty count (Kensington (Olympia): "see LO"; Kentish Town:
  closed in 2023) is 0. Bank and Monument are one station and one count (nlc 513); Edgware Road and
  Hammersmith are two stations each, with their own counts.
* Day types follow the counts: ``monday``, ``tuesday_thursday``, ``friday``, ``saturday``,
  ``sunday``. Bank holidays in England count as Sundays.
* Hours: the data has daily counts only, so the share of a day's entries per hour is modelled: two
  commuter peaks on weekdays (08:00-09:00 the busiest hour, 17:00-18:00 the next), one broad
  afternoon hump at weekends, a little Night Tube after midnight on Saturday and Sunday mornings.
* No routes, platforms or shapes: the data has no station order along the lines, and London's
  simulation is its ticket barriers (``transit_status.london``), not its trains.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from transit_status.networks.model import Line, Network, Station

NETWORK_NAME = "tfl"
"""The name London is loaded by (``NETWORK_LOADERS``) and its data folder's (``data/tfl``)."""
MONDAY, TUESDAY_THURSDAY, FRIDAY, SATURDAY, SUNDAY = "monday", "tuesday_thursday", "friday", "saturday", "sunday"
DAY_TYPES = (MONDAY, TUESDAY_THURSDAY, FRIDAY, SATURDAY, SUNDAY)
WEEKDAY_TYPES = frozenset({MONDAY, TUESDAY_THURSDAY, FRIDAY})
# Day type -> its suffix in the counts file's entries_*/exits_* columns.
_COUNT_COLUMNS = {
    MONDAY: "mon",
    TUESDAY_THURSDAY: "midweek_tue_thu",
    FRIDAY: "fri",
    SATURDAY: "sat",
    SUNDAY: "sun",
}

# Data, not logic: each network's own line table, alike in shape with cta.py's only.
LINES = (
    Line("bakerloo", "Bakerloo", "BAK", "#b36305"),
    Line("central", "Central", "CEN", "#e32017"),
    Line("circle", "Circle", "CIR", "#ffd300"),
    Line("district", "District", "DIS", "#00782a"),
    Line("hammersmith-city", "Hammersmith & City", "HAM", "#f3a9bb"),
    Line("jubilee", "Jubilee", "JUB", "#a0a5a9"),
    Line("metropolitan", "Metropolitan", "MET", "#9b0056"),
    Line("northern", "Northern", "NOR", "#000000"),
    Line("piccadilly", "Piccadilly", "PIC", "#003688"),
    Line("victoria", "Victoria", "VIC", "#0098d4"),
    Line("waterloo-city", "Waterloo & City", "WAC", "#95cdba"),
)
LINE_ORDER: tuple[str, ...] = tuple(line.line_id for line in LINES)
_LINE_BY_NAME = {line.name: line.line_id for line in LINES}

# Relative weight of each local hour 0-23 (normalised below). Modelled, not measured: see the docstring.
_WEEKDAY_HOURS = (
    0.5, 0.1, 0.0, 0.0, 0.1, 1.0, 3.3, 7.5, 10.5, 6.3, 4.0, 3.8,
    4.2, 4.3, 4.5, 5.3, 7.0, 9.6, 7.8, 5.0, 3.6, 3.2, 2.6, 1.8,
)  # fmt: skip
_SATURDAY_HOURS = (
    1.4, 0.8, 0.5, 0.4, 0.3, 0.7, 1.5, 2.6, 3.8, 5.0, 6.3, 7.2,
    7.6, 7.6, 7.5, 7.4, 7.3, 7.2, 6.6, 5.4, 4.4, 3.9, 3.4, 2.6,
)  # fmt: skip
_SUNDAY_HOURS = (
    1.4, 0.8, 0.5, 0.4, 0.2, 0.4, 0.9, 1.6, 2.8, 4.2, 5.8, 7.0,
    7.8, 8.0, 8.0, 7.9, 7.7, 7.2, 6.4, 5.2, 4.1, 3.3, 2.4, 1.4,
)  # fmt: skip


def _shares(weights: tuple[float, ...]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(weight / total for weight in weights)


WEEKDAY_HOURLY_SHARES = _shares(_WEEKDAY_HOURS)
WEEKEND_HOURLY_SHARES = {SATURDAY: _shares(_SATURDAY_HOURS), SUNDAY: _shares(_SUNDAY_HOURS)}


def _easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Gregorian algorithm, as in Meeus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_offset = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * weekday_offset) // 433
    month = (h + weekday_offset - 7 * m + 90) // 25
    return date(year, month, (h + weekday_offset - 7 * m + 33 * month + 19) % 32)


def _first_monday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=-first.weekday() % 7)


def _last_monday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=last.weekday())


def _with_substitutes(days: list[date]) -> set[date]:
    """The days themselves, plus the next free weekday for each one falling at a weekend."""
    observed: set[date] = set()
    for day in days:
        candidate = day
        while candidate.weekday() >= 5 or candidate in observed:
            candidate += timedelta(days=1)
        observed.add(candidate)
    return observed | set(days)


@cache
def england_bank_holidays(year: int) -> frozenset[date]:
    """The regular bank holidays in England (one-off ones, e.g. a coronation, are not included)."""
    easter = _easter_sunday(year)
    return frozenset(
        {
            *_with_substitutes([date(year, 1, 1)]),
            easter - timedelta(days=2),  # Good Friday
            easter + timedelta(days=1),  # Easter Monday
            _first_monday(year, 5),
            _last_monday(year, 5),
            _last_monday(year, 8),
            *_with_substitutes([date(year, 12, 25), date(year, 12, 26)]),
        }
    )


def london_day_type(day: date) -> str:
    if day.weekday() == 6 or day in england_bank_holidays(day.year):
        return SUNDAY
    return (MONDAY, TUESDAY_THURSDAY, TUESDAY_THURSDAY, TUESDAY_THURSDAY, FRIDAY, SATURDAY)[day.weekday()]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _count(row: dict[str, str], column: str) -> float:
    value = row[column].strip()
    return float(value) if value else 0.0


def load_london_network(data_dir: Path | None = None) -> Network:
    """The London Underground from ``data_dir`` (default: the settings' ``data/tfl`` folder)."""
    if data_dir is None:
        from transit_status.config import load_settings

        data_dir = load_settings(network=NETWORK_NAME).network_data_dir
    counts = {
        int(row["nlc"]): row for row in _read_csv(data_dir / "tfl_station_entries_exits.csv") if row["mode"] == "LU"
    }
    stations: dict[int, Station] = {}
    for row in sorted(_read_csv(data_dir / "tfl_stations.csv"), key=lambda row: int(row["nlc"])):
        nlc = int(row["nlc"])
        count = counts.get(nlc)
        if count is None:
            raise ValueError(f"station {row['name']} (nlc {nlc}) has no LU row in tfl_station_entries_exits.csv")
        line_names = [name.strip() for name in row["underground_lines"].split(";") if name.strip()]
        unknown = [name for name in line_names if name not in _LINE_BY_NAME]
        if unknown:
            raise ValueError(f"station {row['name']} is on unknown lines {unknown}")
        stations[nlc] = Station(
            station_id=nlc,
            name=row["name"],
            descriptive_name=row["name"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            lines=tuple(sorted((_LINE_BY_NAME[name] for name in line_names), key=LINE_ORDER.index)),
            daily_entries={day_type: _count(count, f"entries_{suffix}") for day_type, suffix in _COUNT_COLUMNS.items()},
            daily_exits={day_type: _count(count, f"exits_{suffix}") for day_type, suffix in _COUNT_COLUMNS.items()},
            nlc=nlc,
            zone=row["zone"].strip(),
        )
    return Network(
        name=NETWORK_NAME,
        timezone="Europe/London",
        lines=LINES,
        routes=(),
        stations=stations,
        stops={},
        services={line.line_id: line.line_id for line in LINES},
        shapes=(),
        day_types=DAY_TYPES,
        day_type_of=london_day_type,
        hourly_shares=WEEKDAY_HOURLY_SHARES,
        hourly_shares_by_day_type=WEEKEND_HOURLY_SHARES,
    )
