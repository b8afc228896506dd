"""Which network every layer reads: Chicago's data, or the agency's static GTFS when the source reads one.

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
from transit_status.errors import TransitError
from transit_status.networks import load_data_network, load_network, static_gtfs_location
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


def test_with_gtfs_rt_every_layer_reads_the_agencys_network(tmp_path: Path, agency_zip: Path) -> None:
    settings = gtfs_rt(tmp_path, str(agency_zip))
    network = load_network(settings)
    assert {line.line_id: line.colour for line in network.lines} == agency.COLOURS
    assert sorted(station.name for station in network.stations.values()) == sorted(
        name for name, _, _ in agency.STATIONS.values()
    )
    for line, names in agency.LINE_STATIONS.items():
        (route,) = [route for route in network.routes if route.line == line]
        assert [network.stations[sid].name for sid in route.station_ids] == names
    assert load_network(settings) is network  # read once per process: every caller gets the same network

    # The map draws it: its lines with their colours, its shapes, its stations where the GTFS puts them.
    drawn = NetworkMap.of(network).as_json()
    assert {line["line"]: line["colour"] for line in drawn["lines"]} == agency.COLOURS
    assert {(shape["line"], shape["colour"]) for shape in drawn["shapes"]} == set(agency.COLOURS.items())
    assert len(drawn["stations"]) == len(agency.STATIONS)


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


def test_a_static_gtfs_at_a_url_is_fetched_once_per_process(tmp_path: Path) -> None:
    with serving([Reply(200, agency.static_gtfs_zip(), content_type="application/zip")]) as server:
        settings = gtfs_rt(tmp_path, f"{server.url}/once/lakeside.zip")
        first, second = load_network(settings), load_network(settings)
    assert first is second and server.requests == ["/once/lakeside.zip"]


def test_a_static_gtfs_that_cannot_be_read_is_an_error_for_the_user(tmp_path: Path) -> None:
    with serving([Reply(404, b"gone")]) as server:
        settings = gtfs_rt(tmp_path, f"{server.url}/missing.zip")
        # A TransitError: the service prints its one line (serve.py), no traceback.
        with pytest.raises(TransitError, match="HTTP 404"):
            load_network(settings)
