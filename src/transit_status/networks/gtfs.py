"""Any agency's static GTFS zip as the project's :class:`Network` (stops, lines, routes, shapes, colours),
plus the index the GTFS-realtime adapter needs (each trip's route, direction and stops in order).

Reference data like ``data/<network>/``: with ``--source gtfs-rt`` (or the replay of such a recording)
:func:`transit_status.networks.load_network` returns this network to every layer, so the stream
processor, the dashboard and the adapter agree on the agency's lines and stations.

The network model numbers stations and stops with integers (the arrival contract's ``station_id`` and
``stop_id`` are Avro ints): a feed whose stop ids are all decimal numbers keeps them; any other feed's
stops are numbered 1, 2, ... in the order of their GTFS ids (sorted), and :class:`StaticFeed` maps both
ways. A stop with a ``parent_station`` is a platform of that station; one without is its own station.
Each GTFS route is a line (id: its short name, else its route id, as a slug; its ``route_color``,
``#808080`` when it has none) and one network route:
the longest trip of direction 0 gives its stations in order, the longest of direction 1 the platforms
for the way back. Distances are great-circle kilometres between consecutive stations. GTFS has no
ridership: every station has 0 daily entries, and the day is one day type, ``all``, with a flat profile.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from transit_status.errors import TransitError
from transit_status.networks.model import Agency, Line, LineShape, Network, Route, RouteStop, Station, Stop

ALL_DAYS = "all"
DEFAULT_COLOUR = "#808080"
DEFAULT_HEADWAY_S = 600.0
REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
REQUIRED_COLUMNS = {
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id",),
    "trips.txt": ("route_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_id", "stop_sequence"),
}
"""The columns this reader needs (GTFS requires them too): a file without one is refused by name."""
RECORDED_STATIC_GTFS = "static-gtfs.zip"
"""Where a gtfs-rt recording (``feeds/recording.py``) keeps the static GTFS its realtime ids refer to."""


class GtfsError(TransitError, ValueError):
    """A static GTFS feed that cannot be used (phrased for the user: a service prints it, no traceback)."""


@dataclass(frozen=True, slots=True)
class TripStops:
    """One GTFS trip: its route (our line id), direction and stops as (stop_sequence, GTFS stop id)."""

    trip_id: str
    line: str
    direction_id: int
    stops: tuple[tuple[int, str], ...]

    def stops_between(self, first_sequence: int, before_sequence: int) -> list[tuple[int, str]]:
        """The stops with ``first_sequence <= stop_sequence < before_sequence``, in order."""
        return [(seq, stop) for seq, stop in self.stops if first_sequence <= seq < before_sequence]

    def stop_at(self, sequence: int) -> str | None:
        for seq, stop in self.stops:
            if seq == sequence:
                return stop
        return None


@dataclass(frozen=True)
class StaticFeed:
    """A static GTFS feed as a :class:`Network`, and the ids the realtime feed uses, both ways."""

    network: Network
    stop_numbers: dict[str, int]
    """GTFS stop id (stations and platforms) -> the network's integer id."""
    trips: dict[str, TripStops]
    route_lines: dict[str, str]
    """GTFS route id -> our line id."""
    route_names: dict[str, str] = field(default_factory=dict)
    """Our line id -> the route's display name (the arrival's ``route``)."""

    def stop(self, gtfs_stop_id: str) -> Stop | None:
        number = self.stop_numbers.get(gtfs_stop_id)
        return self.network.stops.get(number) if number is not None else None


def read_gtfs_bytes(where: str, timeout_s: float = 60.0) -> bytes:
    """The zip at ``where``: an http(s) URL, or a path."""
    if where.startswith(("http://", "https://")):
        try:
            reply = httpx.get(where, timeout=timeout_s, follow_redirects=True)
            reply.raise_for_status()
        except httpx.HTTPStatusError as error:
            raise GtfsError(f"the static GTFS could not be fetched: HTTP {error.response.status_code}") from None
        except httpx.HTTPError as error:
            raise GtfsError(f"the static GTFS could not be fetched ({type(error).__name__})") from None
        return reply.content
    try:
        return Path(where).expanduser().read_bytes()
    except OSError as error:
        raise GtfsError(f"cannot read the static GTFS {where}: {error.strerror or error}") from None


