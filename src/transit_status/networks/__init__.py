"""Transit networks as data: one loader per network builds a :class:`Network` from ``data/<network>/``.

Every layer reads the network its trains run on through :func:`load_network`: the simulation, the
stations transform, the dashboard's map and the feeds. A network (London: ``data/tfl/``,
``networks/london.py``) is one loader module and one line in :data:`NETWORK_LOADERS`.

With ``--source gtfs-rt`` (or the replay of a gtfs-rt recording) the trains run on the agency's static
GTFS instead (``networks/gtfs.py``), read once per process, so every layer draws and checks the same
lines and stations. PostgreSQL's stations table is Chicago's reference data whatever the source
(:func:`load_data_network`): its columns are the 'L' lines.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from transit_status.networks.gtfs import RECORDED_STATIC_GTFS, StaticFeed, load_static_feed
from transit_status.networks.model import (
    DayTypeRule,
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

if TYPE_CHECKING:
    from transit_status.config import Settings

NETWORK_LOADERS: dict[str, str] = {
    "cta": "transit_status.networks.cta:load_cta_network",
    "tfl": "transit_status.networks.london:load_london_network",
}
"""Network name -> 'module:function' taking the network's data folder (imported on demand)."""


def load_network_from(name: str, data_dir: Path) -> Network:
    """Build network ``name`` (e.g. 'cta') from its data folder."""
    try:
        target = NETWORK_LOADERS[name]
    except KeyError:
        known = ", ".join(sorted(NETWORK_LOADERS))
        raise ValueError(f"unknown network {name!r} (known: {known})") from None
    module_name, _, function_name = target.partition(":")
    loader: Callable[[Path], Network] = getattr(importlib.import_module(module_name), function_name)
    return loader(data_dir)


def load_network(settings: Settings) -> Network:
    """The network the trains run on: the agency's static GTFS when the source reads one
    (:func:`static_gtfs_location`), else ``settings.network``'s data (:func:`load_data_network`)."""
    static = load_source_static_feed(settings)
    return static.network if static is not None else load_data_network(settings)


def load_data_network(settings: Settings) -> Network:
    """The network the settings select (``settings.network``, from ``settings.network_data_dir``)."""
    return load_network_from(settings.network, settings.network_data_dir)


def static_gtfs_location(settings: Settings) -> str | None:
    """The static GTFS (path or URL) the source's trains run on, or None (the network's own data).

    ``gtfs_static`` for ``--source gtfs-rt``; for a replay, the static GTFS the recording holds (every
    gtfs-rt recording that ``transit-status record`` makes has one; a Train Tracker recording has none).
    """
    if settings.source == "gtfs-rt":
        return settings.gtfs_static
    replay = settings.replay_dir
    if replay is not None and (replay / RECORDED_STATIC_GTFS).is_file():
        return str(replay / RECORDED_STATIC_GTFS)
    return None


def load_source_static_feed(settings: Settings) -> StaticFeed | None:
    """The source's static GTFS as a network and realtime index (read once per process), or None."""
    location = static_gtfs_location(settings)
    return _static_feed(location) if location is not None else None


@lru_cache(maxsize=4)
def _static_feed(location: str) -> StaticFeed:
    # Once per process: a URL is fetched once, and every caller gets the same network object.
    return load_static_feed(location)


__all__ = [
    "NETWORK_LOADERS",
    "DayTypeRule",
    "Direction",
    "Line",
    "LineShape",
    "Network",
    "Route",
    "RouteStop",
    "ServiceWindow",
    "Station",
    "Stop",
    "load_data_network",
    "load_network",
    "load_network_from",
    "load_source_static_feed",
    "static_gtfs_location",
]
