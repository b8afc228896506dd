"""London's live state, contracts, map and crowding, as pure rules (no Kafka, no OpenSearch)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from transit_status.avro.wire import BadRecord
from transit_status.config import load_settings
from transit_status.dashboard.hub import LiveHub
from transit_status.dashboard.london.contracts import activity_change, line_activity_change, window_change
from transit_status.dashboard.london.map import LondonMap, spanning_tree
from transit_status.dashboard.london.series import series_view
from transit_status.dashboard.london.state import (
    BUSIEST_COUNT,
    LondonState,
    SeriesRefreshed,
    StationActivityChanged,
)
from transit_status.dashboard.state import Received
from transit_status.networks import load_network

NOW = 1_714_550_000_000


def activity(station: str, entries: int, exits: int, known: bool = True) -> Received:
    value = {"station": station, "known": known, "entries": entries, "exits": exits, "inside": entries - exits}
    change = activity_change(json.dumps({"station": station}).encode(), json.dumps(value).encode())
    return Received("station_activity", change, NOW, NOW)


def window(station: str, start: str, end: str, entries: int, exits: int, minutes: int = 15) -> Received:
    value = {"station": station, "window_minutes": minutes, "window_start": start, "window_end": end}
    change = window_change(json.dumps({**value, "entries": entries, "exits": exits}).encode())
    return Received("station_windows", change, NOW, NOW)


@pytest.fixture(scope="module")
def london() -> LondonMap:
    return LondonMap.of(load_network(load_settings(network="tfl")))


def test_the_latest_counts_of_a_station_win_and_unknown_stations_are_listed() -> None:
    state = LondonState()
    first = state.apply(activity("Bank and Monument", 3, 1))
    assert isinstance(first, StationActivityChanged) and first.key == ("activity", "Bank and Monument")
    state.apply(activity("Bank and Monument", 10, 4))
    assert state.apply(activity("Bank and Monument", 10, 4)) is None  # nothing changed: nothing pushed
    state.apply(activity("Narnia Parkway", 2, 0, known=False))
    assert state.station("Bank and Monument").entries == 10  # type: ignore[union-attr]
    assert [a.station for a in state.unknown_stations()] == ["Narnia Parkway"]
    snapshot = state.snapshot()
    assert snapshot["seq"] == 3
    assert {s["station"]: s["inside"] for s in snapshot["stations"]} == {"Bank and Monument": 6, "Narnia Parkway": 2}


def test_a_tombstone_removes_a_station_and_tells_the_page() -> None:
    state = LondonState()
    state.apply(activity("Oval", 5, 5))
    update = state.apply(Received("station_activity", activity_change(b'{"station": "Oval"}', None), NOW, NOW))
    assert update is not None and update.message() == {
        "type": "activity",
        "seq": 2,
        "station": "Oval",
        "activity": None,
    }
    assert state.stations() == []


def test_updates_of_one_station_coalesce_in_a_tick_and_are_encoded_once() -> None:
    hub = LiveHub(LondonState())
    client = hub.connect()
    client.due_frame(hub)  # the snapshot
    hub.apply([activity("Oval", n, 0) for n in range(1, 50)] + [activity("Brixton", 7, 1)])
    updates = hub.tick()
    assert [(u.key, u.message()["activity"]["entries"]) for u in updates] == [
        (("activity", "Oval"), 49),
        (("activity", "Brixton"), 7),
    ]
    assert hub.frames_encoded == 1 and len(client.frames) == 1


def test_busiest_stations_are_those_of_the_newest_15_minute_window() -> None:
    state = LondonState()
    state.apply(window("Oval", "2024-05-01T08:00:00Z", "2024-05-01T08:15:00Z", 900, 10))
    assert state.apply(window("Oval", "2024-05-01T08:14:00Z", "2024-05-01T08:15:00Z", 5, 5, minutes=1)) is None
    for n in range(12):
        state.apply(window(f"Station {n:02d}", "2024-05-01T08:15:00Z", "2024-05-01T08:30:00Z", 10 * n, n))
    update = state.apply(window("Brixton", "2024-05-01T08:15:00Z", "2024-05-01T08:30:00Z", 500, 40))
    assert update is not None and update.key == ("busiest",)
    busiest = state.busiest()
    assert busiest is not None
    assert busiest["window_start"] == int(datetime(2024, 5, 1, 8, 15, tzinfo=UTC).timestamp() * 1000)
    names = [row["station"] for row in busiest["stations"]]
    assert names[:2] == ["Brixton", "Station 11"] and len(names) == BUSIEST_COUNT
    assert "Oval" not in names  # its window is an older one
    # A late record of an older window changes nothing.
    assert state.apply(window("Brixton", "2024-05-01T08:00:00Z", "2024-05-01T08:15:00Z", 1, 1)) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"station": "Oval", "known": "yes", "entries": 1, "exits": 0, "inside": 1}', "known"),
        (b'{"station": "Oval", "known": true, "entries": -1, "exits": 0, "inside": 1}', "entries"),
        (b'{"station": "", "known": true, "entries": 1, "exits": 0, "inside": 1}', "station"),
        (b"not json", "Invalid JSON"),
    ],
)
def test_bad_activity_records_are_refused_with_a_reason(value: bytes, reason: str) -> None:
    with pytest.raises(BadRecord, match=reason):
        activity_change(b'{"station": "Oval"}', value)


def test_bad_windows_and_line_records_are_refused() -> None:
    bad_size = b'{"station":"Oval","window_minutes":5,"window_start":"2024-05-01T08:00:00Z",'
    with pytest.raises(BadRecord, match="window_minutes"):
        window_change(bad_size + b'"window_end":"2024-05-01T08:05:00Z","entries":1,"exits":1}')
    backwards = b'{"station":"Oval","window_minutes":15,"window_start":"2024-05-01T08:15:00Z",'
    with pytest.raises(BadRecord, match="window_end"):
        window_change(backwards + b'"window_end":"2024-05-01T08:00:00Z","entries":1,"exits":1}')
    with pytest.raises(BadRecord, match="key does not match"):
        line_activity_change(b'{"line": "central"}', b'{"line": "victoria", "entries": 1, "exits": 0, "inside": 1}')


def test_every_station_is_on_the_map_and_every_line_links_all_its_stations(london: LondonMap) -> None:
    drawn = london.as_json("tuesday_thursday")
    assert len(drawn["stations"]) == 270
    assert all(0 <= s["x"] <= drawn["width"] and 0 <= s["y"] <= drawn["height"] for s in drawn["stations"])
    for line in london.network.lines:
        stations = {s.station_id for s in london.network.stations.values() if line.line_id in s.lines}
        linked = {station.station_id for pair in london.links[line.line_id] for station in pair}
        assert linked == stations and len(london.links[line.line_id]) == len(stations) - 1  # a tree
    bank = next(s for s in drawn["stations"] if s["name"] == "Bank and Monument")
    assert bank["typical_entries"] > 50_000


def test_a_spanning_tree_follows_the_branches_instead_of_zigzagging() -> None:
    # A Y: a trunk of three points and two branches of two.
    points = [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (-1.0, 3.0), (-2.0, 4.0), (1.0, 3.0), (2.0, 4.0)]
    edges = {frozenset(edge) for edge in spanning_tree(points)}
    assert edges == {frozenset(e) for e in [(0, 1), (1, 2), (2, 3), (3, 4), (2, 5), (5, 6)]}


def test_crowding_compares_todays_entries_with_a_typical_day_by_now(london: LondonMap) -> None:
    # A Wednesday, 09:00 in London (08:00 UTC): a typical weekday's share of entries since midnight.
    now = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    share = sum(london.typical_shares(london.local_midnight(now), now).values())
    assert 0.1 < share < 0.3
    bank = london.by_name["Bank and Monument"]
    typical = bank.daily_entries["tuesday_thursday"] * share
    crowding = london.crowding({"Bank and Monument": round(typical * 2), "Oval": 0}, None, now)
    assert crowding["day_type"] == "tuesday_thursday"
    top = crowding["stations"][0]
    assert (top["station"], top["ratio"]) == ("Bank and Monument", 2.0)
    # Counting since 08:30 local: only that half hour is expected.
    since = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    later = london.crowding({"Bank and Monument": 1}, since, now)
    assert later["since"] == int(since.timestamp() * 1000)
    assert later["network"]["expected"] < crowding["network"]["expected"] / 3


def test_a_faster_simulation_is_compared_with_a_longer_typical_period() -> None:
    network = load_network(load_settings(network="tfl"))
    now = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    since = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    real_time = LondonMap.of(network).crowding({}, since, now)["network"]["expected"]
    ten_times = LondonMap.of(network, speed=10.0).crowding({}, since, now)["network"]["expected"]
    assert ten_times > 5 * real_time


def test_the_series_is_built_from_opensearch_histograms_and_pushed_as_one_update(london: LondonMap) -> None:
    now = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

    def response(counts: list[int], stations: dict[str, int] | None = None) -> dict:
        buckets = {"buckets": [{"key": NOW + 60_000 * i, "doc_count": c} for i, c in enumerate(counts)]}
        today: dict = {"buckets": buckets}
        if stations is not None:
            today["by_station"] = {"buckets": [{"key": k, "doc_count": v} for k, v in stations.items()]}
            today["first"] = {"value": None}
        return {"aggregations": {"last_hour": {"buckets": buckets}, "today": today}}

    series = series_view(london, now, response([1, 2, 3], {"Oval": 6}), None)
    assert series["entries"]["last_hour"] == [[NOW, 1], [NOW + 60_000, 2], [NOW + 120_000, 3]]
    assert series["exits"] == {"last_hour": [], "today": [], "waiting": True}
    assert series["crowding"]["network"]["entries"] == 6
    state = LondonState()
    update = state.apply(Received("opensearch", SeriesRefreshed(series), None, NOW))
    assert update is not None and update.key == ("series",) and state.snapshot()["series"] == series
