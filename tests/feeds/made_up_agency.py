"""A MADE-UP agency, CONSTRUCTED for the tests (recordings/README.md): its static GTFS and VehiclePositions.

"Lakeside Transit" does not exist. Its feed follows the GTFS Schedule and GTFS-realtime 2.0 formats:
two routes with their own colours (L1 magenta, L2 green), seven stations with coordinates (text stop ids,
each station a parent with one platform per direction; Market, where the routes cross, has four), one
trip each way per route and a shape per route, and a branch: L1 also runs Harbour - Lighthouse, leaving
the main line after Cathedral (one trip each way, its own shape). Nothing here depends on the project's GTFS code: the
zip is written with ``zipfile`` and the realtime feed with the official bindings, so a test can run
against any version of the pipeline.
"""

from __future__ import annotations

import io
import time
import zipfile

from google.transit import gtfs_realtime_pb2 as rt

AGENCY = "Lakeside Transit"
COLOURS = {"l1": "#e4007c", "l2": "#00a651"}
"""Line id (the routes' short names as slugs) -> colour."""
STATIONS = {
    # GTFS stop id: (name, latitude, longitude)
    "harbour": ("Harbour", 52.520, 13.380),
    "market": ("Market", 52.510, 13.400),
    "cathedral": ("Cathedral", 52.500, 13.420),
    "university": ("University", 52.490, 13.440),
    "park": ("Park", 52.530, 13.400),
    "stadium": ("Stadium", 52.490, 13.400),
    "lighthouse": ("Lighthouse", 52.505, 13.450),
}
LINE_ROUTES = {
    "l1": [["Harbour", "Market", "Cathedral", "University"], ["Harbour", "Market", "Cathedral", "Lighthouse"]],
    "l2": [["Park", "Market", "Stadium"]],
}
"""Each line's stop patterns (branches), their stations in order (direction 0); the main one first."""
LINE_STATIONS = {
    "l1": ["Harbour", "Market", "Cathedral", "Lighthouse", "University"],
    "l2": ["Park", "Market", "Stadium"],
}
"""Each line's stations as the table lists them: by their position on the line (a branch's stations by theirs
on the branch: Lighthouse and University are both 4th), then by station id (numbered in GTFS id order)."""
LINE_ORDERS = {
    "l1": {"Harbour": 0, "Market": 1, "Cathedral": 2, "Lighthouse": 3, "University": 3},
    "l2": {"Park": 0, "Market": 1, "Stadium": 2},
}

# (trip id, route, direction, [platform stop ids in order], shape id)
TRIPS = [
    ("l1-out", "R1", 0, ["harbour:1", "market:1", "cathedral:1", "university:1"], "sh-l1"),
    ("l1-back", "R1", 1, ["university:2", "cathedral:2", "market:2", "harbour:2"], "sh-l1"),
    ("l2-out", "R2", 0, ["park:1", "market:3", "stadium:1"], "sh-l2"),
    ("l2-back", "R2", 1, ["stadium:2", "market:4", "park:2"], "sh-l2"),
    ("l1-lighthouse-out", "R1", 0, ["harbour:1", "market:1", "cathedral:1", "lighthouse:1"], "sh-l1-lighthouse"),
    ("l1-lighthouse-back", "R1", 1, ["lighthouse:2", "cathedral:2", "market:2", "harbour:2"], "sh-l1-lighthouse"),
]
SHAPES = {
    "sh-l1": [(52.520, 13.380), (52.515, 13.392), (52.510, 13.400), (52.500, 13.420), (52.490, 13.440)],
    "sh-l2": [(52.530, 13.400), (52.510, 13.400), (52.490, 13.400)],
    "sh-l1-lighthouse": [(52.520, 13.380), (52.510, 13.400), (52.500, 13.420), (52.505, 13.450)],
}
# Where the VehiclePositions put the trains: vehicle label -> (trip id, stop sequence, platform).
VEHICLES = {
    "L1-07": ("l1-out", 3, "cathedral:1"),
    "L2-03": ("l2-back", 2, "market:4"),
    "L1-12": ("l1-lighthouse-back", 1, "lighthouse:2"),
}
EXPECTED_TRAINS = {
    "L1-07": ("l1", "Cathedral", "a"),
    "L2-03": ("l2", "Market", "b"),
    "L1-12": ("l1", "Lighthouse", "b"),
}
"""vehicle -> (line, station name, direction) the page should show it at."""


def _platforms() -> list[str]:
    return sorted({stop for _, _, _, stops, _ in TRIPS for stop in stops})


def static_gtfs_files() -> dict[str, str]:
    stops = ["stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station"]
    for stop_id, (name, lat, lon) in STATIONS.items():
        stops.append(f"{stop_id},{name},{lat},{lon},1,")
    for platform in _platforms():
        name, lat, lon = STATIONS[platform.split(":")[0]]
        stops.append(f"{platform},{name},{lat},{lon},0,{platform.split(':')[0]}")
    stop_times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for trip_id, _, _, platforms, _ in TRIPS:
        for sequence, platform in enumerate(platforms, 1):
            clock = f"08:{sequence * 3:02d}:00"
            stop_times.append(f"{trip_id},{clock},{clock},{platform},{sequence}")
    shapes = ["shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence"]
    for shape_id, points in SHAPES.items():
        shapes += [f"{shape_id},{lat},{lon},{n}" for n, (lat, lon) in enumerate(points, 1)]
    return {
        "agency.txt": f"agency_id,agency_name,agency_url,agency_timezone\nLT,{AGENCY},https://lakeside.test,Europe/Berlin\n",
        "stops.txt": "\n".join(stops) + "\n",
        "routes.txt": (
            "route_id,agency_id,route_short_name,route_long_name,route_type,route_color,route_text_color\n"
            "R1,LT,L1,Harbour - University,1,E4007C,FFFFFF\n"
            "R2,LT,L2,Park - Stadium,1,00A651,FFFFFF\n"
        ),
        "trips.txt": "route_id,service_id,trip_id,direction_id,shape_id\n"
        + "".join(f"{route},daily,{trip},{direction},{shape}\n" for trip, route, direction, _, shape in TRIPS),
        "stop_times.txt": "\n".join(stop_times) + "\n",
        "shapes.txt": "\n".join(shapes) + "\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "daily,1,1,1,1,1,1,1,20260101,20271231\n",
    }


def static_gtfs_zip() -> bytes:
    return zipped(static_gtfs_files())


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def vehicle_positions(at: int | None = None) -> bytes:
    """VehiclePositions with every vehicle of :data:`VEHICLES` ``STOPPED_AT`` its platform."""
    at = at if at is not None else int(time.time())
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = at
    for label, (trip_id, sequence, platform) in VEHICLES.items():
        entity = message.entity.add()
        entity.id = f"vp-{label}"
        vehicle = entity.vehicle
        vehicle.trip.trip_id = trip_id
        vehicle.trip.start_date = time.strftime("%Y%m%d", time.gmtime(at))
        vehicle.vehicle.id = label
        vehicle.vehicle.label = label
        vehicle.current_stop_sequence = sequence
        vehicle.stop_id = platform
        vehicle.current_status = rt.VehiclePosition.STOPPED_AT
        vehicle.timestamp = at
    return message.SerializeToString()
