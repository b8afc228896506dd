"""What Chicago's page draws the network with: its lines, line shapes, stations and a map projection.

Everything comes from the network (:mod:`transit_status.networks`, loaded once) and is pure: no
Kafka, no I/O after loading. Coordinates are projected onto a flat SVG canvas
(:class:`~transit_status.dashboard.projection.Projection`, shared with London's map), so the
browser needs no map tiles and no external library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transit_status.dashboard.projection import Projection
from transit_status.networks import Line, LineShape, Network, Station, load_network

if TYPE_CHECKING:
    from transit_status.config import Settings


@dataclass(frozen=True)
class NetworkMap:
    """The drawable network: its lines, shapes per line, stations with coordinates, and the projection."""

    lines: tuple[Line, ...]
    shapes: tuple[LineShape, ...]
    stations: Mapping[int, Station]
    projection: Projection

    @classmethod
    def of(cls, network: Network) -> NetworkMap:
        """The map of ``network``, fitted around its shapes and stations."""
        # Stations in the order of their first stop, as the map has always listed them.
        stations = {stop.station_id: network.stations[stop.station_id] for stop in network.stops.values()}
        points = [point for shape in network.shapes for point in shape.points]
        points += [(station.latitude, station.longitude) for station in stations.values()]
        return cls(network.lines, network.shapes, stations, Projection.fit(points))

    @property
    def line_order(self) -> tuple[str, ...]:
        return tuple(line.line_id for line in self.lines)

    def locate(self, station_id: int) -> tuple[float, float] | None:
        station = self.stations.get(station_id)
        if station is None:
            return None
        return self.projection.project(station.latitude, station.longitude)

    def as_json(self) -> dict[str, Any]:
        """The map as the browser draws it (``/api/map``)."""
        projection = self.projection
        colours = {line.line_id: line.colour for line in self.lines}
        return {
            "width": projection.width,
            "height": projection.height,
            "lines": [{"line": line.line_id, "name": line.name, "colour": line.colour} for line in self.lines],
            "shapes": [
                {
                    "line": shape.line,
                    "branch": shape.branch,
                    "colour": colours[shape.line],
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


def load_network_map(settings: Settings) -> NetworkMap:
    """The map of the network the settings select."""
    return NetworkMap.of(load_network(settings))
