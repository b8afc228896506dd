"""Transit networks as data: one loader per network builds a :class:`Network` from ``data/<network>/``.

Every layer reads the network its trains run on through :func:`load_network`: the simulation, the
stations transform, the dashboard's map and the feeds. A network (London: ``data/tfl/``,
``networks/london.py``) is one loader module and one line in :data:`NETWORK_LOADERS`.

With ``--source gtfs-rt`` (or the replay of a gtfs-rt recording) the trains run on the agency's static
GTFS instead (``networks/gtfs.py``), so every layer draws and checks the same lines and stations. Only
the feed process fetches it: the other processes read the copy it saved, with its stop-id map
(``networks/saved_gtfs.py``), and :func:`load_network` raises :class:`StaticGtfsNotReady` until it is
there. A replay whose recording holds its static GTFS reads that file in every process.
PostgreSQL's stations table is Chicago's reference data whatever the source (:func:`load_data_network`):
its columns are the 'L' lines.
"""

from __future__ import annotations

import importlib
import json
import threading
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
from transit_status.networks.saved_gtfs import StaticGtfsNotReady, read_saved_static_gtfs, source_tag

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
    (:func:`static_gtfs_location`), else ``settings.network``'s data (:func:`load_data_network`).

    :class:`StaticGtfsNotReady` while the feed has not saved the source's static GTFS yet.
    """
    static = load_source_static_feed(settings)
    return static.network if static is not None else load_data_network(settings)


def load_data_network(settings: Settings) -> Network:
    """The network the settings select (``settings.network``, from ``settings.network_data_dir``)."""
    return load_network_from(settings.network, settings.network_data_dir)


def recorded_static_gtfs(settings: Settings) -> Path | None:
    """The static GTFS a replayed gtfs-rt recording holds (every one ``transit-status record`` makes has
    one; a Train Tracker recording has none), or None."""
    replay = settings.replay_dir
    if replay is not None and (replay / RECORDED_STATIC_GTFS).is_file():
        return replay / RECORDED_STATIC_GTFS
    return None


def fetched_static_gtfs(settings: Settings) -> str | None:
    """The static GTFS (path or URL) the feed process fetches and saves for the others, or None:
    ``gtfs_static`` for ``--source gtfs-rt``, and for the replay of a gtfs-rt recording without its own."""
    if settings.source == "gtfs-rt":
        return settings.gtfs_static
    replay = settings.replay_dir
    if replay is not None and recorded_static_gtfs(settings) is None and _recorded_source(replay) == "gtfs-rt":
        return settings.gtfs_static
    return None


def _recorded_source(replay: Path) -> str | None:
    # recording.json's "source" (feeds/recording.py writes it); read here, below the feeds layer.
    try:
        meta = json.loads((replay / "recording.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("source") if isinstance(meta, dict) else None


def static_gtfs_location(settings: Settings) -> str | None:
    """The static GTFS (path or URL) the source's trains run on, or None (the network's own data)."""
    recorded = recorded_static_gtfs(settings)
    return str(recorded) if recorded is not None else fetched_static_gtfs(settings)


def load_source_static_feed(settings: Settings) -> StaticFeed | None:
    """The source's static GTFS as a network and realtime index, or None (the network's own data).

    A recording's own is read from it; any other is the copy the feed saved (:class:`StaticGtfsNotReady`
    until it did). Read once per process: every caller gets the same network, and a process keeps the
    version it read first until it restarts (the saved map keeps the numbers it knows valid).
    """
    recorded = recorded_static_gtfs(settings)
    if recorded is not None:
        return _recorded_feed(str(recorded))
    location = fetched_static_gtfs(settings)
    if location is None:
        return None
    key = (settings.static_gtfs_dir, source_tag(location))
    with _saved_lock:
        if key not in _saved:
            _saved[key] = read_saved_static_gtfs(settings.static_gtfs_dir, location)
        return _saved[key]


_saved: dict[tuple[Path, str], StaticFeed] = {}
_saved_lock = threading.Lock()


def forget_static_feeds() -> None:
    """Forget every static GTFS this process read, as a restarted process would (tests)."""
    with _saved_lock:
        _saved.clear()
    _recorded_feed.cache_clear()


@lru_cache(maxsize=4)
def _recorded_feed(path: str) -> StaticFeed:
    # Once per process; the same bytes in every process, so the same numbers (no saved map needed).
    return load_static_feed(path)


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
    "StaticGtfsNotReady",
    "Station",
    "Stop",
    "fetched_static_gtfs",
    "forget_static_feeds",
    "load_data_network",
    "load_network",
    "load_network_from",
    "load_source_static_feed",
    "recorded_static_gtfs",
    "static_gtfs_location",
]
