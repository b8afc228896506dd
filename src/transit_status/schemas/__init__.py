"""Avro schemas (.avsc) of the events transit-status produces, and a loader for them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).parent


@cache
def load_schema(name: str) -> str:
    """The text of ``<name>.avsc`` (e.g. ``arrival_value``), as the registry and serializers take it."""
    path = SCHEMA_DIR / f"{name}.avsc"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc")))
        raise KeyError(f"no schema {name!r}; known: {known}")
    return path.read_text()
