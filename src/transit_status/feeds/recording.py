"""Record a real feed's raw responses to a directory, and play them back through the same adapter.

A recording directory (``transit-status record --source ... --out DIR``) holds:

* ``recording.json``: ``{"format": "transit-status-recording", "version": 1, "source": "cta-train-tracker",
  "created_at": "...", "feeds": {"positions": "https://host/path"}, "static": "static-gtfs.zip" | null,
  "note": "..."}``. Feed URLs are kept without their query (which may hold an API key).
* ``index.jsonl``: one JSON object a line per response, in fetch order: ``poll`` (the round it belongs
  to, from 1), ``feed``, ``fetched_at`` (ISO 8601, UTC, milliseconds), ``status`` (HTTP status or null),
  ``error`` (the transport error, e.g. "timed out", or null), ``content_type``, ``file`` (the body's file
  name in this directory, or null when there was none) and ``bytes``.
* one file per response body, exactly as received: ``000001-positions.json``, ``000002-vehicle-positions.pb``.
* ``static-gtfs.zip`` for a gtfs-rt recording: the static feed the realtime ids refer to.

:class:`ReplaySource` yields the same :class:`~transit_status.feeds.polling.Poll` objects as the live
source, spaced as they were recorded divided by ``speed``, so an adapter cannot tell them apart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit, urlunsplit

from transit_status.feeds.health import utc_now
from transit_status.feeds.polling import FeedResponse, Poll
from transit_status.networks.gtfs import RECORDED_STATIC_GTFS

FORMAT = "transit-status-recording"
VERSION = 1
INDEX = "index.jsonl"
META = "recording.json"
STATIC = RECORDED_STATIC_GTFS
_EXTENSIONS = {"json": ".json", "protobuf": ".pb", "octet-stream": ".pb", "zip": ".zip", "xml": ".xml"}


class RecordingError(ValueError):
    """A directory that is not a usable recording (phrased for the user)."""


def without_query(url: str) -> str:
    """``url`` with neither query nor fragment nor credentials: what may be written down."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _extension(response: FeedResponse) -> str:
    for word, extension in _EXTENSIONS.items():
        if word in response.content_type:
            return extension
    body = response.body or b""
    return ".json" if body.lstrip()[:1] in (b"{", b"[") else ".bin"


class Recorder:
    """Writes polls into ``directory`` (created; an existing recording there is refused, not mixed in)."""

    def __init__(self, directory: Path, source: str, feeds: dict[str, str], static: bytes | None = None) -> None:
        if (directory / INDEX).exists():
            raise RecordingError(f"{directory} already holds a recording; choose another --out")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.sequence = 0
        meta: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "source": source,
            "created_at": utc_now().isoformat(timespec="milliseconds"),
            "feeds": {feed: without_query(url) for feed, url in feeds.items()},
            "static": STATIC if static is not None else None,
        }
        if static is not None:
            (directory / STATIC).write_bytes(static)
        (directory / META).write_text(json.dumps(meta, indent=2) + "\n")
        self._index = (directory / INDEX).open("a", encoding="utf-8")

    def record(self, poll: Poll) -> None:
        for response in poll.responses.values():
            self.sequence += 1
            name = None
            if response.body is not None:
                name = f"{self.sequence:06d}-{response.feed}{_extension(response)}"
                (self.directory / name).write_bytes(response.body)
            entry = {
                "poll": poll.number,
                "feed": response.feed,
                "fetched_at": response.fetched_at.isoformat(timespec="milliseconds"),
                "status": response.status,
                "error": response.error,
                "content_type": response.content_type,
                "file": name,
                "bytes": len(response.body) if response.body is not None else 0,
            }
            self._index.write(json.dumps(entry, sort_keys=True) + "\n")
        self._index.flush()  # a recording cut short by Ctrl-C keeps every poll written so far

    def close(self) -> None:
        self._index.close()


@dataclass(frozen=True)
class _Entry:
    """One response of the index, its body still on disk."""

    feed: str
    fetched_at: datetime
    status: int | None
    error: str | None
    content_type: str
    file: str | None


