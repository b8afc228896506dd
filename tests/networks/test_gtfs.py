"""Any agency's static GTFS as the project's Network (CONSTRUCTED feeds: see recordings/README.md)."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.feeds.feed_server import Reply, serving
from transit_status.networks.gtfs import GtfsError, load_static_feed, read_tables, static_feed

FILES = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,Tram Co,https://tram.test,Europe/Paris\n",
    "stops.txt": (
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        "STA-north,North,48.90,2.35,1,\nSTA-north:1,North,48.90,2.35,0,STA-north\nSTA-north:2,North,48.90,2.35,0,STA-north\n"
        "mid,Middle,48.88,2.35,,\nSTA-south,South,48.86,2.35,1,\nSTA-south:1,South,48.86,2.35,0,STA-south\n"
        "STA-south:2,South,48.86,2.35,0,STA-south\n"
    ),
    "routes.txt": "route_id,route_short_name,route_long_name,route_type,route_color\nT1,T1,North - South,0,1E90FF\n",
    "trips.txt": "route_id,service_id,trip_id,direction_id,shape_id\nT1,s,t-south,0,sh1\nT1,s,t-north,1,\n",
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "t-south,08:00:00,08:00:00,STA-north:1,1\nt-south,08:03:00,08:03:00,mid,2\nt-south,08:06:00,08:06:00,STA-south:1,3\n"
        "t-north,09:00:00,09:00:00,STA-south:2,1\nt-north,09:03:00,09:03:00,mid,2\nt-north,09:06:00,09:06:00,STA-north:2,3\n"
    ),
    "shapes.txt": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\nsh1,48.90,2.35,1\nsh1,48.86,2.35,2\n",
}


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_an_agency_with_text_ids_becomes_a_network_the_map_can_draw() -> None:
    feed = static_feed(read_tables(zipped(FILES)))
    network = feed.network
    assert network.timezone == "Europe/Paris"
    assert [(line.line_id, line.colour) for line in network.lines] == [("t1", "#1e90ff")]
    # Text ids numbered in their sorted order; platforms belong to their parent station.
    assert sorted(feed.stop_numbers) == [
        "STA-north",
        "STA-north:1",
        "STA-north:2",
        "STA-south",
        "STA-south:1",
        "STA-south:2",
        "mid",
    ]
    north = feed.stop("STA-north:1")
    assert north is not None and network.stations[north.station_id].name == "North"
    assert feed.stop("mid").station_id == feed.stop_numbers["mid"]  # type: ignore[union-attr]  # its own station
    route = network.route("t1")
    assert [network.stations[s].name for s in route.station_ids] == ["North", "Middle", "South"]
    assert route.stops[0].stop_id_b == feed.stop_numbers["STA-north:2"]  # the way back's platform
    assert 4.0 < route.length_km < 5.0  # 0.04 degrees of latitude
    assert [shape.points for shape in network.shapes] == [((48.90, 2.35), (48.86, 2.35))]
    assert feed.trips["t-north"].stops_between(1, 3) == [(1, "STA-south:2"), (2, "mid")]


def test_the_static_feed_is_read_from_a_url_too() -> None:
    with serving([Reply(200, zipped(FILES), content_type="application/zip")]) as server:
        feed = load_static_feed(server.url + "/gtfs.zip")
    assert len(feed.network.stations) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"not a zip", "not a zip file"), (zipped({"agency.txt": FILES["agency.txt"]}), "lacks stops.txt")],
)
def test_a_feed_that_is_no_gtfs_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(GtfsError, match=message):
        read_tables(data)


def test_a_static_url_that_fails_is_one_clear_error() -> None:
    with serving([Reply(404, b"gone")]) as server, pytest.raises(GtfsError, match="HTTP 404"):
        load_static_feed(server.url + "/gtfs.zip")
