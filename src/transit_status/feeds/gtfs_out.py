"""GTFS and GTFS-realtime out: what trip planners, OneBusAway and maps read (pure builders, no server).

* :func:`build_static_gtfs` writes a static GTFS zip from a :class:`Network`: ``agency``, ``stops``
  (each station a parent, ``location_type`` 1, its platforms as stops), ``routes`` (one per line, with
  its colour), ``calendar`` (one every-day service), ``trips`` (one per network route and direction,
  ``<route_id>-a`` / ``<route_id>-b``), ``stop_times`` (times relative to the trip's start, from the
  distance at the simulation's average speed plus a dwell), ``frequencies`` (the route's headway, within
  its service windows) and ``shapes`` (the stations' coordinates in calling order, with the distance
  travelled). Our trains run as frequency-based trips: a realtime trip is named by its trip id, start date
  and start time.
* :class:`RealtimeFeeds` builds GTFS-realtime 2.0 ``FeedMessage``\\ s (VehiclePositions, TripUpdates,
  Alerts) from :class:`TrainState` and :class:`ServiceAlert` values. Each feed's header timestamp is the
  wall clock when it is built, and never goes back; no time an entity carries as "measured" (a vehicle's
  or trip update's ``timestamp``, an alert's start) is later than the header (see :class:`RealtimeFeeds`).
  :func:`encode` gives the protobuf bytes, :func:`to_json` the same message as JSON.
"""

from __future__ import annotations

import csv
import io
import math
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as rt

from transit_status.networks.model import Agency, Direction, Network, Route
from transit_status.simulation.trains import TrainTiming

SERVICE_ID = "daily"
REALTIME_VERSION = "2.0"
ROUTE_TYPE_METRO = 1  # GTFS route_type 1: subway, metro ("L" trains)
DWELL_S = 30


UNKNOWN_AGENCY_URL = "https://gtfs.org/schedule/reference/#agencytxt"
"""agency_url of a network whose loader names no agency (GTFS requires one): never another agency's."""


def trip_id(route_id: str, direction: Direction) -> str:
    return f"{route_id}-{direction}"


@dataclass(frozen=True, slots=True)
class Call:
    """One stop of a trip: its ``stop_sequence`` (from 1), station, platform, km and time from the start."""

    sequence: int
    station_id: int
    stop_id: int
    km: float
    offset_s: int


def trip_calls(route: Route, direction: Direction, timing: TrainTiming | None = None) -> list[Call]:
    """The calls of ``route``'s trip in ``direction`` ('b' runs the stations backwards); stations without a
    platform for that direction are passed through."""
    timing = timing or TrainTiming()
    stops = route.stops if direction == "a" else tuple(reversed(route.stops))
    start_km = stops[0].km
    calls: list[Call] = []
    offset = 0.0
    previous_km = start_km
    for stop in stops:
        km = abs(stop.km - start_km)
        if calls:
            offset += timing.travel_s(abs(stop.km - previous_km)) + DWELL_S
        previous_km = stop.km
        platform = stop.stop_id(direction)
        if platform is None:
            continue
        calls.append(Call(len(calls) + 1, stop.station_id, platform, km, round(offset)))
    return calls


