"""Another agency on the whole pipeline: `run --source gtfs-rt` with a static GTFS the project has never
seen shows that agency's lines (with their colours), its stations and its trains on the map and table.

The agency is MADE UP and its feeds are CONSTRUCTED (tests/feeds/made_up_agency.py, recordings/README.md):
its static GTFS and VehiclePositions (`STOPPED_AT`) are served over local HTTP, `serve feed` polls them,
and Faust and the dashboard run as `run` starts them, on topics of this test's own.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.feeds import made_up_agency as agency
from tests.feeds.feed_server import Reply, serving
from tests.processes import NotYet, answered, feed_pipeline
from transit_status.config import Settings
from transit_status.platform.ports import free_ports, private_topics

pytestmark = pytest.mark.platform


def test_an_agency_the_project_has_never_seen_shows_its_lines_stations_and_trains(
    platform: Settings, tmp_path: Path
) -> None:
    (dashboard_port,) = free_ports(1)
    with (
        serving([Reply(200, agency.static_gtfs_zip(), content_type="application/zip")]) as static,
        serving([Reply(200, agency.vehicle_positions(), content_type="application/x-protobuf")]) as realtime,
    ):
        settings = private_topics(
            platform,
            f"agency-{uuid.uuid4().hex[:8]}",
            shared_raw_stations=True,  # PostgreSQL's (Chicago's) rows reach Faust as in `run`, and are left aside
            dashboard_port=dashboard_port,
            source="gtfs-rt",
            gtfs_static=f"{static.url}/lakeside/gtfs.zip",
            gtfs_rt_vehicle_positions_url=f"{realtime.url}/lakeside/vehicle-positions.pb",
            gtfs_rt_poll_s=1.0,
        )
        with feed_pipeline(settings, tmp_path) as pipeline:
            api, dashboard = pipeline.api, pipeline.dashboard

            # The map: the agency's lines with their colours, its shapes, its stations (once the feed has
            # saved the static GTFS: until then the dashboard answers, degraded, that it waits for it).
            drawn = dashboard.wait_for(answered(lambda: api("/api/map")), 60, "the agency's map")
            assert {line["line"]: line["colour"] for line in drawn["lines"]} == agency.COLOURS
            assert drawn["heading"] == f"{agency.AGENCY} status"  # the page is headed with its name, not the CTA's
            assert {(shape["line"], shape["colour"]) for shape in drawn["shapes"]} == set(agency.COLOURS.items())
            stations = {station["name"]: station for station in drawn["stations"]}
            assert set(stations) == {name for name, _, _ in agency.STATIONS.values()}

            expected = {
                train: (line, stations[name]["station_id"], direction)
                for train, (line, name, direction) in agency.EXPECTED_TRAINS.items()
            }

            def trains_shown() -> Any:
                shown = {t["train_id"]: (t["line"], t["station_id"], t["direction"]) for t in api("/api/trains")}
                return shown == expected or NotYet(shown)

            dashboard.wait_for(answered(trains_shown), 90, "the agency's trains at the stations the feed put them")
            # On the map, each train is drawn at its station.
            for train in api("/api/trains"):
                station = stations[agency.EXPECTED_TRAINS[train["train_id"]][1]]
                assert (train["x"], train["y"]) == (station["x"], station["y"])

            # The table: each line's stations in order (from the static GTFS, through Faust), the branch's
            # (Lighthouse) too, each train in its station's row and direction, the branch's train included.
            def table_filled() -> Any:
                rows = api("/api/table")
                by_line = {line: [r["station_name"] for r in rows if r["line"] == line] for line in agency.COLOURS}
                return rows if by_line == agency.LINE_STATIONS else NotYet(by_line)

            rows = dashboard.wait_for(answered(table_filled), 60, "the agency's stations in the table")
            assert {r["line"] for r in rows} == set(agency.COLOURS)  # none of Chicago's
            for train, (line, station_id, direction) in expected.items():
                (row,) = [r for r in rows if (r["line"], r["station_id"]) == (line, station_id)]
                assert row[f"trains_{direction}"] == [train]

            # Ready (200) once every consumer has loaded its topics: on a busy machine the last may still be
            # loading when the table has filled.
            health = dashboard.wait_for(answered(lambda: api("/healthz")), 60, "ready: /healthz 200")
            assert health["source"]["counts"]["arrivals"] >= 2 and not health["source"].get("unknown_ids")
            assert health["dead_letters"]["by_input"] == {}  # no record set aside as an unknown line
            pipeline.feed.assert_alive()
    # Nothing the agency's feed produced was set aside as a line the dashboard does not know.
    assert "is not one of" not in dashboard.log()