def read_tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    """Every ``*.txt`` table of a GTFS zip (also one whose files sit in a single folder), checked: whatever
    is malformed (no zip, a file that cannot be unpacked or is not UTF-8 CSV, a required file or column
    missing, a platform whose parent is no station) is one :class:`GtfsError` naming the file and column."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise GtfsError("the static GTFS is not a zip file") from None
    tables: dict[str, list[dict[str, str]]] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if name.endswith(".txt") and not info.is_dir():
                tables[name] = _table(archive, info, name)
    missing = [name for name in REQUIRED_FILES if name not in tables]
    if missing:
        raise GtfsError(f"the static GTFS lacks {', '.join(missing)}")
    _check(tables)
    return tables


def _table(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> list[dict[str, str]]:
    try:
        raw = archive.read(info)
    except Exception as error:  # BadZipFile (CRC), zlib.error, EOFError, NotImplementedError (method), ...
        raise GtfsError(f"the static GTFS's {name} cannot be unpacked ({type(error).__name__})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise GtfsError(f"the static GTFS's {name} is not UTF-8 text (byte {error.start})") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = [column.strip() for column in reader.fieldnames or []]
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str) and k} for row in reader]
    except csv.Error as error:
        raise GtfsError(f"the static GTFS's {name} is not CSV ({error})") from None
    for column in REQUIRED_COLUMNS.get(name, ()):
        if column not in columns:
            raise GtfsError(f"the static GTFS's {name} has no {column} column")
    return rows


def _check(tables: dict[str, list[dict[str, str]]]) -> None:
    """What the columns alone do not say: a platform's ``parent_station`` must be a station."""
    kinds = {row["stop_id"]: row.get("location_type", "") for row in tables["stops.txt"] if row.get("stop_id")}
    for row in tables["stops.txt"]:
        parent = row.get("parent_station", "")
        if row.get("location_type", "") in ("", "0") and kinds.get(parent, "") not in ("", "0", "1"):
            raise GtfsError(
                f"the static GTFS's stops.txt: stop {row.get('stop_id')!r} has parent_station {parent!r}, "
                f"which is no station (location_type {kinds[parent]})"
            )


def load_static_feed(where: str, name: str = "gtfs") -> StaticFeed:
    return static_feed(read_tables(read_gtfs_bytes(where)), name)


