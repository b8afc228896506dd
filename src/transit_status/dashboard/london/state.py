"""The London page's live state, as a pure model: decoded records in, JSON-ready views and typed updates out.

Same design as Chicago's state (``cta/state.py``), on the same shared base (``dashboard/state.py``):
no Kafka, no threads, no clock of its own; the hub (``hub.py``) applies
:class:`~transit_status.dashboard.state.Received` changes under its lock and pushes the typed
updates :meth:`LondonState.apply` returns, coalesced per tick by their ``key``.

Rules:
* Station activity (``topic_london_station_activity``, upsert): the latest counts per station name
  win; a tombstone removes the station. A station the stations table does not know
  (``known: false``) is kept and listed: barrier events are never silently dropped.
* Line activity (``topic_london_line_activity``, upsert): the latest counts per line.
* Windows (``topic_london_station_windows``): per station, the newest 15-minute window. The busiest
  stations now are those of the newest window any station has, by entries + exits. 1-minute windows
  only count as traffic on the feed (the page has the per-minute chart from OpenSearch for those).
* Series (from OpenSearch, refreshed by the server): the latest result replaces the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from transit_status.dashboard.state import Received, SequencedState, UpdateKey

LondonRole = Literal["station_activity", "line_activity", "station_windows", "opensearch"]
LONDON_TOPIC_ROLES: tuple[LondonRole, ...] = ("station_activity", "line_activity", "station_windows")
BUSIEST_WINDOW_MINUTES = 15
BUSIEST_COUNT = 10


@dataclass(frozen=True, slots=True)
class StationActivity:
    station: str
    known: bool
    entries: int
    exits: int
    inside: int
    """entries - exits: the people who tapped in here and have not tapped out here (may be negative)."""


@dataclass(frozen=True, slots=True)
class LineActivity:
    line: str
    entries: int
    exits: int
    inside: int


@dataclass(frozen=True, slots=True)
class StationWindow:
    station: str
    window_minutes: int
    window_start: int
    """Epoch milliseconds (UTC)."""
    window_end: int
    entries: int
    exits: int


# ---- changes: what one good record (or one OpenSearch refresh) means --------------------------------
@dataclass(frozen=True, slots=True)
class ActivityUpsert:
    activity: StationActivity


@dataclass(frozen=True, slots=True)
class ActivityRemoval:
    station: str


@dataclass(frozen=True, slots=True)
class LineUpsert:
    activity: LineActivity


@dataclass(frozen=True, slots=True)
class LineRemoval:
    line: str


@dataclass(frozen=True, slots=True)
class WindowClosed:
    window: StationWindow


@dataclass(frozen=True, slots=True)
class SeriesRefreshed:
    series: Mapping[str, Any]
    """The JSON the series endpoint serves (``london/series.py``): histograms and crowding."""


LondonChange = ActivityUpsert | ActivityRemoval | LineUpsert | LineRemoval | WindowClosed | SeriesRefreshed


# ---- updates: what the browsers are told ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StationActivityChanged:
    seq: int
    station: str
    activity: StationActivity | None
    """None: the station's counts were removed (a tombstone)."""
    kind: ClassVar[str] = "activity"

    @property
    def key(self) -> UpdateKey:
        return ("activity", self.station)

    def message(self) -> dict[str, Any]:
        body = asdict(self.activity) if self.activity else None
        return {"type": self.kind, "seq": self.seq, "station": self.station, "activity": body}


@dataclass(frozen=True, slots=True)
class LineActivityChanged:
    seq: int
    line: str
    activity: LineActivity | None
    kind: ClassVar[str] = "line"

    @property
    def key(self) -> UpdateKey:
        return ("line", self.line)

    def message(self) -> dict[str, Any]:
        body = asdict(self.activity) if self.activity else None
        return {"type": self.kind, "seq": self.seq, "line": self.line, "activity": body}


@dataclass(frozen=True, slots=True)
class BusiestChanged:
    seq: int
    busiest: Mapping[str, Any]
    kind: ClassVar[str] = "busiest"

    @property
    def key(self) -> UpdateKey:
        return ("busiest",)

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "busiest": self.busiest}


