"""Chicago's pure state model: what the table, map and freshness show for given records."""

from __future__ import annotations

from transit_status.config import load_settings
from transit_status.dashboard.cta.map import load_network_map
from transit_status.dashboard.cta.state import (
    DashboardState,
    Station,
    StationRemoval,
    StationRemoved,
    StationShown,
    StationUpsert,
    Train,
    TrainArrival,
    TrainMoved,
    TurnstileChanged,
    TurnstileCount,
    TurnstileRemoval,
    TurnstileUpsert,
    Weather,
    WeatherUpdate,
)
from transit_status.dashboard.state import Received
from transit_status.networks.cta import LINE_ORDER

HOWARD, JARVIS, MORSE = 40900, 41190, 40100


def station(station_id: int, name: str, order: int, line: str = "red") -> Received:
    return Received(
        "stations", StationUpsert(Station(station_id, name, line, order)), record_ms=1_000, received_ms=2_000
    )


def arrival(
    train_id: str, station_id: int, direction: str = "a", line: str = "red", at: int = 5_000, **extra
) -> Received:
    train = Train(
        train_id=train_id,
        line=line,
        route=extra.get("route", "Red"),
        station_id=station_id,
        station_name=extra.get("station_name", f"station {station_id}"),
        direction=direction,
        train_status=extra.get("status", "in_service"),
        simulated_at=at,
        produced_at=at + 1,
    )
    return Received("arrivals", TrainArrival(train), record_ms=at, received_ms=at + 10)


def count(station_id: int, value: int, record_ms: int = 7_000) -> Received:
    entry = TurnstileCount(station_id, f"station {station_id}", value)
    return Received("turnstile_summary", TurnstileUpsert(entry), record_ms=record_ms, received_ms=record_ms + 5)


def weather(temperature: float, status: str, record_ms: int) -> Received:
    return Received(
        "weather", WeatherUpdate(Weather(temperature, status, record_ms)), record_ms=record_ms, received_ms=record_ms
    )


def test_stations_are_listed_per_line_in_their_order_whatever_order_they_arrive_in() -> None:
    state = DashboardState(LINE_ORDER)
    for received in (station(MORSE, "Morse", 2), station(HOWARD, "Howard", 0), station(JARVIS, "Jarvis", 1)):
        state.apply(received)
    state.apply(station(41320, "Belmont", 3, line="brown"))

    rows = state.status_rows()

    assert [(row["line"], row["station_name"]) for row in rows] == [
        ("red", "Howard"),
        ("red", "Jarvis"),
        ("red", "Morse"),
        ("brown", "Belmont"),
    ]
    assert [group["line"] for group in state.stations_json()] == list(LINE_ORDER)


def test_a_station_record_replaces_the_previous_one_and_a_tombstone_removes_it() -> None:
    state = DashboardState(LINE_ORDER)
    state.apply(station(HOWARD, "Howard", 0))
    state.apply(station(JARVIS, "Jarvis", 1))
    renamed = state.apply(station(HOWARD, "Howard Street", 5))
    unchanged = state.apply(station(HOWARD, "Howard Street", 5))
    removed = state.apply(Received("stations", StationRemoval("red", JARVIS), None, 3_000))

    assert [row["station_name"] for row in state.status_rows()] == ["Howard Street"]
    assert isinstance(renamed, StationShown) and renamed.message()["station"]["order"] == 5
    assert unchanged is None
    assert removed == StationRemoved(state.seq, "red", JARVIS)
    # A station shown then removed within one push: only the removal goes out (same key, later wins).
    assert removed.key == StationShown(1, Station(JARVIS, "Jarvis", "red", 1)).key


def test_trains_show_in_the_column_of_their_direction_and_move_with_each_arrival() -> None:
    state = DashboardState(LINE_ORDER)
    for received in (station(HOWARD, "Howard", 0), station(JARVIS, "Jarvis", 1)):
        state.apply(received)
    state.apply(arrival("RL001", HOWARD, "a"))
    state.apply(arrival("RL002", JARVIS, "b"))

    rows = {row["station_id"]: row for row in state.status_rows()}
    assert (rows[HOWARD]["trains_a"], rows[HOWARD]["trains_b"]) == (["RL001"], [])
    assert (rows[JARVIS]["trains_a"], rows[JARVIS]["trains_b"]) == ([], ["RL002"])

    update = state.apply(arrival("RL001", JARVIS, "a", at=9_000))

    rows = {row["station_id"]: row for row in state.status_rows()}
    assert rows[HOWARD]["trains_a"] == []
    assert (rows[JARVIS]["trains_a"], rows[JARVIS]["trains_b"]) == (["RL001"], ["RL002"])
    assert isinstance(update, TrainMoved) and update.key == ("train", "RL001")
    message = update.message()
    assert set(message) == {"type", "seq", "train"}  # only what the page reads
    assert message["train"]["station_id"] == JARVIS and message["train"]["produced_at"] == 9_001
    assert [train.train_id for train in state.trains()] == ["RL001", "RL002"]


