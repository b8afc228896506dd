"""London's JSON contracts (docs/ARCHITECTURE.md, "London"): Flink SQL's upsert and window topics (the
shared rules: ``dashboard/contracts.py``)."""

from __future__ import annotations

from typing import Literal

from transit_status.avro.wire import BadRecord
from transit_status.dashboard.contracts import AwareUtc, Contract, Count, Name, epoch_ms, keyed_change, parse
from transit_status.dashboard.london.state import (
    ActivityRemoval,
    ActivityUpsert,
    LineActivity,
    LineRemoval,
    LineUpsert,
    StationActivity,
    StationWindow,
    WindowClosed,
)


class ActivityKey(Contract):
    station: Name


class ActivityRecord(Contract):
    """``topic_london_station_activity``: counted so far at a station; ``known`` false for a name the
    stations table does not have."""

    station: Name
    known: bool
    entries: Count
    exits: Count
    inside: int


class LineKey(Contract):
    line: Name


class LineRecord(Contract):
    """``topic_london_line_activity``: counted so far on a line."""

    line: Name
    entries: Count
    exits: Count
    inside: int


class WindowRecord(Contract):
    """``topic_london_station_windows``: entries and exits of one station in one 1- or 15-minute window."""

    station: Name
    window_minutes: Literal[1, 15]
    window_start: AwareUtc
    window_end: AwareUtc
    entries: Count
    exits: Count


# Like station_change and summary_change, a call of _keyed_change: only the models and the changes differ.
def activity_change(key: bytes | None, value: bytes | None) -> ActivityUpsert | ActivityRemoval:
    """JSON key ``{station}``, JSON value; a null value removes the station's counts."""
    return keyed_change(
        key,
        value,
        (ActivityKey, ActivityRecord),
        lambda gone: ActivityRemoval(gone.station),
        lambda record: ActivityUpsert(StationActivity(**record.model_dump())),
    )


def line_activity_change(key: bytes | None, value: bytes | None) -> LineUpsert | LineRemoval:
    """JSON key ``{line}``, JSON value ``{line, entries, exits, inside}``; a null value removes the line."""
    return keyed_change(
        key,
        value,
        (LineKey, LineRecord),
        lambda gone: LineRemoval(gone.line),
        lambda record: LineUpsert(LineActivity(**record.model_dump())),
    )


def window_change(value: bytes | None) -> WindowClosed:
    """JSON value of one window (the key repeats its station, size and start)."""
    record = parse(WindowRecord, value, "value")
    if record.window_end <= record.window_start:
        raise BadRecord("window_end is not after window_start")
    return WindowClosed(
        StationWindow(
            station=record.station,
            window_minutes=record.window_minutes,
            window_start=epoch_ms(record.window_start),
            window_end=epoch_ms(record.window_end),
            entries=record.entries,
            exits=record.exits,
        )
    )
