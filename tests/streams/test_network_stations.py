"""Another agency's stations table, straight from its static GTFS (pure: no Kafka).

The agency is MADE UP (tests/feeds/made_up_agency.py, CONSTRUCTED: recordings/README.md).
"""

from __future__ import annotations

from tests.feeds import made_up_agency as agency
from transit_status.dashboard.cta.contracts import station_change
from transit_status.dashboard.cta.state import StationUpsert
from transit_status.networks.gtfs import read_tables, static_feed
from transit_status.streams.stations import network_records, output_key, output_value


def test_every_station_of_each_line_in_order_with_its_platform_each_way() -> None:
    feed = static_feed(read_tables(agency.static_gtfs_zip()))
    network = feed.network
    records = network_records(network)

    for line, names in agency.LINE_STATIONS.items():
        # Every station of every branch, in the table's order: by position on the line, then station id.
        on_line = sorted(
            (entry for (held, _), entry in records.items() if held == line), key=lambda e: (e["order"], e["station_id"])
        )
        assert [entry["station_name"] for entry in on_line] == names
        assert {entry["station_name"]: entry["order"] for entry in on_line} == agency.LINE_ORDERS[line]
    # The branch's own station, with its platform each way.
    lighthouse = feed.stop_numbers["lighthouse"]
    assert records[("l1", lighthouse)]["stops"] == {
        "a": feed.stop_numbers["lighthouse:1"],
        "b": feed.stop_numbers["lighthouse:2"],
    }
    # Market is on both lines, with the platforms of each: L1's 1 and 2, L2's 3 (out) and 4 (back).
    market = feed.stop_numbers["market"]
    assert records[("l1", market)]["stops"] == {"a": feed.stop_numbers["market:1"], "b": feed.stop_numbers["market:2"]}
    assert records[("l2", market)]["stops"] == {"a": feed.stop_numbers["market:3"], "b": feed.stop_numbers["market:4"]}
    assert (records[("l2", market)]["latitude"], records[("l2", market)]["longitude"]) == agency.STATIONS["market"][1:]


def test_the_dashboard_accepts_every_record_for_the_agencys_lines() -> None:
    network = static_feed(read_tables(agency.static_gtfs_zip())).network
    for (line, station_id), entry in network_records(network).items():
        change = station_change(output_key(line, station_id), output_value(entry), network.line_ids)
        assert isinstance(change, StationUpsert) and change.station.line == line
