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


def zipped(files: dict[str, str] | dict[str, str | bytes]) -> bytes:
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


def without_column(name: str, column: str) -> dict[str, str]:
    header, *rows = FILES[name].splitlines()
    keep = [i for i, title in enumerate(header.split(",")) if title != column]
    table = [",".join(line.split(",")[i] for i in keep) for line in [header, *rows]]
    return {**FILES, name: "\n".join(table) + "\n"}


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("stops.txt", "stop_id"),
        ("routes.txt", "route_id"),
        ("trips.txt", "trip_id"),
        ("trips.txt", "route_id"),
        ("stop_times.txt", "trip_id"),
        ("stop_times.txt", "stop_id"),
        ("stop_times.txt", "stop_sequence"),
    ],
)
def test_a_required_column_missing_is_one_error_naming_the_file_and_column(name: str, column: str) -> None:
    # Before: a KeyError (e.g. 'trip_id') in the dashboard and the stream worker, a traceback.
    with pytest.raises(GtfsError, match=f"^the static GTFS's {name} has no {column} column$"):
        static_feed(read_tables(zipped(without_column(name, column))))


def damaged(files: dict[str, str], name: str) -> bytes:
    """The zip of ``files`` (deflated) with the compressed bytes of ``name`` overwritten."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in files.items():
            archive.writestr(member, text * 20)
    data = bytearray(out.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + info.compress_size] = b"\xff" * info.compress_size
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (damaged(FILES, "trips.txt"), r"^the static GTFS's trips.txt cannot be unpacked \(\w+\)$"),
        (zipped({**FILES, "routes.txt": b"route_id,route_short_name\nT1,M\xe9tro\n"}), "routes.txt is not UTF-8"),
        (
            zipped(
                {
                    **FILES,
                    "stops.txt": FILES["stops.txt"].replace("STA-north,North,48.90,2.35,1,", "STA-north,N,0,0,2,"),
                }
            ),
            "stop 'STA-north:1' has parent_station 'STA-north', which is no station",
        ),
    ],
)
def test_a_damaged_or_inconsistent_feed_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(GtfsError, match=message):
        static_feed(read_tables(data))
