"""The CTA network as built from data/cta: lines, routes, platforms, stops, shapes, ridership, calendar."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from transit_status.config import load_settings
from transit_status.networks import Network, load_network, load_network_from
from transit_status.networks.cta import cta_day_type, read_hourly_shares

DATA = load_settings(network="cta").network_data_dir

EXPECTED_ROUTES = {
    "red": ("red", 33, "Howard", "95th/Dan Ryan"),
    "blue": ("blue", 33, "O'Hare", "Forest Park"),
    "brown": ("brown", 27, "Kimball", "Clark/Lake"),
    "green-ashland-63rd": ("green", 28, "Harlem/Lake", "Ashland/63rd"),
    "green-cottage-grove": ("green", 28, "Harlem/Lake", "Cottage Grove"),
    "orange": ("orange", 16, "Midway", "Adams/Wabash"),
    "pink": ("pink", 22, "54th/Cermak", "Washington/Wells"),
    "purple-local": ("purple", 9, "Linden", "Howard"),
    "purple-express": ("purple", 26, "Linden", "Washington/Wells"),
    "yellow": ("yellow", 3, "Howard", "Dempster-Skokie"),
}


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_all_eight_lines_and_ten_routes(network: Network) -> None:
    assert [line.line_id for line in network.lines] == [
        "red",
        "blue",
        "brown",
        "green",
        "orange",
        "pink",
        "purple",
        "yellow",
    ]
    assert {route.route_id for route in network.routes} == set(EXPECTED_ROUTES)
    for route in network.routes:
        line, count, first, last = EXPECTED_ROUTES[route.route_id]
        assert route.line == line
        assert len(route.stops) == count
        assert network.stations[route.stops[0].station_id].name == first
        assert network.stations[route.stops[-1].station_id].name == last


def test_routes_follow_the_sequence_file_order_and_distances(network: Network) -> None:
    by_route: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in _rows("cta_line_sequences.csv"):
        by_route.setdefault((row["line"], row["branch"]), []).append(row)
    assert len(by_route) == len(network.routes)
    for route in network.routes:
        rows = next(rows for (line, branch), rows in by_route.items() if route.name == f"{line} {branch}".strip())
        rows.sort(key=lambda row: int(row["order"]))
        assert list(route.station_ids) == [int(row["map_id"]) for row in rows]
        assert [stop.km for stop in route.stops] == [float(row["along_shape_km"]) for row in rows]


def test_loop_lines_end_on_the_loop_and_only_the_express_is_part_time(network: Network) -> None:
    assert {r.route_id for r in network.routes if r.ends_on_loop} == {"brown", "orange", "pink", "purple-express"}
    assert {r.route_id for r in network.routes if r.part_time} == {"purple-express"}
    express = network.route("purple-express")
    assert express.runs_at("weekday", 7.5) and express.runs_at("weekday", 17.0)
    assert not express.runs_at("weekday", 12.0) and not express.runs_at("weekday", 19.0)
    assert not express.runs_at("saturday", 8.0) and not express.runs_at("sunday_holiday", 8.0)


def test_every_station_of_the_stop_list_is_in_the_network(network: Network) -> None:
    map_ids = {int(row["MAP_ID"]) for row in _rows("cta_l_stops_full.csv")}
    assert set(network.stations) == map_ids
    assert len(network.stations) == 143
    clark_lake = network.stations[40380]
    assert clark_lake.name == "Clark/Lake"
    assert clark_lake.lines == ("blue", "brown", "green", "orange", "pink", "purple")
    assert network.stations[40900].lines == ("red", "purple", "yellow")  # Howard


def test_every_route_station_has_a_real_platform_per_direction(network: Network) -> None:
    stops = {int(row["STOP_ID"]): row for row in _rows("cta_l_stops_full.csv")}
    for route in network.routes:
        for stop in route.stops:
            assert stop.stop_id_a is not None and stop.stop_id_b is not None, (route.route_id, stop)
            assert stop.stop_id_a != stop.stop_id_b
            for stop_id in (stop.stop_id_a, stop.stop_id_b):
                assert int(stops[stop_id]["MAP_ID"]) == stop.station_id


@pytest.mark.parametrize(
    ("route_id", "direction", "wanted", "unless_terminal"),
    [
        ("red", "a", "95th-", "Terminal"),
        ("red", "b", "Howard-bound", "Terminal"),
        ("blue", "a", "Forest Pk-bound", "Terminal"),
        ("blue", "b", "O'Hare-bound", "Terminal"),
        ("green-ashland-63rd", "b", "Harlem", "Terminal"),
        ("pink", "a", "Loop", "Terminal"),
        ("yellow", "b", "Howard-bound", "Terminal"),
        ("brown", "a", "Loop", "Terminal"),
    ],
)
def test_platform_names_agree_with_the_direction(
    network: Network, route_id: str, direction: str, wanted: str, unless_terminal: str
) -> None:
    """The compass rule picks the platform whose name says it goes where the train goes."""
    names = {int(row["STOP_ID"]): row["STOP_NAME"] for row in _rows("cta_l_stops_full.csv")}
    for stop in network.route(route_id).stops:
        name = names[stop.stop_id(direction)]  # type: ignore[arg-type]
        assert wanted in name or unless_terminal in name or "Loop" in name, (route_id, direction, name)


def test_loop_platforms_are_outer_loop_one_way_and_inner_loop_the_other(network: Network) -> None:
    names = {int(row["STOP_ID"]): row["STOP_NAME"] for row in _rows("cta_l_stops_full.csv")}
    brown = network.route("brown")
    loop = brown.stops[19:]  # Washington/Wells .. Clark/Lake
    assert all("Outer Loop" in names[stop.stop_id_a] for stop in loop)  # type: ignore[index]
    assert all("Inner Loop" in names[stop.stop_id_b] for stop in loop)  # type: ignore[index]
    orange = network.route("orange")
    assert all("Inner Loop" in names[stop.stop_id_a] for stop in orange.stops[8:])  # type: ignore[index]


def test_ridership_comes_from_the_monthly_file(network: Network) -> None:
    rows = {int(row["station_id"]): row for row in _rows("cta_ridership_monthly.csv")}
    for station_id, station in network.stations.items():
        row = rows[station_id]
        assert station.daily_entries == {
            "weekday": float(row["avg_weekday_rides"]),
            "saturday": float(row["avg_saturday_rides"]),
            "sunday_holiday": float(row["avg_sunday-holiday_rides"]),
        }
    assert network.stations[40340].daily_entries["weekday"] == 0  # Berwyn, closed


def test_hourly_curve_folds_hour_24_into_midnight_and_sums_to_one(network: Network, tmp_path: Path) -> None:
    shares = network.hourly_shares
    assert len(shares) == 24
    assert sum(shares) == pytest.approx(1.0)
    # The file's 0-23 sum to 0.99; hours 0 and 24 are both 0.01, so hour 0 stays 0.01 / 0.99.
    assert shares[0] == pytest.approx(0.01 / 0.99)
    assert shares[8] == pytest.approx(0.125 / 0.99)
    assert (DATA / "ridership_curve.csv").read_bytes().endswith(b"0.01")  # CRLF file, no final newline
    other = tmp_path / "curve.csv"
    other.write_text("hour,ridership_ratio\n" + "".join(f"{h},{0.5 if h in (0, 24) else 1}\n" for h in range(25)))
    folded = read_hourly_shares(other)
    assert folded[0] == pytest.approx(folded[1] / 2)


@pytest.mark.parametrize(
    ("day", "day_type"),
    [
        (date(2024, 4, 10), "weekday"),
        (date(2024, 4, 13), "saturday"),
        (date(2024, 4, 14), "sunday_holiday"),
        (date(2024, 1, 1), "sunday_holiday"),
        (date(2024, 5, 27), "sunday_holiday"),  # Memorial Day
        (date(2024, 5, 20), "weekday"),
        (date(2024, 7, 4), "sunday_holiday"),
        (date(2024, 9, 2), "sunday_holiday"),  # Labor Day
        (date(2024, 11, 28), "sunday_holiday"),  # Thanksgiving
        (date(2024, 11, 21), "weekday"),
        (date(2024, 12, 25), "sunday_holiday"),
    ],
)
def test_cta_day_types(day: date, day_type: str) -> None:
    assert cta_day_type(day) == day_type


def test_networks_are_loaded_by_name() -> None:
    assert load_network_from("cta", DATA).name == "cta"
    with pytest.raises(ValueError, match="unknown network"):
        load_network_from("atlantis", DATA)


def test_every_platform_is_a_stop_with_its_services(network: Network) -> None:
    rows = _rows("cta_l_stops_full.csv")
    assert len(network.stops) == len(rows) == 300
    assert list(network.stops) == sorted(network.stops)
    # One service per line, and Purple's Express besides (both on the purple line).
    assert sorted(network.services.values()) == sorted([*network.line_ids, "purple"])
    assert network.services["purple_express"] == "purple"
    howard_south = network.stops[30174]
    assert (howard_south.station_id, howard_south.direction_id, howard_south.station_name) == (40900, "S", "Howard")
    assert howard_south.services == {"red"}
    assert network.stops[30294].services == frozenset()  # Sheridan's express platforms, every flag false
    assert {stop.stop_id for stop in network.stops_of(41320)} == {30255, 30256, 30257, 30258}
    # Coordinates are per stop: Roosevelt's platforms differ; the station takes its first stop's.
    roosevelt = network.stops_of(41400)
    assert len({(stop.latitude, stop.longitude) for stop in roosevelt}) == 2
    assert network.stations[41400].latitude == roosevelt[0].latitude


def test_line_shapes_for_the_map(network: Network) -> None:
    assert len(network.shapes) == 9
    assert {shape.line for shape in network.shapes} == set(network.line_ids)
    ranks = [network.line_ids.index(shape.line) for shape in network.shapes]
    assert ranks == sorted(ranks)
    assert sum(len(shape.points) for shape in network.shapes) == len(_rows("cta_line_shapes.csv"))


def test_line_orders_take_the_first_branch_that_calls(network: Network) -> None:
    orders = network.line_orders()
    assert orders[("purple", 40900)] == 8  # Howard on Linden-Howard, the first purple route
    assert orders[("purple", 41320)] == 10  # Belmont: Express only
    assert orders[("green", 40720)] == 27  # Cottage Grove branch only
    assert orders[("yellow", 40900)] == 0
    assert len({(line, station) for line, station in orders}) == len(orders)


def test_the_settings_choose_the_network() -> None:
    assert load_network(load_settings(network="cta")).name == "cta"
    assert load_network(load_settings(network="tfl")).name == "tfl"
    with pytest.raises(ValueError, match="unknown network 'atlantis'"):
        load_network(load_settings(network="atlantis"))