def number_stops(ids: Iterable[str], known: Mapping[str, int] | None = None) -> dict[str, int]:
    """GTFS stop id -> integer for every id of ``ids``, keeping every number ``known`` (an earlier version's
    map) already gives: append-only, so a stop keeps its number when the agency adds or removes others.

    Without a map: decimal ids keep their value when all are decimal, else all are numbered 1, 2, ... in
    sorted order. A new id beside a map keeps its decimal value if that number is free, else takes the
    next number after the highest used.
    """
    ids = sorted(set(ids))
    if not known:
        if ids and all(re.fullmatch(r"\d{1,9}", stop_id) for stop_id in ids):
            return {stop_id: int(stop_id) for stop_id in ids}
        return {stop_id: number for number, stop_id in enumerate(ids, 1)}
    numbers = dict(known)
    used = set(numbers.values())
    for stop_id in ids:
        if stop_id in numbers:
            continue
        number = int(stop_id) if re.fullmatch(r"\d{1,9}", stop_id) and int(stop_id) not in used else None
        numbers[stop_id] = number if number is not None else max(used, default=0) + 1
        used.add(numbers[stop_id])
    return numbers


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "route"


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def _float(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key) or 0.0)
    except ValueError:
        return 0.0


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def static_feed(
    tables: dict[str, list[dict[str, str]]], name: str = "gtfs", known: Mapping[str, int] | None = None
) -> StaticFeed:
    """The network and realtime index of a GTFS feed's tables (see the module's rules); ``known``: the id
    map an earlier version of the feed was numbered with (:func:`number_stops`)."""
    stop_rows = {row["stop_id"]: row for row in tables["stops.txt"] if row.get("stop_id")}
    numbers = {stop_id: number for stop_id, number in number_stops(stop_rows, known).items() if stop_id in stop_rows}

    # Lines: one per route, ids unique even where short names repeat.
    lines: list[Line] = []
    route_lines: dict[str, str] = {}
    route_names: dict[str, str] = {}
    for row in tables["routes.txt"]:
        route_id = row.get("route_id", "")
        line_id = _slug(row.get("route_short_name") or route_id or row.get("route_long_name", ""))
        if line_id in {line.line_id for line in lines}:
            line_id = f"{line_id}-{_slug(route_id)}"
        colour = row.get("route_color", "")
        display = row.get("route_long_name") or row.get("route_short_name") or route_id
        lines.append(
            Line(
                line_id,
                row.get("route_short_name") or display,
                route_id.upper(),
                f"#{colour.lower()}" if re.fullmatch(r"[0-9A-Fa-f]{6}", colour) else DEFAULT_COLOUR,
            )
        )
        route_lines[route_id] = line_id
        route_names[line_id] = display

    # Trips and their stops in order.
    trip_rows = {row["trip_id"]: row for row in tables["trips.txt"] if row.get("route_id") in route_lines}
    calls: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in tables["stop_times.txt"]:
        if row.get("trip_id") in trip_rows and row.get("stop_id") in stop_rows:
            calls[row["trip_id"]].append((_int(row.get("stop_sequence", "")), row["stop_id"]))
    trips = {
        trip_id: TripStops(
            trip_id, route_lines[row["route_id"]], _int(row.get("direction_id", ""), 0), tuple(sorted(calls[trip_id]))
        )
        for trip_id, row in trip_rows.items()
    }

    # Stations and platforms.
    def station_of(stop_id: str) -> str:
        parent = stop_rows[stop_id].get("parent_station", "")
        return parent if parent in stop_rows else stop_id

    serving: dict[str, set[str]] = defaultdict(set)
    for trip in trips.values():
        for _, stop_id in trip.stops:
            serving[stop_id].add(trip.line)
    station_lines: dict[str, set[str]] = defaultdict(set)
    for platform, served in serving.items():
        station_lines[station_of(platform)] |= served
    stations: dict[int, Station] = {}
    for stop_id, row in stop_rows.items():
        if row.get("location_type", "") not in ("", "0", "1"):
            continue  # entrances, nodes, boarding areas: not where trains call
        station_id = station_of(stop_id)
        number = numbers[station_id]
        if number in stations:
            continue
        station_row = stop_rows[station_id]
        lines_here = station_lines[station_id]
        stations[number] = Station(
            station_id=number,
            name=station_row.get("stop_name") or station_id,
            descriptive_name=station_row.get("stop_desc") or station_row.get("stop_name") or station_id,
            latitude=_float(station_row, "stop_lat"),
            longitude=_float(station_row, "stop_lon"),
            lines=tuple(line.line_id for line in lines if line.line_id in lines_here),
            daily_entries={ALL_DAYS: 0.0},
        )
    stops: dict[int, Stop] = {}
    for stop_id, row in stop_rows.items():
        if row.get("location_type", "") not in ("", "0"):
            continue
        station = stations[numbers[station_of(stop_id)]]
        stops[numbers[stop_id]] = Stop(
            stop_id=numbers[stop_id],
            station_id=station.station_id,
            direction_id="",
            name=row.get("stop_name") or stop_id,
            station_name=station.name,
            station_descriptive_name=station.descriptive_name,
            services=frozenset(serving.get(stop_id, ())),
            accessible=row.get("wheelchair_boarding") == "1",
            latitude=_float(row, "stop_lat"),
            longitude=_float(row, "stop_lon"),
        )

    network_routes, shapes = _routes_and_shapes(tables, trips, trip_rows, stop_rows, numbers, station_of, route_names)
    network = Network(
        name=name,
        timezone=(tables["agency.txt"][0].get("agency_timezone") if tables["agency.txt"] else None) or "UTC",
        lines=tuple(lines),
        routes=tuple(network_routes),
        stations=dict(sorted(stations.items())),
        stops=dict(sorted(stops.items())),
        services={line.line_id: line.line_id for line in lines},
        shapes=tuple(shapes),
        day_types=(ALL_DAYS,),
        day_type_of=lambda day: ALL_DAYS,
        hourly_shares=tuple([1 / 24] * 24),
        agency=_agency(tables["agency.txt"], name),
    )
    return StaticFeed(network, numbers, trips, route_lines, route_names)


