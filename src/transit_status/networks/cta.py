"""The CTA 'L' network, built from the files in ``data/cta/`` (see ``data/cta/README.md``).

* Stops: ``cta_l_stops_full.csv``, all 300 platforms, with their service flags (RED, BLUE, G, BRN,
  P for Purple Local, Pexp for Purple Express, Y, Pnk, O) as services ``red`` ... ``purple_express``
  (the stations table's column names); both purple services run on the ``purple`` line.
* Shapes: ``cta_line_shapes.csv`` (the GTFS rail shapes), for drawing the map.

* Routes: one per (line, branch) sequence of ``cta_line_sequences.csv`` (order, ``along_shape_km``).
  Loop lines (Brown, Orange, Pink, Purple Express) end at their last Loop stop: direction 'a' runs
  out to it, the train turns there and 'b' runs back through the same stations in reverse order.
* Stations: ``cta_l_stops_full.csv`` (MAP_ID = station_id, STATION_NAME, coordinates); entries per
  day type from ``cta_ridership_monthly.csv`` (April 2024 averages).
* Platform stop ids, rule: a route may use the station's platforms flagged for its service; where it
  has a platform for one way only (the Loop: Brown uses the Outer Loop track, Orange, Pink and
  Purple Express the Inner Loop, yet our 'b' trip goes back round the Loop) it may also use the
  shared platform facing the other way. For each direction, at each station, the direction of travel
  is taken from station coordinates (previous station -> next station in travel order; the one
  adjacent segment at the ends); if it points clearly (cosine >= 0.3) along one of the usable
  platforms' DIRECTION_IDs (N/S/E/W), that platform is it. Where the track crosses the platforms'
  axis (e.g. O'Hare's N/S platforms on an east-west track, Yellow at Howard) the nearest clearly
  decided station whose letter the station also has lends it. Every (route, station, direction) gets
  a stop this way; the result agrees with the stop names ("95th-bound", "Loop-bound", "Terminal arrival", ...):

  ======================  ============================================  ===========================
  route                   'a' (first -> last station)                   'b' (back)
  ======================  ============================================  ===========================
  red                     Howard -> 95th/Dan Ryan: S                    N
  blue                    O'Hare -> Forest Park: S, W from LaSalle       N, E
  brown                   Kimball -> Loop: S, Outer Loop (E, N, W)      N, Inner Loop
  green (both branches)   Harlem/Lake -> ...: E, Inner Loop, S, then     reverse (W, N, ...)
                          E to Cottage Grove / W to Ashland/63rd
  orange                  Midway -> Loop: N, Inner Loop (W, N, E, S)    S, Outer Loop
  pink                    54th/Cermak -> Loop: E, Inner Loop            W, Outer Loop
  purple-local            Linden -> Howard: S                           N
  purple-express          Linden -> Loop: S, Inner Loop                 N, Outer Loop
  yellow                  Howard -> Dempster-Skokie: N                  S
  ======================  ============================================  ===========================

* Day types: 'weekday', 'saturday', 'sunday_holiday'. CTA runs its Sunday schedule on New Year's
  Day, Memorial Day, Independence Day, Labor Day, Thanksgiving and Christmas; those count as
  'sunday_holiday' (ridership and Purple Express service alike).
* Hourly profile: ``ridership_curve.csv`` gives shares for hours 0-24. Hour 24 is midnight of the
  next day, i.e. the same clock hour as hour 0, so it is folded into hour 0 (their mean; in this
  file both are 0.01) and the 24 remaining shares are normalised to sum to 1 (they sum to 0.99).
  The same profile is used for every day type (it is the only one the data has).
* Headways (target minutes between trains, one fleet all day; real CTA peaks are a bit tighter):
  Red 6, Blue 8, Brown 8, each Green branch 12 (6 on the shared trunk), Orange 10, Pink 10,
  Purple Local 12, Purple Express 10, Yellow 15.
* Purple Express: weekday rush hours only. Trips start at Linden between 06:00-09:00 and
  15:00-19:00 on weekdays (not holidays); a trip that has started runs to the Loop and back to
  Linden, where the train goes out of service until the next window.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

# The model's names this loader uses, which happen to be those the package re-exports.
from transit_status.networks.model import (
    Agency,
    Direction,
    Line,
    LineShape,
    Network,
    Route,
    RouteStop,
    ServiceWindow,
    Station,
    Stop,
)

CTA_AGENCY = Agency("Chicago Transit Authority", "https://www.transitchicago.com", "CTA")

WEEKDAY, SATURDAY, SUNDAY_HOLIDAY = "weekday", "saturday", "sunday_holiday"
DAY_TYPES = (WEEKDAY, SATURDAY, SUNDAY_HOLIDAY)
_RIDERSHIP_COLUMNS = {
    WEEKDAY: "avg_weekday_rides",
    SATURDAY: "avg_saturday_rides",
    SUNDAY_HOLIDAY: "avg_sunday-holiday_rides",
}

LINES = (
    Line("red", "Red", "RL", "#c60c30"),
    Line("blue", "Blue", "BL", "#00a1de"),
    Line("brown", "Brown", "BR", "#62361b"),
    Line("green", "Green", "GL", "#009b3a"),
    Line("orange", "Orange", "OL", "#f9461c"),
    Line("pink", "Pink", "PK", "#e27ea6"),
    Line("purple", "Purple", "PL", "#522398"),
    Line("yellow", "Yellow", "YL", "#f9e300"),
)
LINE_ORDER: tuple[str, ...] = tuple(line.line_id for line in LINES)

# Service -> (its flag column in cta_l_stops_full.csv, the line it runs on), in the stations table's column order.
_SERVICE_FLAGS: dict[str, tuple[str, str]] = {
    "red": ("RED", "red"),
    "blue": ("BLUE", "blue"),
    "green": ("G", "green"),
    "brown": ("BRN", "brown"),
    "purple": ("P", "purple"),
    "purple_express": ("Pexp", "purple"),
    "yellow": ("Y", "yellow"),
    "pink": ("Pnk", "pink"),
    "orange": ("O", "orange"),
}
SERVICES: dict[str, str] = {service: line for service, (_, line) in _SERVICE_FLAGS.items()}

PURPLE_EXPRESS_WINDOWS = (
    ServiceWindow(frozenset({WEEKDAY}), 6.0, 9.0),
    ServiceWindow(frozenset({WEEKDAY}), 15.0, 19.0),
)


@dataclass(frozen=True, slots=True)
class _RouteSpec:
    route_id: str
    line: str
    service: str
    headway_min: float
    windows: tuple[ServiceWindow, ...] = ()
    loop: bool = False


# (line, branch) as written in cta_line_sequences.csv -> how we run it.
ROUTE_SPECS: dict[tuple[str, str], _RouteSpec] = {
    ("Red", ""): _RouteSpec("red", "red", "red", 6),
    ("Blue", ""): _RouteSpec("blue", "blue", "blue", 8),
    ("Brown", ""): _RouteSpec("brown", "brown", "brown", 8, loop=True),
    ("Green", "Ashland/63rd"): _RouteSpec("green-ashland-63rd", "green", "green", 12),
    ("Green", "Cottage Grove"): _RouteSpec("green-cottage-grove", "green", "green", 12),
    ("Orange", ""): _RouteSpec("orange", "orange", "orange", 10, loop=True),
    ("Pink", ""): _RouteSpec("pink", "pink", "pink", 10, loop=True),
    ("Purple", "Local (Linden-Howard)"): _RouteSpec("purple-local", "purple", "purple", 12),
    ("Purple", "Express (Linden-Loop)"): _RouteSpec(
        "purple-express", "purple", "purple_express", 10, windows=PURPLE_EXPRESS_WINDOWS, loop=True
    ),
    ("Yellow", ""): _RouteSpec("yellow", "yellow", "yellow", 15),
}

_COMPASS = {"N": (0.0, 1.0), "S": (0.0, -1.0), "E": (1.0, 0.0), "W": (-1.0, 0.0)}
_OPPOSITE = {"N": "S", "S": "N", "E": "W", "W": "E"}
_DECISIVE = 0.3
"""Travel must point at least this much (cosine) along a platform axis for the heading to decide."""


def cta_day_type(day: date) -> str:
    if day.weekday() == 6 or _is_cta_holiday(day):
        return SUNDAY_HOLIDAY
    return SATURDAY if day.weekday() == 5 else WEEKDAY


def _is_cta_holiday(day: date) -> bool:
    if (day.month, day.day) in {(1, 1), (7, 4), (12, 25)}:
        return True
    if day.month == 5 and day.weekday() == 0 and (day + timedelta(days=7)).month == 6:
        return True  # Memorial Day: last Monday of May
    if day.month == 9 and day.weekday() == 0 and day.day <= 7:
        return True  # Labor Day: first Monday of September
    return day.month == 11 and day.weekday() == 3 and 22 <= day.day <= 28  # Thanksgiving


def read_hourly_shares(path: Path) -> tuple[float, ...]:
    """24 shares (hours 0-23) summing to 1, from an hour,ridership_ratio file with hours 0-24."""
    with path.open(newline="", encoding="utf-8") as handle:
        ratios = {int(row["hour"]): float(row["ridership_ratio"]) for row in csv.DictReader(handle)}
    if sorted(ratios) not in (list(range(24)), list(range(25))):
        raise ValueError(f"{path.name}: expected hours 0-23 (and optionally 24)")
    if 24 in ratios:
        ratios[0] = (ratios[0] + ratios.pop(24)) / 2.0
    total = sum(ratios.values())
    if total <= 0:
        raise ValueError(f"{path.name}: ratios sum to {total}")
    return tuple(ratios[hour] / total for hour in range(24))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_stops(path: Path) -> dict[int, Stop]:
    """Every platform of ``cta_l_stops_full.csv``, by stop id in ascending order."""
    stops = [
        Stop(
            stop_id=int(row["STOP_ID"]),
            station_id=int(row["MAP_ID"]),
            direction_id=row["DIRECTION_ID"].strip(),
            name=row["STOP_NAME"],
            station_name=row["STATION_NAME"],
            station_descriptive_name=row["STATION_DESCRIPTIVE_NAME"],
            services=frozenset(service for service, (flag, _) in _SERVICE_FLAGS.items() if row[flag] == "true"),
            accessible=row["ADA"] == "true",
            latitude=float(row["LATITUDE"]),
            longitude=float(row["LONGITUDE"]),
        )
        for row in _read_csv(path)
    ]
    return {stop.stop_id: stop for stop in sorted(stops, key=lambda stop: stop.stop_id)}


def read_shapes(path: Path) -> tuple[LineShape, ...]:
    """The rail shapes of ``cta_line_shapes.csv``, ordered by line (network order), branch, shape id."""
    points: dict[tuple[str, str, str], list[tuple[int, float, float]]] = defaultdict(list)
    for row in _read_csv(path):
        key = (row["line"].strip().lower(), row["branch"].strip(), row["shape_id"])
        points[key].append((int(row["shape_pt_sequence"]), float(row["latitude"]), float(row["longitude"])))
    unknown = {line for line, _, _ in points} - set(LINE_ORDER)
    if unknown:
        raise ValueError(f"{path.name} has shapes of unknown lines {sorted(unknown)}")
    return tuple(
        LineShape(line, branch, tuple((lat, lon) for _, lat, lon in sorted(shape)))
        for (line, branch, _), shape in sorted(
            points.items(), key=lambda item: (LINE_ORDER.index(item[0][0]), item[0][1], item[0][2])
        )
    )


def _travel_vector(along: list[Stop], index: int) -> tuple[float, float]:
    """Unit direction of travel (east, north) at ``along[index]``, stations in travel order."""
    before = along[max(index - 1, 0)]
    after = along[min(index + 1, len(along) - 1)]
    latitude = math.radians(along[index].latitude)
    east = (after.longitude - before.longitude) * math.cos(latitude)
    north = after.latitude - before.latitude
    norm = math.hypot(east, north) or 1.0
    return east / norm, north / norm


def _platforms(platforms: tuple[Stop, ...], service: str) -> dict[str, int]:
    """Compass letter -> stop id usable by the route: its own, plus shared ones facing the other way."""
    own = {stop.direction_id: stop.stop_id for stop in platforms if service in stop.services}
    others = {stop.direction_id: stop.stop_id for stop in platforms if service not in stop.services}
    if not own:
        return others
    usable = dict(own)
    for letter in own:  # e.g. the Loop: the route's own track one way, the shared other track back
        opposite = _OPPOSITE[letter]
        if opposite not in usable and opposite in others:
            usable[opposite] = others[opposite]
    return usable


def _stop_ids(
    station_ids: list[int], stops_by_station: dict[int, tuple[Stop, ...]], service: str
) -> list[dict[Direction, int | None]]:
    """Per station of the route, the stop id for 'a' and for 'b' (rule in the module docstring)."""
    result: list[dict[Direction, int | None]] = [{} for _ in station_ids]
    usable = [_platforms(stops_by_station[sid], service) for sid in station_ids]
    coordinates = [stops_by_station[sid][0] for sid in station_ids]
    for direction in ("a", "b"):
        order = list(range(len(station_ids)))
        if direction == "b":
            order.reverse()
        along = [coordinates[i] for i in order]
        # 1. Where travel clearly follows a platform axis, the heading picks the letter.
        letters: list[str | None] = []
        for position, index in enumerate(order):
            east, north = _travel_vector(along, position)
            best: tuple[float, str] | None = None
            for letter in usable[index]:
                alignment = _COMPASS[letter][0] * east + _COMPASS[letter][1] * north
                if alignment >= _DECISIVE and (best is None or alignment > best[0]):
                    best = (alignment, letter)
            letters.append(best[1] if best else None)
        # 2. Elsewhere (the line crosses the platforms' axis, e.g. O'Hare's N/S platforms on an
        #    east-west track) the nearest decided station on the same axis lends its letter.
        decided = list(letters)
        for position, index in enumerate(order):
            if decided[position] is not None or not usable[index]:
                continue
            for distance in range(1, len(order)):
                candidates = [position - distance, position + distance]
                borrowed = [
                    decided[p]
                    for p in candidates
                    if 0 <= p < len(order) and decided[p] is not None and decided[p] in usable[index]
                ]
                if borrowed:
                    letters[position] = borrowed[0]
                    break
        for position, index in enumerate(order):
            letter = letters[position]
            result[index][direction] = usable[index].get(letter) if letter else None
    return result


def load_cta_network(data_dir: Path | None = None) -> Network:
    """The CTA 'L' network from ``data_dir`` (default: the settings' ``data/cta`` folder)."""
    if data_dir is None:
        from transit_status.config import load_settings

        data_dir = load_settings(network="cta").network_data_dir
    stops = read_stops(data_dir / "cta_l_stops_full.csv")
    sequences = _read_csv(data_dir / "cta_line_sequences.csv")
    ridership = {int(row["station_id"]): row for row in _read_csv(data_dir / "cta_ridership_monthly.csv")}

    stops_by_station: dict[int, list[Stop]] = defaultdict(list)
    for stop in stops.values():
        stops_by_station[stop.station_id].append(stop)
    platforms = {station_id: tuple(platforms) for station_id, platforms in stops_by_station.items()}

    rows_by_route: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in sequences:
        rows_by_route[(row["line"], row["branch"])].append(row)
    unknown = set(rows_by_route) - set(ROUTE_SPECS)
    if unknown:
        raise ValueError(f"cta_line_sequences.csv has sequences we do not know how to run: {sorted(unknown)}")

    routes: list[Route] = []
    for key, spec in ROUTE_SPECS.items():
        rows = sorted(rows_by_route.get(key, []), key=lambda row: int(row["order"]))
        if not rows:
            raise ValueError(f"cta_line_sequences.csv has no stations for {key}")
        station_ids = [int(row["map_id"]) for row in rows]
        missing = [sid for sid in station_ids if sid not in platforms]
        if missing:
            raise ValueError(f"{key}: stations {missing} are not in cta_l_stops_full.csv")
        stop_ids = _stop_ids(station_ids, platforms, spec.service)
        route_stops = tuple(
            RouteStop(sid, float(row["along_shape_km"]), ids["a"], ids["b"])
            for sid, row, ids in zip(station_ids, rows, stop_ids, strict=True)
        )
        line_name, branch = key
        routes.append(
            Route(
                route_id=spec.route_id,
                line=spec.line,
                name=f"{line_name} {branch}".strip(),
                stops=route_stops,
                headway_s=spec.headway_min * 60.0,
                service_windows=spec.windows,
                ends_on_loop=spec.loop,
            )
        )

    lines_at: dict[int, set[str]] = defaultdict(set)
    for route in routes:
        for station_id in route.station_ids:
            lines_at[station_id].add(route.line)

    stations: dict[int, Station] = {}
    for station_id in sorted(lines_at):
        first = platforms[station_id][0]  # stop coordinates are per station, except Roosevelt's: take the first
        rides = ridership.get(station_id)
        if rides is None:
            raise ValueError(f"station {station_id} has no row in cta_ridership_monthly.csv")
        stations[station_id] = Station(
            station_id=station_id,
            name=first.station_name,
            descriptive_name=first.station_descriptive_name,
            latitude=first.latitude,
            longitude=first.longitude,
            lines=tuple(sorted(lines_at[station_id], key=LINE_ORDER.index)),
            daily_entries={day_type: float(rides[column]) for day_type, column in _RIDERSHIP_COLUMNS.items()},
        )

    return Network(
        name="cta",
        timezone="America/Chicago",
        lines=LINES,
        routes=tuple(routes),
        stations=stations,
        stops=stops,
        services=SERVICES,
        shapes=read_shapes(data_dir / "cta_line_shapes.csv"),
        day_types=DAY_TYPES,
        day_type_of=cta_day_type,
        hourly_shares=read_hourly_shares(data_dir / "ridership_curve.csv"),
        agency=CTA_AGENCY,
    )