class RecordedPolls(Sequence[Poll]):
    """A recording's polls in order, each read from disk when asked for: a recording of a day's polls
    (tens of thousands of bodies) never sits in memory at once, only the poll being played."""

    def __init__(self, directory: Path, polls: list[tuple[int, dict[str, _Entry]]]) -> None:
        self.directory = directory
        self._polls = polls

    def __len__(self) -> int:
        return len(self._polls)

    @overload
    def __getitem__(self, index: int) -> Poll: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Poll]: ...
    def __getitem__(self, index: int | slice) -> Poll | Sequence[Poll]:
        if isinstance(index, slice):
            return [self._load(*poll) for poll in self._polls[index]]
        return self._load(*self._polls[index])

    def fetched_at(self, index: int) -> datetime:
        """When poll ``index`` was fetched (no body read)."""
        return min(entry.fetched_at for entry in self._polls[index][1].values())

    def _load(self, number: int, entries: dict[str, _Entry]) -> Poll:
        responses: dict[str, FeedResponse] = {}
        for feed, entry in entries.items():
            try:
                body = (self.directory / entry.file).read_bytes() if entry.file else None
            except OSError as error:  # removed since it was opened: this response replays as a failed one
                body, entry = None, replace(entry, error=f"recorded body unreadable ({error.strerror or error})")
            responses[feed] = FeedResponse(feed, entry.fetched_at, entry.status, body, entry.error, entry.content_type)
        return Poll(number, min(r.fetched_at for r in responses.values()), responses)


@dataclass(frozen=True)
class Recording:
    directory: Path
    meta: dict[str, Any]
    polls: RecordedPolls

    @property
    def source(self) -> str:
        return str(self.meta.get("source", ""))

    @property
    def static_path(self) -> Path | None:
        name = self.meta.get("static")
        return self.directory / name if name else None


def read_recording(directory: Path) -> Recording:
    """The recording in ``directory``: its index read and checked (every body file there), bodies left on
    disk until their poll is played."""
    try:
        meta = json.loads((directory / META).read_text())
        lines = (directory / INDEX).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as missing:
        raise RecordingError(f"{directory} is not a recording: no {Path(missing.filename or '').name}") from None
    except ValueError as error:
        raise RecordingError(f"{directory / META} is not JSON: {error}") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise RecordingError(f"{directory} holds no {FORMAT} version {VERSION}")
    grouped: dict[int, dict[str, _Entry]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            name = entry.get("file") or None
            if name is not None and not (directory / name).is_file():
                raise FileNotFoundError(2, "no such file", str(directory / name))
            grouped.setdefault(int(entry["poll"]), {})[entry["feed"]] = _Entry(
                feed=entry["feed"],
                fetched_at=datetime.fromisoformat(entry["fetched_at"]),
                status=entry.get("status"),
                error=entry.get("error"),
                content_type=entry.get("content_type", ""),
                file=name,
            )
        except (ValueError, KeyError, TypeError, OSError) as error:
            raise RecordingError(f"{directory / INDEX} line {number}: {type(error).__name__}: {error}") from None
    return Recording(directory, meta, RecordedPolls(directory, sorted(grouped.items())))


class ReplaySource:
    """Plays a recording's polls back, spaced as recorded divided by ``speed`` (0: no waiting at all)."""

    def __init__(self, recording: Recording, speed: float = 1.0) -> None:
        self.recording = recording
        self.speed = speed

    def polls(self, stop: threading.Event) -> Iterator[Poll]:
        polls = self.recording.polls
        if not polls:
            return
        first = polls.fetched_at(0)
        began = time.monotonic()
        for index in range(len(polls)):
            if self.speed > 0:
                due = (polls.fetched_at(index) - first).total_seconds() / self.speed
                if stop.wait(max(0.0, due - (time.monotonic() - began))):
                    return
            elif stop.is_set():
                return
            yield polls[index]  # read now, one poll at a time