def test_a_train_is_shown_on_its_own_line_at_a_shared_station() -> None:
    state = DashboardState(LINE_ORDER)
    state.apply(station(HOWARD, "Howard", 0, line="red"))
    state.apply(station(HOWARD, "Howard", 0, line="purple"))
    state.apply(arrival("PL001", HOWARD, "b", line="purple", route="Purple Local"))

    rows = {(row["line"], row["station_id"]): row for row in state.status_rows()}
    assert rows[("red", HOWARD)]["trains_b"] == []
    assert rows[("purple", HOWARD)]["trains_b"] == ["PL001"]


def test_turnstile_entries_are_the_latest_total_per_station_on_every_line_serving_it() -> None:
    state = DashboardState(LINE_ORDER)
    state.apply(station(HOWARD, "Howard", 0, line="red"))
    state.apply(station(HOWARD, "Howard", 0, line="yellow"))
    state.apply(count(HOWARD, 10))
    state.apply(count(HOWARD, 12))

    assert state.turnstiles() == {HOWARD: 12}
    assert {row["line"]: row["turnstile_entries"] for row in state.status_rows()} == {"red": 12, "yellow": 12}
    assert state.apply(count(HOWARD, 12)) is None  # nothing changed: nothing to push

    removal = state.apply(Received("turnstile_summary", TurnstileRemoval(HOWARD), None, 9_000))
    assert removal == TurnstileChanged(state.seq, HOWARD, None)
    assert removal.message() == {"type": "turnstile", "seq": state.seq, "station_id": HOWARD, "count": None}
    assert state.turnstiles() == {}
    assert state.status_rows()[0]["turnstile_entries"] is None


def test_the_newest_weather_reading_wins_even_if_an_older_one_arrives_later() -> None:
    state = DashboardState(LINE_ORDER)
    assert state.weather() is None
    state.apply(weather(50.0, "cloudy", record_ms=2_000))
    assert state.apply(weather(40.0, "windy", record_ms=1_000)) is None
    state.apply(weather(55.5, "sunny", record_ms=3_000))

    assert state.weather() == {"temperature": 55.5, "status": "sunny", "timestamp": 3_000, "record_at": 3_000}


def test_freshness_is_the_last_record_time_per_topic() -> None:
    state = DashboardState(LINE_ORDER)
    assert all(fresh.records == 0 and fresh.last_record_ms is None for fresh in state.freshness().values())

    state.apply(arrival("RL001", HOWARD, at=5_000))
    state.apply(arrival("RL001", JARVIS, at=8_000))
    state.apply(count(HOWARD, 1, record_ms=7_000))

    fresh = state.freshness()
    assert (fresh["arrivals"].records, fresh["arrivals"].last_record_ms, fresh["arrivals"].last_received_ms) == (
        2,
        8_000,
        8_010,
    )
    assert fresh["turnstile_summary"].last_record_ms == 7_000
    assert fresh["stations"].records == 0 and fresh["weather"].last_record_ms is None


def test_every_change_gets_the_next_seq_and_the_snapshot_says_which_it_includes() -> None:
    state = DashboardState(LINE_ORDER)
    seqs = [state.apply(r).seq for r in (station(HOWARD, "Howard", 0), arrival("RL001", HOWARD))]  # type: ignore[union-attr]
    snapshot = state.snapshot()

    assert seqs == [1, 2]
    assert snapshot["seq"] == 2
    assert snapshot["trains"][0]["train_id"] == "RL001"
    assert set(snapshot) == {"seq", "stations", "trains", "turnstiles", "weather"}  # the page builds the table


def test_trains_are_placed_on_the_map_at_their_station() -> None:
    network_map = load_network_map(load_settings())
    state = DashboardState(LINE_ORDER, network_map)
    state.apply(arrival("RL001", HOWARD))
    state.apply(arrival("XX001", 99999))  # a station the map does not know: no position, no crash

    trains = {train["train_id"]: train for train in state.snapshot()["trains"]}
    howard = network_map.stations[HOWARD]
    assert (trains["RL001"]["x"], trains["RL001"]["y"]) == network_map.projection.project(
        howard.latitude, howard.longitude
    )
    assert (trains["XX001"]["x"], trains["XX001"]["y"]) == (None, None)
