"""The flat map both pages draw on: latitude and longitude projected onto an SVG canvas.

An equirectangular projection around the network's mean latitude: at city scale the error is far
below a marker's size, so the browser needs no map tiles and no external library. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

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
