"""Any agency's GTFS-realtime feeds (VehiclePositions, TripUpdates) as arrivals in the project's contract.

Parsed with MobilityData's ``gtfs-realtime-bindings``. Ids are the static feed's
(:class:`~transit_status.networks.gtfs.StaticFeed`): a stop or trip it lacks is logged and counted,
not guessed. Arrivals are derived per trip run (trip id, start date, start time). A scheduled trip may
leave its start date out: the run then takes the date (in the agency's ``agency_timezone``) of the feed's
header time when it is first seen, and keeps it while it is seen, so tomorrow's run of the trip is
another run. A train is its vehicle's ``id`` (else its label, else the entity's id): labels are for
riders and often repeat; the arrival contract has no field for the label, so it is not carried.

* a vehicle ``STOPPED_AT`` a stop has arrived there;
* a vehicle (or a trip update's first stop ahead) whose stop sequence moved on from ``s1`` to ``s2``
  has passed the stops ``s1 <= sequence < s2`` of its trip since the last poll: an arrival at each.

Each (run, stop sequence) is reported once, whichever feed shows it first. A feed whose header
timestamp stops advancing for ``stale_polls`` polls is degraded (stale); a body that is no
``FeedMessage`` (truncated, not protobuf) or has no header is degraded, and retried by the poller.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedProblem, FeedRequest, Poll
from transit_status.feeds.staleness import Staleness
from transit_status.networks.gtfs import StaticFeed
from transit_status.networks.model import Direction
from transit_status.simulation.events import ArrivalEvent, TrainStatus

log = logging.getLogger(__name__)

VEHICLE_POSITIONS = "vehicle-positions"
TRIP_UPDATES = "trip-updates"
ALERTS = "alerts"
FEEDS = (VEHICLE_POSITIONS, TRIP_UPDATES, ALERTS)
MAX_RUNS = 20_000
"""Trip runs remembered (oldest forgotten first): a day of a large agency, not an unbounded set."""
FORGET_AFTER = timedelta(hours=1)
"""A vehicle, a run's next stop or undated run's date not seen for this long (feed time) is forgotten:
entity ids that change every poll, or a month of runs, never pile up."""

Run = tuple[str, str, str]
"""(trip_id, start_date, start_time): one run of a trip (frequency-based trips repeat one trip id)."""


def parse_feed(body: bytes) -> rt.FeedMessage:
    """A GTFS-realtime ``FeedMessage``; :class:`FeedProblem` when the body is not one."""
    message = rt.FeedMessage()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError) as error:
        raise FeedProblem(f"malformed protobuf ({str(error)[:120] or type(error).__name__})") from None
    if not message.HasField("header") or not message.header.gtfs_realtime_version:
        raise FeedProblem("not a GTFS-realtime FeedMessage (no header)")
    return message


def check_feed(body: bytes) -> None:
    parse_feed(body)


def feed_requests(
    vehicle_positions_url: str | None, trip_updates_url: str | None, alerts_url: str | None
) -> list[FeedRequest]:
    urls = {VEHICLE_POSITIONS: vehicle_positions_url, TRIP_UPDATES: trip_updates_url, ALERTS: alerts_url}
    return [FeedRequest(feed, url, {}, check_feed) for feed, url in urls.items() if url]


def header_time(message: rt.FeedMessage) -> datetime | None:
    return datetime.fromtimestamp(message.header.timestamp, UTC) if message.header.timestamp else None


@dataclass
class _Vehicle:
    run: Run
    sequence: int | None
    stop_id: str
    status: int


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """A map whose entries not set for :data:`FORGET_AFTER` (feed time) are forgotten, and never more than
    :data:`MAX_RUNS`, oldest first."""

    def __init__(self) -> None:
        self._items: OrderedDict[K, tuple[V, datetime]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        return item[0] if item is not None else None

    def set(self, key: K, value: V, at: datetime) -> None:
        self._items[key] = (value, at)
        self._items.move_to_end(key)
        while len(self._items) > MAX_RUNS:
            self._items.popitem(last=False)

    def prune(self, now: datetime) -> None:
        while self._items:
            _, (_, seen) = next(iter(self._items.items()))
            if now - seen < FORGET_AFTER:
                return
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class GtfsRealtimeAdapter:
    """Turns successive GTFS-realtime polls into :class:`ArrivalEvent` for ``static``'s network."""

    def __init__(self, static: StaticFeed, health: FeedHealth, stale_polls: int = 3) -> None:
        self.static = static
        self.health = health
        self.staleness = {feed: Staleness(stale_polls) for feed in FEEDS}
        self.vehicles: _Recent[str, _Vehicle] = _Recent()
        self.next_sequence: _Recent[Run, int] = _Recent()
        """Per run, the first stop sequence not yet passed (what a trip update showed ahead)."""
        self.run_dates: _Recent[tuple[str, str], str] = _Recent()
        """(trip id, start time) of a run whose start date the feed leaves out -> the date it was given."""
        try:
            self.timezone = ZoneInfo(static.network.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown agency_timezone %r: undated runs take UTC dates", static.network.timezone)
            self.timezone = ZoneInfo("UTC")
        self.reported: OrderedDict[Run, int] = OrderedDict()
        """Per run, the highest stop sequence reported (a stop is reported once)."""
        self.last_arrival: _Recent[str, ArrivalEvent] = _Recent()
        self.alerts: list[rt.Alert] = []
        self._trips_seen = self._trips_unknown = 0
        self._now = datetime.now(UTC)
        """The time of the feed being read (its header's, else when it was fetched)."""

    def on_poll(self, poll: Poll) -> list[ArrivalEvent]:
        messages: dict[str, rt.FeedMessage] = {}
        for feed, response in poll.responses.items():
            problem = response.problem()
            message = None
            if problem is None:
                try:
                    message = parse_feed(response.body or b"")
                except FeedProblem as rejected:
                    problem = str(rejected)
            if message is None:
                self.health.report(feed, problem, response.fetched_at)
            else:
                messages[feed] = message
        arrivals: list[ArrivalEvent] = []
        for feed, message in messages.items():
            self._trips_seen = self._trips_unknown = 0
            self._now = header_time(message) or poll.responses[feed].fetched_at
            for memory in (self.vehicles, self.next_sequence, self.run_dates, self.last_arrival):
                memory.prune(self._now)  # before reading: yesterday's undated run is not today's
            if feed == VEHICLE_POSITIONS:
                arrivals += self.vehicle_positions(message, poll.fetched_at)
            elif feed == TRIP_UPDATES:
                arrivals += self.trip_updates(message, poll.fetched_at)
            elif feed == ALERTS:
                self.alerts = [entity.alert for entity in message.entity if entity.HasField("alert")]
            problem = self.staleness[feed].observe(header_time(message))
            if self._trips_seen and self._trips_unknown * 2 > self._trips_seen:
                # Most trips unknown: the static GTFS is another agency's, or out of date.
                problem = (
                    f"{self._trips_unknown} of {self._trips_seen} trips are not in the static GTFS "
                    "(is gtfs_static this agency's current feed?)"
                )
            self.health.report(feed, problem, poll.responses[feed].fetched_at)
        self.health.count("arrivals", len(arrivals))
        return arrivals

    # ---- the two ways an arrival shows -----------------------------------------------------------
    def vehicle_positions(self, message: rt.FeedMessage, fetched_at: datetime) -> list[ArrivalEvent]:
        arrivals: list[ArrivalEvent] = []
        fallback = header_time(message) or fetched_at
        for entity in message.entity:
            if not entity.HasField("vehicle"):
                continue
            vehicle = entity.vehicle
            if not vehicle.HasField("trip") or not vehicle.trip.trip_id:
                self.health.count("vehicles_without_trip")
                continue
            run = self._run(vehicle.trip)
            if not self._known_trip(run[0]):
                continue
            key = vehicle.vehicle.id or vehicle.vehicle.label or entity.id
            at = datetime.fromtimestamp(vehicle.timestamp, UTC) if vehicle.timestamp else fallback
            sequence = vehicle.current_stop_sequence if vehicle.HasField("current_stop_sequence") else None
            stop_id = vehicle.stop_id or (self._stop_at(run, sequence) if sequence is not None else None) or ""
            if stop_id and self.static.stop(stop_id) is None:
                self.health.unknown("stop", stop_id, f" (vehicle {key}, trip {run[0]})")
            if sequence is None and stop_id:
                sequence = self._sequence_of(run, stop_id)
            previous = self.vehicles.get(key)
            self.vehicles.set(key, _Vehicle(run, sequence, stop_id, vehicle.current_status), self._now)
            train = key
            if previous is not None and previous.run == run and previous.sequence is not None and sequence is not None:
                arrivals += self._passed(run, previous.sequence, sequence, train, at)
            if vehicle.current_status == rt.VehiclePosition.STOPPED_AT and stop_id and sequence is not None:
                arrivals += self._arrive(run, sequence, stop_id, train, at)
        return arrivals

    def trip_updates(self, message: rt.FeedMessage, fetched_at: datetime) -> list[ArrivalEvent]:
        arrivals: list[ArrivalEvent] = []
        fallback = header_time(message) or fetched_at
        for entity in message.entity:
            if not entity.HasField("trip_update"):
                continue
            update = entity.trip_update
            if not update.trip.trip_id:
                continue
            run = self._run(update.trip)
            if not self._known_trip(run[0]):
                continue
            sequences = []
            for call in update.stop_time_update:
                if call.stop_id and self.static.stop(call.stop_id) is None:
                    self.health.unknown("stop", call.stop_id, f" (trip {run[0]})")
                if call.HasField("stop_sequence"):
                    sequences.append(call.stop_sequence)
                elif call.stop_id and (found := self._sequence_of(run, call.stop_id)) is not None:
                    sequences.append(found)
            if not sequences:
                continue
            ahead = min(sequences)
            train = update.vehicle.id or update.vehicle.label or entity.id
            at = datetime.fromtimestamp(update.timestamp, UTC) if update.timestamp else fallback
            before = self.next_sequence.get(run)
            self.next_sequence.set(run, ahead, self._now)
            if before is not None and ahead > before:
                arrivals += self._passed(run, before, ahead, train, at)
        return arrivals

    # ---- helpers ---------------------------------------------------------------------------------
    def _run(self, trip: rt.TripDescriptor) -> Run:
        """The run a trip descriptor names; an undated one takes its date as the module says."""
        if trip.start_date:
            return (trip.trip_id, trip.start_date, trip.start_time)
        undated = (trip.trip_id, trip.start_time)
        day = self.run_dates.get(undated) or self._now.astimezone(self.timezone).strftime("%Y%m%d")
        self.run_dates.set(undated, day, self._now)
        return (trip.trip_id, day, trip.start_time)

    def _known_trip(self, trip_id: str) -> bool:
        self._trips_seen += 1
        if trip_id in self.static.trips:
            return True
        self._trips_unknown += 1
        self.health.unknown("trip", trip_id)
        return False

    def _stop_at(self, run: Run, sequence: int) -> str | None:
        return self.static.trips[run[0]].stop_at(sequence)

    def _sequence_of(self, run: Run, stop_id: str) -> int | None:
        for sequence, stop in self.static.trips[run[0]].stops:
            if stop == stop_id:
                return sequence
        return None

    def _passed(self, run: Run, first: int, before: int, train: str, at: datetime) -> list[ArrivalEvent]:
        """Arrivals at the stops a run passed since the last poll (sequences ``first`` to ``before - 1``)."""
        arrivals: list[ArrivalEvent] = []
        for sequence, stop_id in self.static.trips[run[0]].stops_between(first, before):
            arrivals += self._arrive(run, sequence, stop_id, train, at)
        return arrivals

    def _arrive(self, run: Run, sequence: int, stop_id: str, train: str, at: datetime) -> list[ArrivalEvent]:
        if self.reported.get(run, -1) >= sequence:
            return []  # this stop, or one after it, was reported already
        self.reported[run] = sequence
        self.reported.move_to_end(run)
        while len(self.reported) > MAX_RUNS:
            self.reported.popitem(last=False)
        stop = self.static.stop(stop_id)
        if stop is None:
            self.health.count("arrivals_at_unknown_stops")
            return []
        trip = self.static.trips[run[0]]
        direction: Direction = "a" if trip.direction_id == 0 else "b"
        previous = self.last_arrival.get(train)
        if previous is not None and at < previous.at:
            at = previous.at  # a train's arrivals never go back in time
        event = ArrivalEvent(
            station_id=stop.station_id,
            station_name=stop.station_name,
            train_id=train,
            direction=direction,
            line=trip.line,
            route=self.static.route_names.get(trip.line, trip.line),
            train_status=TrainStatus.IN_SERVICE,
            prev_station_id=previous.station_id if previous is not None else None,
            prev_direction=previous.direction if previous is not None else None,
            stop_id=stop.stop_id,
            at=at,
        )
        self.last_arrival.set(train, event, self._now)
        return [event]
