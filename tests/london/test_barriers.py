"""London's barrier simulation over whole simulated days, against TfL's typical-day counts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from transit_status.config import load_settings
from transit_status.london.barriers import ENTRY, EXIT, BarrierConfig, BarrierEvent, BarrierSimulation
from transit_status.networks import Network, load_network

from .conftest import DAYS, SCALE, SimulatedDay

LONDON = ZoneInfo("Europe/London")
MAX_JOURNEY = timedelta(hours=3)  # Amersham to Upminster, door to door, slowest jitter: well under


@pytest.mark.parametrize("day_type", list(DAYS))
def test_daily_entries_per_station_are_within_ten_percent_of_the_data(
    london: Network, simulated_days: dict[str, SimulatedDay], day_type: str
) -> None:
    day = simulated_days[day_type]
    assert london.day_type_of(day.day) == day_type
    entries = Counter(event.station_id for event in day.events if event.delta == ENTRY)
    for station_id, station in london.stations.items():
        expected = station.daily_entries[day_type] * SCALE
        simulated = entries.get(station_id, 0)
        if expected == 0:
            assert simulated == 0, f"{station.name} has no counts but had {simulated} entries"
        else:
            assert abs(simulated - expected) <= 0.10 * expected, (station.name, day_type, simulated, expected)


@pytest.mark.parametrize("day_type", ["tuesday_thursday", "saturday"])
def test_daily_exits_per_station_follow_the_data(
    london: Network, simulated_days: dict[str, SimulatedDay], day_type: str
) -> None:
    # Exits are where journeys end, drawn station by station from the exit counts: a station's daily
    # exits vary like a binomial draw (+-3 % at 1,000), so only stations that large are held to 15 %.
    day = simulated_days[day_type]
    exits = Counter(event.station_id for event in day.events if event.delta == EXIT)
    checked = 0
    for station_id, station in london.stations.items():
        expected = station.daily_exits[day_type] * SCALE
        if expected == 0:
            assert exits[station_id] == 0, station.name
        elif expected >= 1000:
            assert abs(exits[station_id] - expected) <= 0.15 * expected, (station.name, exits[station_id], expected)
            checked += 1
    assert checked >= 20
    entries = sum(1 for event in day.events if event.delta == ENTRY)
    assert sum(exits.values()) == pytest.approx(entries, rel=0.02)  # a few journeys still under way at midnight


def test_each_card_taps_in_once_and_out_later_at_another_station(simulated_days: dict[str, SimulatedDay]) -> None:
    day = simulated_days["tuesday_thursday"]
    entered: dict[str, BarrierEvent] = {}
    exited: set[str] = set()
    for event in day.events:
        if event.delta == ENTRY:
            assert event.card not in entered, f"card {event.card} tapped in twice"
            entered[event.card] = event
        else:
            assert event.delta == EXIT
            entry = entered.get(event.card)
            assert entry is not None, f"card {event.card} tapped out without tapping in"
            assert event.card not in exited, f"card {event.card} tapped out twice"
            assert event.station_id != entry.station_id
            assert entry.at < event.at <= entry.at + MAX_JOURNEY
            exited.add(event.card)
    # Only journeys still under way at midnight have no exit yet.
    midnight = day.barriers.now
    for card in entered.keys() - exited:
        assert entered[card].at > midnight - MAX_JOURNEY
    assert len(entered) - len(exited) < 0.01 * len(entered)
    assert all(len(card) == 12 and card.isdigit() for card in entered)


def _by_zone_and_hour(network: Network, day: SimulatedDay) -> Counter[tuple[str, int, int]]:
    """(inner or outer London, local hour, delta) -> taps."""
    counts: Counter[tuple[str, int, int]] = Counter()
    for event in day.events:
        zones = network.stations[event.station_id].zones
        where = "zone 1" if min(zones) == 1 else "zone 3+" if min(zones) >= 3 else "zone 2"
        counts[(where, event.at.astimezone(LONDON).hour, event.delta)] += 1
    return counts


def test_weekday_mornings_flow_into_zone_1_and_evenings_back_out(
    london: Network, simulated_days: dict[str, SimulatedDay]
) -> None:
    counts = _by_zone_and_hour(london, simulated_days["tuesday_thursday"])

    def taps(where: str, hours: range, delta: int) -> int:
        return sum(counts[(where, hour, delta)] for hour in hours)

    morning, evening = range(7, 10), range(16, 19)
    # Suburbs: people tap in to go to work in the morning and tap out coming home in the evening.
    assert taps("zone 3+", morning, ENTRY) > 2 * taps("zone 3+", morning, EXIT)
    assert taps("zone 3+", evening, EXIT) > 2 * taps("zone 3+", evening, ENTRY)
    # Zone 1: the mirror image, less marked (journeys within zone 1 go both ways all day).
    assert taps("zone 1", morning, EXIT) > 1.5 * taps("zone 1", morning, ENTRY)
    assert taps("zone 1", evening, ENTRY) > 1.5 * taps("zone 1", evening, EXIT)
    # The suburbs' entries peak in the morning, zone 1's in the evening.
    outer_entries = [taps("zone 3+", range(hour, hour + 1), ENTRY) for hour in range(24)]
    inner_entries = [taps("zone 1", range(hour, hour + 1), ENTRY) for hour in range(24)]
    assert max(range(24), key=outer_entries.__getitem__) in (7, 8)
    assert max(range(24), key=inner_entries.__getitem__) in (17, 18)
    # Nobody travels in the small hours of a weekday (no Night Tube mid-week).
    assert sum(counts[(where, 3, ENTRY)] for where in ("zone 1", "zone 2", "zone 3+")) == 0


def test_weekends_have_no_commuter_tilt(london: Network, simulated_days: dict[str, SimulatedDay]) -> None:
    counts = _by_zone_and_hour(london, simulated_days["saturday"])
    morning = range(8, 11)
    for where in ("zone 1", "zone 3+"):
        entries = sum(counts[(where, hour, ENTRY)] for hour in morning)
        exits = sum(counts[(where, hour, EXIT)] for hour in morning)
        assert 0.7 < entries / exits < 1.5, (where, entries, exits)


def test_taps_come_in_time_order_inside_the_day(simulated_days: dict[str, SimulatedDay]) -> None:
    day = simulated_days["tuesday_thursday"]
    times = [event.at for event in day.events]
    assert times == sorted(times)
    assert day.barriers.start <= times[0] and times[-1] < day.barriers.now
    # Entries fall anywhere inside their minute, not on tick edges.
    by_second = Counter(event.at.second for event in day.events if event.delta == ENTRY)
    assert min(by_second.values()) > 0.8 * max(by_second.values())


def test_the_same_seed_gives_the_same_taps_however_time_is_stepped(london: Network) -> None:
    start = datetime(2023, 6, 7, 8, 0)
    config = BarrierConfig(ridership_scale=0.02)
    at_once = BarrierSimulation(london, start=start, seed=5, config=config).advance(start + timedelta(hours=1))
    stepped_sim = BarrierSimulation(london, start=start, seed=5, config=config)
    stepped: list[BarrierEvent] = []
    while stepped_sim.local_time().replace(tzinfo=None) < start + timedelta(minutes=59):
        stepped += stepped_sim.step(17.3)
    stepped += stepped_sim.advance(start + timedelta(hours=1))
    assert stepped == at_once and len(at_once) > 1000
    other = BarrierSimulation(london, start=start, seed=6, config=config).advance(start + timedelta(hours=1))
    assert [event.card for event in other] != [event.card for event in at_once]


def test_barriers_need_exit_counts_and_sane_settings(london: Network) -> None:
    with pytest.raises(ValueError, match="no exit counts"):
        BarrierSimulation(load_network(load_settings(network="cta")))
    with pytest.raises(ValueError, match="ridership_scale"):
        BarrierConfig(ridership_scale=0)
    with pytest.raises(ValueError, match="backwards"):
        BarrierSimulation(london, seed=1).step(-1)
