"""Transit networks as data: one loader per network builds a :class:`Network` from ``data/<network>/``.

Every layer reads the network through :func:`load_network`, once per process: PostgreSQL's initial
stations table, the simulation, the stations transform and the dashboard's map. A network (London:
``data/tfl/``, ``networks/london.py``) is one loader module and one line in :data:`NETWORK_LOADERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
    """The network the settings select (``settings.network``, from ``settings.network_data_dir``)."""
    return load_network_from(settings.network, settings.network_data_dir)


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
    "load_network",
    "load_network_from",
]
