"""Static reference data the dashboard draws with: line shapes, station coordinates, a map projection.

Everything here is read once from the network's data folder (``settings.network_data_dir``) and is
pure: no Kafka, no I/O after loading. Coordinates are projected onto a flat SVG canvas with an
equirectangular projection around the network's mean latitude (at city scale the error is far
below a marker's size), so the browser needs no map tiles and no external library.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transit_status.simulation.cta import LINES

LINE_ORDER: tuple[str, ...] = tuple(line.line_id for line in LINES)
LINE_COLOURS: dict[str, str] = {line.line_id: line.colour for line in LINES}
LINE_NAMES: dict[str, str] = {line.line_id: line.name for line in LINES}

MAP_WIDTH = 600.0
MAP_PADDING = 16.0


@dataclass(frozen=True, slots=True)
class Projection:
    """lat/lon -> SVG user units (x to the east, y to the south), fitted to a bounding box."""

    min_lon: float
    max_lat: float
    x_per_degree: float
    y_per_degree: float
    width: float
    height: float
    padding: float

    @classmethod
    def fit(
        cls, points: Iterable[tuple[float, float]], width: float = MAP_WIDTH, padding: float = MAP_PADDING
    ) -> Projection:
        """The projection that fits every (lat, lon) of ``points`` into ``width`` (height follows)."""
        latitudes, longitudes = zip(*points, strict=True)
        min_lat, max_lat = min(latitudes), max(latitudes)
        min_lon, max_lon = min(longitudes), max(longitudes)
        # A degree of longitude is cos(latitude) times a degree of latitude on the ground.
        squash = math.cos(math.radians((min_lat + max_lat) / 2.0))
        ground_width = max((max_lon - min_lon) * squash, 1e-9)
        scale = (width - 2 * padding) / ground_width
        height = (max_lat - min_lat) * scale + 2 * padding
        return cls(min_lon, max_lat, scale * squash, scale, width, height, padding)

    def project(self, latitude: float, longitude: float) -> tuple[float, float]:
        x = self.padding + (longitude - self.min_lon) * self.x_per_degree
        y = self.padding + (self.max_lat - latitude) * self.y_per_degree
        return round(x, 1), round(y, 1)


@dataclass(frozen=True, slots=True)
class ReferenceStation:
    station_id: int
    name: str
    latitude: float
    longitude: float
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineShape:
    line: str
    branch: str
    points: tuple[tuple[float, float], ...]
    """(latitude, longitude) in drawing order."""


@dataclass(frozen=True)
class NetworkMap:
    """The drawable network: shapes per line, stations with coordinates, and the projection."""

    shapes: tuple[LineShape, ...]
    stations: dict[int, ReferenceStation]
    projection: Projection

    def locate(self, station_id: int) -> tuple[float, float] | None:
        station = self.stations.get(station_id)
        if station is None:
            return None
        return self.projection.project(station.latitude, station.longitude)

    def as_json(self) -> dict[str, Any]:
        """The map as the browser draws it (``/api/map``)."""
        projection = self.projection
        return {
            "width": projection.width,
            "height": projection.height,
            "lines": [
                {"line": line, "name": LINE_NAMES.get(line, line.title()), "colour": LINE_COLOURS.get(line, "#888888")}
                for line in LINE_ORDER
            ],
            "shapes": [
                {
                    "line": shape.line,
                    "branch": shape.branch,
                    "colour": LINE_COLOURS.get(shape.line, "#888888"),
                    "points": [list(projection.project(lat, lon)) for lat, lon in shape.points],
                }
                for shape in self.shapes
            ],
            "stations": [
                {
                    "station_id": station.station_id,
                    "name": station.name,
                    "lines": list(station.lines),
                    "x": xy[0],
                    "y": xy[1],
                }
                for station in self.stations.values()
                for xy in [projection.project(station.latitude, station.longitude)]
            ],
        }


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_network_map(data_dir: Path) -> NetworkMap:
    """Shapes from ``cta_line_shapes.csv``, stations from ``cta_l_stops_full.csv`` and the sequences."""
    shape_rows: dict[tuple[str, str, str], list[tuple[int, float, float]]] = defaultdict(list)
    for row in _read_csv(data_dir / "cta_line_shapes.csv"):
        key = (row["line"].strip().lower(), row["branch"].strip(), row["shape_id"])
        shape_rows[key].append((int(row["shape_pt_sequence"]), float(row["latitude"]), float(row["longitude"])))
    shapes = tuple(
        LineShape(line, branch, tuple((lat, lon) for _, lat, lon in sorted(points)))
        for (line, branch, _), points in sorted(
            shape_rows.items(), key=lambda item: (_line_rank(item[0][0]), item[0][1], item[0][2])
        )
    )

    lines_at: dict[int, set[str]] = defaultdict(set)
    for row in _read_csv(data_dir / "cta_line_sequences.csv"):
        lines_at[int(row["map_id"])].add(row["line"].strip().lower())
    stations: dict[int, ReferenceStation] = {}
    for row in _read_csv(data_dir / "cta_l_stops_full.csv"):
        station_id = int(row["MAP_ID"])
        if station_id in stations:
            continue
        stations[station_id] = ReferenceStation(
            station_id=station_id,
            name=row["STATION_NAME"],
            latitude=float(row["LATITUDE"]),
            longitude=float(row["LONGITUDE"]),
            lines=tuple(sorted(lines_at.get(station_id, ()), key=_line_rank)),
        )

    points = [point for shape in shapes for point in shape.points]
    points += [(station.latitude, station.longitude) for station in stations.values()]
    return NetworkMap(shapes=shapes, stations=stations, projection=Projection.fit(points))


def _line_rank(line: str) -> int:
    return LINE_ORDER.index(line) if line in LINE_ORDER else len(LINE_ORDER)
