"""The static GTFS of a gtfs-rt source, fetched by ONE process and read by the others.

The feed process (``feeds/runner.py``) is the only one that fetches ``gtfs_static``: it retries an
agency's server that is down as a degraded feed, which no other process could do without exiting.
Once it has read the zip it saves it here (``Settings.static_gtfs_dir``) with the map of GTFS stop ids
to the integers the arrival contract carries; the dashboard and the stream worker read that copy, and
wait for it (:func:`network_when_ready`) while it is not there.

The map is append-only (:func:`~transit_status.networks.gtfs.number_stops`): a stop keeps its number for
as long as the state directory lives, so a newer version of the agency's zip (a stop added) numbers only
its new stops, and a process still on the earlier version puts every train it knows at the right
station. Files:

* ``static-gtfs.zip``: the zip exactly as the feed read it;
* ``static-gtfs.json``: ``{"format": 1, "source": <a hash of where it came from, never the URL>,
  "sha256": <the zip's>, "saved_at": ..., "ids": {gtfs stop id: number}}``, written after the zip.

Both are replaced atomically (a temporary file renamed over the old one). A reader takes the pair only
if the zip's digest is the one the map names (else the feed is writing: it waits) and the source is its
own settings' (a copy an earlier run of another agency left in the state directory is not used).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from transit_status.errors import TransitError
from transit_status.networks.gtfs import GtfsError, StaticFeed, read_tables, static_feed

log = logging.getLogger(__name__)

SAVED_ZIP = "static-gtfs.zip"
SAVED_MAP = "static-gtfs.json"
FORMAT = 1
WAITING = "waiting for the static GTFS from the feed"
WAIT_FIRST_S = 0.5
WAIT_MAX_S = 5.0
"""A reader looks again at most this long after the feed saved (a file check is cheap)."""
WAIT_LOG_EVERY_S = 60.0

T = TypeVar("T")


class StaticGtfsNotReady(TransitError):
    """The feed has not saved the static GTFS these settings run on yet (or is saving it now)."""


@dataclass(frozen=True)
class Saved:
    """What :func:`save_static_gtfs` did: the feed as numbered, how many stops got new numbers, and
    whether it replaced another version of the same source's zip."""

    feed: StaticFeed
    new_ids: int
    replaced: bool


def source_tag(location: str) -> str:
    """Names where a static GTFS came from without writing it down (a URL may carry a key)."""
    return hashlib.sha256(location.encode()).hexdigest()[:16]


def _read_map(directory: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((directory / SAVED_MAP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("ids"), dict):
        return None
    return meta


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_static_gtfs(directory: Path, location: str, data: bytes, name: str = "gtfs") -> Saved:
    """Read ``data`` (the zip fetched from ``location``) and save it with its stop-id map, extended
    append-only from the map saved before; :class:`GtfsError` if it is no usable GTFS (nothing saved),
    ``OSError`` if it cannot be written."""
    tables = read_tables(data)
    meta = _read_map(directory) or {}
    known = {str(k): int(v) for k, v in meta.get("ids", {}).items()}
    feed = static_feed(tables, name, known)
    digest = hashlib.sha256(data).hexdigest()
    tag = source_tag(location)
    ids = {**known, **feed.stop_numbers}
    if meta.get("sha256") != digest or not (directory / SAVED_ZIP).is_file():
        _write_atomically(directory / SAVED_ZIP, data)
    record = {
        "format": FORMAT,
        "source": tag,
        "sha256": digest,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ids": ids,
    }
    _write_atomically(directory / SAVED_MAP, json.dumps(record, sort_keys=True).encode())
    replaced = bool(meta) and meta.get("source") == tag and meta.get("sha256") != digest
    return Saved(feed, len(ids) - len(known), replaced)


def read_saved_static_gtfs(directory: Path, location: str, name: str = "gtfs") -> StaticFeed:
    """The static GTFS the feed saved for ``location``, numbered by the saved map;
    :class:`StaticGtfsNotReady` while there is none (or it is being replaced)."""
    meta = _read_map(directory)
    if meta is None:
        raise StaticGtfsNotReady(WAITING)
    if meta.get("source") != source_tag(location):
        raise StaticGtfsNotReady(f"{WAITING} (the copy saved is another source's)")
    try:
        data = (directory / SAVED_ZIP).read_bytes()
    except OSError:
        raise StaticGtfsNotReady(WAITING) from None
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise StaticGtfsNotReady(f"{WAITING} (being saved)")
    try:
        return static_feed(read_tables(data), name, {str(k): int(v) for k, v in meta["ids"].items()})
    except (GtfsError, ValueError, KeyError) as problem:  # the feed checked it before saving: not expected
        raise StaticGtfsNotReady(f"{WAITING} (the saved copy is unreadable: {problem})") from None


async def when_ready(load: Callable[[], T], what: str) -> T:
    """``load()``'s result once it no longer raises :class:`StaticGtfsNotReady`: tried again with backoff
    (from :data:`WAIT_FIRST_S` to :data:`WAIT_MAX_S`), off the event loop, saying so in the log at
    first and every minute. Never gives up: the feed retries its own start-up until it works."""
    delay = WAIT_FIRST_S
    started = time.monotonic()
    logged = -WAIT_LOG_EVERY_S
    while True:
        try:
            return await asyncio.to_thread(load)
        except StaticGtfsNotReady as problem:
            waited = time.monotonic() - started
            if waited - logged >= WAIT_LOG_EVERY_S:
                logged = waited
                log.info("%s: %s (%.0f s so far)", what, problem, waited)
        await asyncio.sleep(delay)
        delay = min(delay * 2, WAIT_MAX_S)