def _clock(seconds: int) -> str:
    """GTFS time: hours may pass 24 (a trip after midnight of its service day)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _csv(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def network_agency(network: Network) -> Agency:
    """Who runs ``network``: its own agency (a static GTFS's, Chicago's), else one named after the network."""
    return network.agency or Agency(network.name, UNKNOWN_AGENCY_URL)


def build_static_gtfs(network: Network, agency: Agency | None = None, valid_from: date | None = None) -> bytes:
    """A static GTFS zip of ``network`` (see the module docstring), valid for a year from ``valid_from``;
    published as ``agency`` (by default the network's own, :func:`network_agency`)."""
    agency = agency or network_agency(network)
    start = valid_from or date.today()
    tables: dict[str, bytes] = {}
    tables["agency.txt"] = _csv(
        [
            {
                "agency_id": agency.agency_id,
                "agency_name": agency.name,
                "agency_url": agency.url,
                "agency_timezone": network.timezone,
                "agency_lang": agency.lang,
            }
        ],
        ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
    )
    used_stops = {stop_id for route in network.routes for d in ("a", "b") for stop_id in _platforms(route, d)}
    used_stations = {network.stops[stop_id].station_id for stop_id in used_stops}
    stop_rows: list[dict[str, object]] = [
        {
            "stop_id": station.station_id,
            "stop_name": station.name,
            "stop_desc": station.descriptive_name,
            "stop_lat": f"{station.latitude:.6f}",
            "stop_lon": f"{station.longitude:.6f}",
            "location_type": 1,
            "parent_station": "",
            "wheelchair_boarding": "",
        }
        for station in network.stations.values()
        if station.station_id in used_stations
    ]
    stop_rows += [
        {
            "stop_id": stop.stop_id,
            "stop_name": stop.name,
            "stop_desc": "",
            "stop_lat": f"{stop.latitude:.6f}",
            "stop_lon": f"{stop.longitude:.6f}",
            "location_type": 0,
            "parent_station": stop.station_id,
            "wheelchair_boarding": 1 if stop.accessible else 2,
        }
        for stop in network.stops.values()
        if stop.stop_id in used_stops
    ]
    tables["stops.txt"] = _csv(stop_rows, list(stop_rows[0]))
    served_lines = [line for line in network.lines if any(route.line == line.line_id for route in network.routes)]
    tables["routes.txt"] = _csv(
        [
            {
                "route_id": line.line_id,
                "agency_id": agency.agency_id,
                # As the CTA's own feed: the long name alone ("Red Line"), which holds the short one.
                "route_short_name": "",
                "route_long_name": f"{line.name} Line",
                "route_type": ROUTE_TYPE_METRO,
                "route_color": line.colour.lstrip("#").upper(),
                "route_text_color": _text_colour(line.colour),
            }
            for line in served_lines
        ],
        [
            "route_id",
            "agency_id",
            "route_short_name",
            "route_long_name",
            "route_type",
            "route_color",
            "route_text_color",
        ],
    )
    tables["calendar.txt"] = _csv(
        [
            {
                "service_id": SERVICE_ID,
                **dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), 1),
                "start_date": start.strftime("%Y%m%d"),
                "end_date": (start + timedelta(days=364)).strftime("%Y%m%d"),
            }
        ],
        [
            "service_id",
            *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            "start_date",
            "end_date",
        ],
    )
    trips, stop_times, frequencies, shapes = [], [], [], []
    for route in network.routes:
        for direction_id, direction in enumerate(("a", "b")):
            calls = trip_calls(route, direction)  # type: ignore[arg-type]
            if len(calls) < 2:
                continue
            trip = trip_id(route.route_id, direction)  # type: ignore[arg-type]
            trips.append(
                {
                    "route_id": route.line,
                    "service_id": SERVICE_ID,
                    "trip_id": trip,
                    "trip_headsign": network.stations[calls[-1].station_id].name,
                    "direction_id": direction_id,
                    "shape_id": trip,
                }
            )
            for call in calls:
                stop_times.append(
                    {
                        "trip_id": trip,
                        "arrival_time": _clock(call.offset_s),
                        "departure_time": _clock(call.offset_s + (DWELL_S if call is not calls[-1] else 0)),
                        "stop_id": call.stop_id,
                        "stop_sequence": call.sequence,
                        "shape_dist_traveled": f"{call.km:.3f}",
                    }
                )
            windows = [(w.start_hour, w.end_hour) for w in route.service_windows] or [(0.0, 24.0)]
            for start_hour, end_hour in sorted(set(windows)):
                frequencies.append(
                    {
                        "trip_id": trip,
                        "start_time": _clock(round(start_hour * 3600)),
                        "end_time": _clock(round(end_hour * 3600)),
                        "headway_secs": round(route.headway_s),
                        "exact_times": 0,
                    }
                )
            for call in calls:
                station = network.stations[call.station_id]
                shapes.append(
                    {
                        "shape_id": trip,
                        "shape_pt_lat": f"{station.latitude:.6f}",
                        "shape_pt_lon": f"{station.longitude:.6f}",
                        "shape_pt_sequence": call.sequence,
                        "shape_dist_traveled": f"{call.km:.3f}",
                    }
                )
    tables["trips.txt"] = _csv(trips, list(trips[0]))
    tables["stop_times.txt"] = _csv(stop_times, list(stop_times[0]))
    tables["frequencies.txt"] = _csv(frequencies, list(frequencies[0]))
    tables["shapes.txt"] = _csv(shapes, list(shapes[0]))
    tables["feed_info.txt"] = _csv(
        [
            {
                "feed_publisher_name": "transit-status",
                "feed_publisher_url": agency.url,
                "feed_lang": agency.lang,
                "feed_start_date": start.strftime("%Y%m%d"),
                "feed_end_date": (start + timedelta(days=364)).strftime("%Y%m%d"),
                "feed_version": start.isoformat(),
                "feed_contact_url": agency.url,
            }
        ],
        [
            "feed_publisher_name",
            "feed_publisher_url",
            "feed_lang",
            "feed_start_date",
            "feed_end_date",
            "feed_version",
            "feed_contact_url",
        ],
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in tables.items():
            # A fixed date: the same network gives the same bytes. A ZipInfo carries its own compression
            # (ZIP_STORED unless told): the archive's ZIP_DEFLATED applies only to entries named by a string.
            info = zipfile.ZipInfo(name, date_time=(start.year, start.month, start.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def _platforms(route: Route, direction: Direction) -> list[int]:
    return [stop.stop_id(direction) for stop in route.stops if stop.stop_id(direction) is not None]  # type: ignore[misc]


def _text_colour(colour: str) -> str:
    red, green, blue = (int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return "000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "FFFFFF"


# ---- realtime ------------------------------------------------------------------------------------

VehicleStatus = Literal["INCOMING_AT", "STOPPED_AT", "IN_TRANSIT_TO"]


@dataclass(frozen=True)
class TrainState:
    """Where one train is, as the dashboard knows it (the input of the realtime feeds).

    ``stop_id`` is the platform it is at (``STOPPED_AT``) or heading to; ``trip_start`` is when its trip
    left the first station (a frequency-based trip is named by it); ``predictions`` are the platforms
    ahead with their expected arrival times.
    """

    train_id: str
    route_id: str
    direction: Direction
    stop_id: int
    status: VehicleStatus
    trip_start: datetime
    at: datetime
    latitude: float | None = None
    longitude: float | None = None
    bearing: float | None = None
    delay_s: int | None = None
    predictions: tuple[tuple[int, datetime], ...] = ()


@dataclass(frozen=True)
class ServiceAlert:
    alert_id: str
    header: str
    description: str = ""
    lines: tuple[str, ...] = ()
    station_ids: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    cause: str = "UNKNOWN_CAUSE"
    effect: str = "UNKNOWN_EFFECT"


class UnknownTrain(ValueError):
    """A train state that names a route or platform the static feed does not have."""


@dataclass
class RealtimeFeeds:
    """GTFS-realtime feeds of ``network``, consistent with :func:`build_static_gtfs` of the same network.

    The header's ``timestamp`` is "the moment when the content of this feed has been created (in server
    time)" (GTFS-realtime reference, FeedHeader): the wall clock (``clock``) when a message is built, never
    the time a train reports (the simulation's clock runs ahead of the wall clock). It never goes back per
    feed: consumers drop a feed older than the last. A vehicle's or trip update's ``timestamp`` is when
    its position was measured, which cannot be after the feed carrying it was created (MobilityData's
    GTFS-realtime validator, E012: the header's timestamp is at least every entity's): a train whose time
    lies ahead of the header is stamped with the header's time, and its predicted arrivals move back by
    as much, so the minutes to each stop ahead stay as the train's own clock says. Likewise an alert's
    start lies at most at the header's time (one starting later would be "not active yet" to a reader).
    """

    network: Network
    clock: Callable[[], float] = time.time
    """The wall clock, in POSIX seconds."""
    _last: dict[str, int] = field(default_factory=dict)
    _sequences: dict[tuple[str, str], dict[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for route in self.network.routes:
            for direction in ("a", "b"):
                calls = trip_calls(route, direction)  # type: ignore[arg-type]
                self._sequences[(route.route_id, direction)] = {call.stop_id: call.sequence for call in calls}

    def _header(self, message: rt.FeedMessage, feed: str, now: datetime | None) -> int:
        """Fill the header; returns its timestamp (``now``: the wall clock's reading, by default ``clock``)."""
        stamp = max(math.floor(now.timestamp() if now is not None else self.clock()), self._last.get(feed, 0))
        self._last[feed] = stamp
        message.header.gtfs_realtime_version = REALTIME_VERSION
        message.header.incrementality = rt.FeedHeader.FULL_DATASET
        message.header.timestamp = stamp
        return stamp

    def _trip(self, descriptor: rt.TripDescriptor, state: TrainState) -> int:
        sequences = self._sequences.get((state.route_id, state.direction))
        if sequences is None:
            raise UnknownTrain(f"train {state.train_id}: no route {state.route_id!r}")
        sequence = sequences.get(state.stop_id)
        if sequence is None:
            raise UnknownTrain(f"train {state.train_id}: platform {state.stop_id} is not on {state.route_id}")
        local = state.trip_start.astimezone(ZoneInfo(self.network.timezone))
        descriptor.trip_id = trip_id(state.route_id, state.direction)
        descriptor.route_id = self.network.route(state.route_id).line
        descriptor.direction_id = 0 if state.direction == "a" else 1
        descriptor.start_date = local.strftime("%Y%m%d")
        descriptor.start_time = local.strftime("%H:%M:%S")
        descriptor.schedule_relationship = rt.TripDescriptor.SCHEDULED
        return sequence

    def vehicle_positions(self, states: Iterable[TrainState], now: datetime | None = None) -> rt.FeedMessage:
        message = rt.FeedMessage()
        header = self._header(message, "vehicle-positions", now)
        for state in states:
            entity = message.entity.add(id=state.train_id)
            vehicle = entity.vehicle
            vehicle.current_stop_sequence = self._trip(vehicle.trip, state)
            vehicle.vehicle.id = vehicle.vehicle.label = state.train_id
            vehicle.stop_id = str(state.stop_id)
            vehicle.current_status = rt.VehiclePosition.VehicleStopStatus.Value(state.status)
            vehicle.timestamp = min(math.floor(state.at.timestamp()), header)
            if state.latitude is not None and state.longitude is not None:
                vehicle.position.latitude = state.latitude
                vehicle.position.longitude = state.longitude
                if state.bearing is not None:
                    vehicle.position.bearing = state.bearing
        return message

    def trip_updates(self, states: Iterable[TrainState], now: datetime | None = None) -> rt.FeedMessage:
        message = rt.FeedMessage()
        header = self._header(message, "trip-updates", now)
        for state in states:
            entity = message.entity.add(id=state.train_id)
            update = entity.trip_update
            self._trip(update.trip, state)
            update.vehicle.id = update.vehicle.label = state.train_id
            measured = math.floor(state.at.timestamp())
            update.timestamp = min(measured, header)
            ahead_by = max(0, measured - header)  # a train's clock ahead of the header: its times move back
            if state.delay_s is not None:
                update.delay = state.delay_s
            sequences = self._sequences[(state.route_id, state.direction)]
            ahead = [(state.stop_id, state.at)] if state.status == "STOPPED_AT" else []
            for stop_id, when in [*ahead, *state.predictions]:
                sequence = sequences.get(stop_id)
                if sequence is None:
                    raise UnknownTrain(f"train {state.train_id}: platform {stop_id} is not on {state.route_id}")
                call = update.stop_time_update.add(stop_sequence=sequence, stop_id=str(stop_id))
                call.arrival.time = math.floor(when.timestamp()) - ahead_by
        return message

    def alerts(self, alerts: Iterable[ServiceAlert], now: datetime | None = None) -> rt.FeedMessage:
        message = rt.FeedMessage()
        header = self._header(message, "alerts", now)
        for item in alerts:
            alert = message.entity.add(id=item.alert_id).alert
            if item.start is not None or item.end is not None:
                period = alert.active_period.add()
                if item.start is not None:
                    period.start = min(math.floor(item.start.timestamp()), header)
                if item.end is not None:
                    period.end = math.floor(item.end.timestamp())
            for line in item.lines:
                alert.informed_entity.add(route_id=line)
            for station_id in item.station_ids:
                alert.informed_entity.add(stop_id=str(station_id))
            alert.cause = rt.Alert.Cause.Value(item.cause)
            alert.effect = rt.Alert.Effect.Value(item.effect)
            alert.header_text.translation.add(text=item.header, language="en")
            if item.description:
                alert.description_text.translation.add(text=item.description, language="en")
        return message


def encode(message: rt.FeedMessage) -> bytes:
    return message.SerializeToString()


def to_json(message: rt.FeedMessage) -> str:
    """The message as protobuf's canonical JSON (field names as in the .proto, for people and tools)."""
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=1)