@dataclass(frozen=True, slots=True)
class SeriesChanged:
    seq: int
    series: Mapping[str, Any]
    kind: ClassVar[str] = "series"

    @property
    def key(self) -> UpdateKey:
        return ("series",)

    def message(self) -> dict[str, Any]:
        return {"type": self.kind, "seq": self.seq, "series": self.series}


LondonUpdate = StationActivityChanged | LineActivityChanged | BusiestChanged | SeriesChanged


def busiest_view(windows: Mapping[str, StationWindow], count: int = BUSIEST_COUNT) -> dict[str, Any] | None:
    """The stations of the newest window, busiest (entries + exits) first; None before any window."""
    if not windows:
        return None
    newest = max(window.window_start for window in windows.values())
    current = [window for window in windows.values() if window.window_start == newest]
    current.sort(key=lambda w: (-(w.entries + w.exits), w.station))
    return {
        "window_minutes": BUSIEST_WINDOW_MINUTES,
        "window_start": newest,
        "window_end": current[0].window_end,
        "stations": [
            {"station": w.station, "entries": w.entries, "exits": w.exits, "total": w.entries + w.exits}
            for w in current[:count]
        ],
    }


class LondonState(SequencedState[LondonChange, LondonUpdate]):
    """Station and line activity, the newest windows, the OpenSearch series and freshness."""

    def __init__(self) -> None:
        super().__init__(LONDON_TOPIC_ROLES)
        self._stations: dict[str, StationActivity] = {}
        self._lines: dict[str, LineActivity] = {}
        self._windows: dict[str, StationWindow] = {}
        self._busiest: dict[str, Any] | None = None
        self._series: Mapping[str, Any] | None = None

    # ---- writes ----------------------------------------------------------------------------------
    def _change(self, received: Received[LondonChange]) -> LondonUpdate | None:
        change = received.change
        if isinstance(change, ActivityUpsert):
            activity = change.activity
            return self._upsert(
                self._stations,
                activity.station,
                activity,
                lambda seq: StationActivityChanged(seq, activity.station, activity),
            )
        if isinstance(change, ActivityRemoval):
            station = change.station
            return self._remove(self._stations, station, lambda seq: StationActivityChanged(seq, station, None))
        if isinstance(change, LineUpsert):
            line = change.activity
            return self._upsert(self._lines, line.line, line, lambda seq: LineActivityChanged(seq, line.line, line))
        if isinstance(change, LineRemoval):
            name = change.line
            return self._remove(self._lines, name, lambda seq: LineActivityChanged(seq, name, None))
        if isinstance(change, WindowClosed):
            return self._close_window(change.window)
        if isinstance(change, SeriesRefreshed):
            self._series = change.series
            return SeriesChanged(self._next_seq(), change.series)
        raise TypeError(f"unknown change {change!r}")

    def _close_window(self, window: StationWindow) -> LondonUpdate | None:
        if window.window_minutes != BUSIEST_WINDOW_MINUTES:
            return None
        held = self._windows.get(window.station)
        if held is not None and held.window_start > window.window_start:
            return None  # a late record of an older window
        self._windows[window.station] = window
        busiest = busiest_view(self._windows)
        if busiest == self._busiest:
            return None
        self._busiest = busiest
        assert busiest is not None
        return BusiestChanged(self._next_seq(), busiest)

    # ---- reads -----------------------------------------------------------------------------------
    def stations(self) -> list[StationActivity]:
        return sorted(self._stations.values(), key=lambda a: a.station)

    def station(self, name: str) -> StationActivity | None:
        return self._stations.get(name)

    def unknown_stations(self) -> list[StationActivity]:
        """Stations barrier events came from that the stations table does not know."""
        return [activity for activity in self.stations() if not activity.known]

    def lines(self) -> list[LineActivity]:
        return sorted(self._lines.values(), key=lambda a: a.line)

    def busiest(self) -> dict[str, Any] | None:
        return self._busiest

    def series(self) -> Mapping[str, Any] | None:
        return self._series

    def _views(self) -> dict[str, Any]:
        """The London page's live parts."""
        return {
            "stations": [asdict(activity) for activity in self.stations()],
            "lines": [asdict(activity) for activity in self.lines()],
            "busiest": self._busiest,
            "series": self._series,
        }