def _agency(rows: list[dict[str, str]], name: str) -> Agency | None:
    """The feed's (first) agency, as our own export publishes it again; None when it names none."""
    row = rows[0] if rows else {}
    if not row.get("agency_name"):
        return None
    return Agency(
        row["agency_name"], row.get("agency_url", ""), row.get("agency_id") or "1", row.get("agency_lang") or "en"
    )


@dataclass
class _Pattern:
    """One distinct stop pattern of a line: its stations in order (direction 0's order), the platform each
    way where a trip of that direction calls, and the trips that run it."""

    line: str
    stations: list[str]
    platforms_a: dict[str, str] = field(default_factory=dict)
    platforms_b: dict[str, str] = field(default_factory=dict)
    trips: list[TripStops] = field(default_factory=list)


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(any(item == other for other in remaining) for item in short)


def _merged(first: list[str], second: list[str]) -> list[str] | None:
    """Both station orders in one (each keeps its order), or None when they cross (not one way's stations)."""
    common = [station for station in first if station in set(second)]
    if not common or common != [station for station in second if station in set(first)]:
        return None
    merged: list[str] = []
    i = j = 0
    while i < len(first) or j < len(second):
        if i < len(first) and first[i] not in common:
            merged.append(first[i])
            i += 1
        elif j < len(second) and second[j] not in common:
            merged.append(second[j])
            j += 1
        else:  # both at the same common station
            merged.append(first[i])
            i += 1
            j += 1
    return merged


def _patterns(trips: dict[str, TripStops], station_of: Callable[[str], str]) -> list[_Pattern]:
    """Every distinct stop pattern of every line, each way; the longest first.

    A trip's pattern is its stations (direction 1's reversed, so both read as direction 0 runs). One that
    calls at a subset of another of its line and direction, in the same order (a short working, an
    express), adds no station and is folded into it. Each pattern of direction 0 is then paired with the
    pattern of direction 1 sharing most of its stations in a compatible order (the way back of the same
    branch): one route, 'a' and 'b'. What stays unpaired is a route one way only.
    """
    ways: dict[tuple[str, int], list[tuple[list[str], list[TripStops]]]] = defaultdict(list)
    by_key: dict[tuple[str, int, tuple[str, ...]], list[TripStops]] = defaultdict(list)
    for trip in trips.values():
        if len(trip.stops) < 2:
            continue
        stations = [station_of(stop) for _, stop in trip.stops]
        if trip.direction_id == 1:
            stations.reverse()
        by_key[(trip.line, trip.direction_id, tuple(stations))].append(trip)
    # Longest first; among equals, in the order of their first trip in trips.txt (sorted is stable).
    for (line, direction, stations), runs in sorted(by_key.items(), key=lambda item: -len(item[0][2])):
        kept = ways[(line, direction)]
        for held, held_trips in kept:
            if _is_subsequence(list(stations), held):
                held_trips.extend(runs)
                break
        else:
            kept.append((list(stations), runs))

    patterns: list[_Pattern] = []
    for line in dict.fromkeys(trip.line for trip in trips.values()):
        backs = list(ways.get((line, 1), []))
        for stations, runs in ways.get((line, 0), []):
            best: tuple[int, int, list[str]] | None = None
            for index, (back_stations, _) in enumerate(backs):
                merged = _merged(stations, back_stations)
                shared = len(set(stations) & set(back_stations))
                if merged is not None and (best is None or shared > best[0]):
                    best = (shared, index, merged)
            if best is None:
                patterns.append(_Pattern(line, stations, trips=list(runs)))
                continue
            _, index, merged = best
            patterns.append(_Pattern(line, merged, trips=[*runs, *backs.pop(index)[1]]))
        patterns += [_Pattern(line, stations, trips=list(runs)) for stations, runs in backs]
    for pattern in patterns:
        on_pattern = set(pattern.stations)
        for trip in pattern.trips:
            platforms = pattern.platforms_a if trip.direction_id == 0 else pattern.platforms_b
            for _, stop in trip.stops:
                if station_of(stop) in on_pattern:
                    platforms.setdefault(station_of(stop), stop)
    return patterns


