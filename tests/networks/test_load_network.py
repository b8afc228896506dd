"""Which network every layer reads: Chicago's data, or the agency's static GTFS when the source reads one,
fetched by the feed alone and read by the others from the copy it saved, numbered by one append-only map.

The agency is MADE UP (tests/feeds/made_up_agency.py, CONSTRUCTED: recordings/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.feeds import made_up_agency as agency
from tests.feeds.feed_server import Reply, serving
from transit_status.config import Settings, load_settings
from transit_status.dashboard.cta.map import NetworkMap
from transit_status.dashboard.london.page import London
from transit_status.feeds.health import FeedHealth
from transit_status.feeds.runner import make_adapter, plan_feed
from transit_status.networks import (
    StaticGtfsNotReady,
    forget_static_feeds,
    load_data_network,
    load_network,
    static_gtfs_location,
)
from transit_status.networks.gtfs import read_tables, static_feed
from transit_status.platform.services.postgres import station_rows

CHICAGO_LINES = ("red", "blue", "brown", "green", "orange", "pink", "purple", "yellow")


def gtfs_rt(tmp_path: Path, static: str, **values: object) -> Settings:
    return load_settings(
        state_dir=tmp_path,
        source="gtfs-rt",
        gtfs_static=static,
        gtfs_rt_vehicle_positions_url="http://127.0.0.1:9/vp.pb",
        **values,
    )


@pytest.fixture
def agency_zip(tmp_path: Path) -> Path:
    path = tmp_path / "lakeside.zip"
    path.write_bytes(agency.static_gtfs_zip())
    return path


def feed_starts(settings: Settings) -> None:
    """What `serve feed` does at start for a gtfs-rt source: fetch the static GTFS, save it and its map."""
    make_adapter(settings, plan_feed(settings), FeedHealth("gtfs-rt"))


def another_process() -> None:
    """A process started afresh (a restart): nothing read before is remembered."""
    forget_static_feeds()


@pytest.fixture(autouse=True)
def fresh_process() -> None:
    another_process()


def test_with_gtfs_rt_every_layer_reads_the_agencys_network(tmp_path: Path, agency_zip: Path) -> None:
    settings = gtfs_rt(tmp_path, str(agency_zip))
    feed_starts(settings)
    network = load_network(settings)
    assert {line.line_id: line.colour for line in network.lines} == agency.COLOURS
    assert sorted(station.name for station in network.stations.values()) == sorted(
        name for name, _, _ in agency.STATIONS.values()
    )
    for line, patterns in agency.LINE_ROUTES.items():
        routes = [route for route in network.routes if route.line == line]
        assert [[network.stations[sid].name for sid in route.station_ids] for route in routes] == patterns
    assert load_network(settings) is network  # read once per process: every caller gets the same network

    # The map draws it: its lines with their colours, its shapes, its stations where the GTFS puts them.
    drawn = NetworkMap.of(network).as_json()
    assert {line["line"]: line["colour"] for line in drawn["lines"]} == agency.COLOURS
    assert {(shape["line"], shape["colour"]) for shape in drawn["shapes"]} == {
        ("l1", agency.COLOURS["l1"]),
        ("l2", agency.COLOURS["l2"]),
    }
    assert len(drawn["shapes"]) == len(agency.SHAPES)  # the branch's too
    assert len(drawn["stations"]) == len(agency.STATIONS)


def test_only_the_feed_fetches_the_static_gtfs_the_others_wait_for_its_copy(tmp_path: Path) -> None:
    with serving([Reply(200, agency.static_gtfs_zip(), content_type="application/zip")]) as server:
        settings = gtfs_rt(tmp_path, f"{server.url}/lakeside.zip")
        # The dashboard or the stream worker before the feed saved it: not ready (they wait), no fetch.
        with pytest.raises(StaticGtfsNotReady, match="waiting for the static GTFS from the feed"):
            load_network(settings)
        assert server.requests == []
        feed_starts(settings)
        assert server.requests == ["/lakeside.zip"]
        network = load_network(settings)
    assert set(network.line_ids) == set(agency.COLOURS)
    assert server.requests == ["/lakeside.zip"]  # fetched once, by the feed


def test_a_copy_another_source_left_in_the_state_directory_is_not_used(tmp_path: Path, agency_zip: Path) -> None:
    feed_starts(gtfs_rt(tmp_path, str(agency_zip)))
    other = tmp_path / "other.zip"
    other.write_bytes(agency.static_gtfs_zip())
    with pytest.raises(StaticGtfsNotReady, match="another source's"):
        load_network(gtfs_rt(tmp_path, str(other)))


def test_a_newer_static_gtfs_never_renumbers_the_stops_every_process_knows(tmp_path: Path, agency_zip: Path) -> None:
    settings = gtfs_rt(tmp_path, str(agency_zip))
    feed_starts(settings)
    before = load_network(settings)  # the dashboard, say, keeps this version until it restarts
    numbers = {station.name: station.station_id for station in before.stations.values()}

    # The agency adds a station whose id sorts first: numbered afresh, every text id would shift by one.
    files = agency.static_gtfs_files()
    files["stops.txt"] += "aquarium,Aquarium,52.540,13.390,1,\naquarium:1,Aquarium,52.540,13.390,0,aquarium\n"
    files["stop_times.txt"] += "l1-out,08:15:00,08:15:00,aquarium:1,5\n"
    agency_zip.write_bytes(agency.zipped(files))
    assert static_feed(read_tables(agency_zip.read_bytes())).network.stations != before.stations  # the danger

    feed_starts(settings)  # the feed restarts with the new version
    another_process()  # and so does the stream worker
    after = load_network(settings)
    assert {s.name: s.station_id for s in after.stations.values() if s.name != "Aquarium"} == numbers
    (aquarium,) = [s.station_id for s in after.stations.values() if s.name == "Aquarium"]
    assert aquarium not in numbers.values()
    # A train the new version places at a stop the old version had is at the same station either way.
    for stop_id, stop in before.stops.items():
        assert after.stops[stop_id].station_id == stop.station_id


def test_postgresqls_stations_table_stays_chicagos_whatever_the_source(tmp_path: Path, agency_zip: Path) -> None:
    chicago = load_data_network(gtfs_rt(tmp_path, str(agency_zip)))
    assert chicago.line_ids == CHICAGO_LINES
    assert len(list(station_rows(chicago))) == len(chicago.stops)


def test_londons_page_stays_on_londons_data_whatever_the_source(tmp_path: Path, agency_zip: Path) -> None:
    london = London(gtfs_rt(tmp_path, str(agency_zip)), start_consumer=False)
    assert london.map.network.name == "tfl" and len(london.map.network.stations) == 270


def test_the_simulation_and_train_tracker_stay_on_chicagos_data(tmp_path: Path, agency_zip: Path) -> None:
    for source in ("simulation", "cta-train-tracker"):
        # gtfs_static set too (a profile may hold it): only the gtfs-rt source reads it.
        settings = load_settings(
            state_dir=tmp_path, source=source, gtfs_static=str(agency_zip), cta_train_tracker_key="k"
        )
        assert static_gtfs_location(settings) is None
        assert load_network(settings).line_ids == CHICAGO_LINES


def test_a_replayed_gtfs_rt_recording_runs_on_the_static_gtfs_it_holds(tmp_path: Path) -> None:
    recording = tmp_path / "recording"
    recording.mkdir()
    (recording / "index.jsonl").write_text("")
    (recording / "static-gtfs.zip").write_bytes(agency.static_gtfs_zip())
    settings = load_settings(state_dir=tmp_path, source=f"replay:{recording}")
    assert set(load_network(settings).line_ids) == set(agency.COLOURS)

    train_tracker = tmp_path / "train-tracker"
    train_tracker.mkdir()
    (train_tracker / "index.jsonl").write_text("")
    assert load_network(load_settings(state_dir=tmp_path, source=f"replay:{train_tracker}")).line_ids == CHICAGO_LINES