def _routes_and_shapes(
    tables: dict[str, list[dict[str, str]]],
    trips: dict[str, TripStops],
    trip_rows: dict[str, dict[str, str]],
    stop_rows: dict[str, dict[str, str]],
    numbers: dict[str, int],
    station_of: Callable[[str], str],
    route_names: dict[str, str],
) -> tuple[list[Route], list[LineShape]]:
    headways: dict[str, float] = {}
    for row in tables.get("frequencies.txt", []):
        trip = trips.get(row.get("trip_id", ""))
        if trip is not None and _int(row.get("headway_secs", "")) > 0:
            for key in (trip.line, trip.trip_id):
                headways[key] = min(headways.get(key, math.inf), float(_int(row["headway_secs"])))
    shape_points: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for row in tables.get("shapes.txt", []):
        shape_points[row.get("shape_id", "")].append(
            (_int(row.get("shape_pt_sequence", "")), _float(row, "shape_pt_lat"), _float(row, "shape_pt_lon"))
        )

    patterns = _patterns(trips, station_of)
    per_line: dict[str, int] = defaultdict(int)
    for pattern in patterns:
        per_line[pattern.line] += 1
    routes: list[Route] = []
    shapes: list[LineShape] = []
    route_ids: set[str] = set()
    for pattern in patterns:
        route_id = pattern.line
        if per_line[pattern.line] > 1:  # a branch: named after the station it ends at
            terminus = stop_rows[pattern.stations[-1]].get("stop_name") or pattern.stations[-1]
            route_id = base = f"{pattern.line}-{_slug(terminus)}"
            suffix = 1
            while route_id in route_ids:
                suffix += 1
                route_id = f"{base}-{suffix}"
        route_ids.add(route_id)
        route_stops: list[RouteStop] = []
        km = 0.0
        previous: tuple[float, float] | None = None
        for station_id in pattern.stations:
            row = stop_rows[station_id]
            here = (_float(row, "stop_lat"), _float(row, "stop_lon"))
            km += _km(previous, here) if previous is not None else 0.0
            previous = here
            a, b = pattern.platforms_a.get(station_id), pattern.platforms_b.get(station_id)
            route_stops.append(RouteStop(numbers[station_id], km, numbers[a] if a else None, numbers[b] if b else None))
        trip_headways = [headways[trip.trip_id] for trip in pattern.trips if trip.trip_id in headways]
        headway = min(trip_headways) if trip_headways else headways.get(pattern.line, DEFAULT_HEADWAY_S)
        routes.append(
            Route(route_id, pattern.line, route_names.get(pattern.line, pattern.line), tuple(route_stops), headway)
        )
        for trip in pattern.trips:
            shape_id = trip_rows[trip.trip_id].get("shape_id", "")
            if shape_id and shape_points.get(shape_id) and shape_id not in {shape.branch for shape in shapes}:
                points = tuple((lat, lon) for _, lat, lon in sorted(shape_points[shape_id]))
                shapes.append(LineShape(pattern.line, shape_id, points))
    return routes, shapes
