"""The CTA's Train Tracker Locations API (``ttpositions.aspx``) as arrivals in the project's contract.

The API (Train Tracker API documentation, "Locations API") answers, for up to 8 routes in one request,
``{"ctatt": {"tmst", "errCd", "errNm", "route": [{"@name": "red", "train": [{"rn", "destSt", "destNm",
"trDr", "nextStaId", "nextStpId", "nextStaNm", "prdt", "arrT", "isApp", "isDly", "flags", "lat", "lon",
"heading"}]}]}}``: every value a string, times in Chicago's local time. A route with one train may come
as an object rather than a list (the JSON is converted from XML), and so may a lone route.

Arrivals are derived, since the API reports where each train goes next, not where it is: a train (keyed
by its line and run number ``rn``) whose next station changes between two polls has reached the station
that was next before. When the new next station lies further along the train's route (polls failed in
between, or a train ran through), it has passed every station in between too: each is reported, in
order, at times spread between the two responses. A next station that is not ahead along the route
is counted (``unknown_paths``), and only the station that was next is reported. A train that leaves the
response while heading for its destination's station has reached its terminal. The first sighting of a
run says nothing about an arrival. Station ids (4xxxx) and stop ids (3xxxx) are those of ``data/cta``; an
id the network lacks is logged and counted (:class:`FeedHealth`), never matched to a nearby one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from transit_status.feeds.health import FeedHealth
from transit_status.feeds.polling import FeedProblem, FeedRequest, Poll
from transit_status.feeds.staleness import Staleness
from transit_status.networks.model import Direction, Network, Route, Station
from transit_status.simulation.events import ArrivalEvent, TrainStatus

log = logging.getLogger(__name__)

FEED = "positions"
CHICAGO = ZoneInfo("America/Chicago")
# The Locations API's route ids (its Appendix A, lower case in responses) -> our line ids.
ROUTE_LINES: dict[str, str] = {
    "red": "red",
    "blue": "blue",
    "brn": "brown",
    "g": "green",
    "org": "orange",
    "p": "purple",
    "pink": "pink",
    "y": "yellow",
}
ALL_ROUTES = ",".join(ROUTE_LINES)
# trDr (Appendix C) is 1 or 5 per line; our 'a' runs from a route's first station (networks/cta.py):
# e.g. Red 'a' is Howard -> 95th, i.e. trDr 5. Used only where the stop id does not decide it.
TRDR_OF_A: dict[str, str] = {
    "red": "5",
    "blue": "5",
    "brown": "5",
    "green": "5",
    "orange": "1",
    "pink": "1",
    "purple": "5",
    "yellow": "1",
}
# Error codes (Appendix E, Locations API) that a retry cannot cure: a missing or invalid key, the daily
# limit, a bad route or parameter. Anything else (900, server error; an unknown one) is retried.
PERMANENT_ERRORS = {"100", "101", "102", "106", "107", "500"}


@dataclass(frozen=True, slots=True)
class TrainPosition:
    """One train of a Locations API response (the fields this project uses, typed)."""

    line: str
    run: str
    destination_stop_id: int | None
    destination_name: str
    direction_code: str
    next_station_id: int
    next_stop_id: int | None
    next_station_name: str
    predicted_at: datetime | None
    arrives_at: datetime | None
    approaching: bool
    delayed: bool
    latitude: float | None
    longitude: float | None
    heading: int | None


@dataclass(frozen=True, slots=True)
class Positions:
    generated_at: datetime
    """``tmst``, as an aware UTC datetime."""
    trains: tuple[TrainPosition, ...]
    routes: frozenset[str]
    """Our line ids of the routes present in the response."""
    incomplete: tuple[str, ...] = ()
    """Why some train entries were left out (a required field missing or not a number)."""
    unknown_routes: tuple[str, ...] = ()


def parse_time(value: Any) -> datetime | None:
    """A Train Tracker time (``2015-04-30T20:29:44`` in JSON, ``20130610 15:00:21`` in XML), Chicago
    local, as UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for layout in ("%Y-%m-%dT%H:%M:%S", "%Y%m%d %H:%M:%S"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=CHICAGO).astimezone(ZoneInfo("UTC"))
        except ValueError:
            continue
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_positions(body: bytes) -> Positions:
    """A Locations API JSON body; :class:`FeedProblem` when it is not one or reports an error."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise FeedProblem(f"malformed JSON ({type(error).__name__}: {str(error)[:80]})") from None
    root = document.get("ctatt") if isinstance(document, dict) else None
    if not isinstance(root, dict):
        raise FeedProblem("no 'ctatt' object in the response")
    code = str(root.get("errCd", "")).strip()
    if code != "0":
        name = str(root.get("errNm") or "no message")[:120]
        raise FeedProblem(f"Train Tracker error {code or '(none)'}: {name}", retry=code not in PERMANENT_ERRORS)
    generated_at = parse_time(root.get("tmst"))
    if generated_at is None:
        raise FeedProblem("no readable 'tmst' (response time) in the response")
    trains: list[TrainPosition] = []
    routes: set[str] = set()
    incomplete: list[str] = []
    unknown_routes: list[str] = []
    for route in _as_list(root.get("route")):
        if not isinstance(route, dict):
            incomplete.append("a route that is no object")
            continue
        name = str(route.get("@name", route.get("name", ""))).strip().lower()
        line = ROUTE_LINES.get(name)
        if line is None:
            unknown_routes.append(name or "(unnamed)")
            continue
        routes.add(line)
        for train in _as_list(route.get("train")):
            position = _train(line, train)
            if isinstance(position, str):
                incomplete.append(position)
            else:
                trains.append(position)
    return Positions(generated_at, tuple(trains), frozenset(routes), tuple(incomplete), tuple(unknown_routes))


def _train(line: str, train: Any) -> TrainPosition | str:
    if not isinstance(train, dict):
        return f"{line}: a train that is no object"
    run = str(train.get("rn") or "").strip()
    next_station_id = _int(train.get("nextStaId"))
    if not run or next_station_id is None:
        missing = "rn" if not run else "nextStaId"
        return f"{line} run {run or '?'}: no {missing}"
    heading = _int(train.get("heading"))
    return TrainPosition(
        line=line,
        run=run,
        destination_stop_id=_int(train.get("destSt")),
        destination_name=str(train.get("destNm") or ""),
        direction_code=str(train.get("trDr") or "").strip(),
        next_station_id=next_station_id,
        next_stop_id=_int(train.get("nextStpId")),
        next_station_name=str(train.get("nextStaNm") or ""),
        predicted_at=parse_time(train.get("prdt")),
        arrives_at=parse_time(train.get("arrT")),
        approaching=str(train.get("isApp")).strip() == "1",
        delayed=str(train.get("isDly")).strip() == "1",
        latitude=_float(train.get("lat")),
        longitude=_float(train.get("lon")),
        heading=heading,
    )


def check_positions(body: bytes) -> None:
    """For the poller: raises :class:`FeedProblem` when a retry is worth it (or hopeless)."""
    parse_positions(body)


def positions_request(url: str, key: str, routes: str = ALL_ROUTES) -> FeedRequest:
    return FeedRequest(FEED, url, {"key": key, "rt": routes, "outputType": "JSON"}, check_positions)


@dataclass
class _Seen:
    position: TrainPosition
    generated_at: datetime


class TrainTrackerAdapter:
    """Turns successive Locations API responses into :class:`ArrivalEvent`, the simulation's arrivals."""

    def __init__(self, network: Network, health: FeedHealth, stale_polls: int = 3) -> None:
        self.network = network
        self.health = health
        self.staleness = Staleness(stale_polls)
        self.trains: dict[tuple[str, str], _Seen] = {}
        self.last_arrival: dict[tuple[str, str], ArrivalEvent] = {}
        self._prefix = {line.line_id: line.train_prefix for line in network.lines}
        # (line, stop id) -> the routes and direction that call there; (line, station) -> routes.
        self._by_stop: dict[tuple[str, int], list[tuple[Route, Direction]]] = {}
        self._by_station: dict[tuple[str, int], list[Route]] = {}
        for route in network.routes:
            for stop in route.stops:
                self._by_station.setdefault((route.line, stop.station_id), []).append(route)
                for direction in ("a", "b"):
                    stop_id = stop.stop_id(direction)  # type: ignore[arg-type]
                    if stop_id is not None:
                        self._by_stop.setdefault((route.line, stop_id), []).append((route, direction))  # type: ignore[arg-type]

    def on_poll(self, poll: Poll) -> list[ArrivalEvent]:
        """The arrivals one poll shows; its outcome goes to the health (never raises for bad data)."""
        response = poll.responses.get(FEED)
        if response is None:
            self.health.report(FEED, "no response in this poll", poll.fetched_at)
            return []
        problem = response.problem()
        if problem is None:
            try:
                positions = parse_positions(response.body or b"")
            except FeedProblem as rejected:
                problem = str(rejected)
        if problem is not None:
            self.health.report(FEED, problem, response.fetched_at)
            return []
        self.health.report(FEED, self.staleness.observe(positions.generated_at), response.fetched_at)
        return self.update(positions)

    def update(self, positions: Positions) -> list[ArrivalEvent]:
        for reason in positions.incomplete:
            self.health.count("incomplete_trains")
            log.warning("Train Tracker: left out %s", reason)
        for name in positions.unknown_routes:
            self.health.unknown("route", name)
        arrivals: list[ArrivalEvent] = []
        present: set[tuple[str, str]] = set()
        for train in positions.trains:
            key = (train.line, train.run)
            present.add(key)
            self._check_ids(train)
            seen = self.trains.get(key)
            if seen is not None and seen.position.next_station_id != train.next_station_id:
                arrivals += self._arrived(key, seen, positions.generated_at, train)
            self.trains[key] = _Seen(train, positions.generated_at)
        for key in [key for key in self.trains if key not in present and key[0] in positions.routes]:
            seen = self.trains.pop(key)
            if self._heading_for_terminal(seen.position):
                arrivals += self._arrived(key, seen, positions.generated_at)
            self.last_arrival.pop(key, None)
        self.health.count("arrivals", len(arrivals))
        return arrivals

    def _check_ids(self, train: TrainPosition) -> None:
        context = f" (run {train.run}, {train.line} line, next {train.next_station_name!r})"
        if train.next_station_id not in self.network.stations:
            self.health.unknown("station", str(train.next_station_id), context)
        if train.next_stop_id is not None and train.next_stop_id not in self.network.stops:
            self.health.unknown("stop", str(train.next_stop_id), context)

    def _heading_for_terminal(self, train: TrainPosition) -> bool:
        destination = self.network.stops.get(train.destination_stop_id or -1)
        return destination is not None and destination.station_id == train.next_station_id

    def _arrived(
        self, key: tuple[str, str], seen: _Seen, now: datetime, new: TrainPosition | None = None
    ) -> list[ArrivalEvent]:
        """The arrivals of a train that was heading for ``seen``'s next station and now (``new``, or gone at
        its terminal) is past it: that station, and the stations between it and ``new``'s next one."""
        train = seen.position
        station = self.network.stations.get(train.next_station_id)
        if station is None:
            self.health.count("arrivals_at_unknown_stations")
            return []  # counted when first seen; nothing to place
        route, direction = self._route_and_direction(train)
        stop_id = train.next_stop_id if train.next_stop_id in self.network.stops else None
        passed: list[tuple[int, int | None]] = [(station.station_id, stop_id)]
        if new is not None:
            path = self._path(train, new.next_station_id, route, direction)
            if path is None:
                self.health.count("unknown_paths")
                log.info(
                    "Train Tracker: run %s went from next %s to next %s, not along its route: only the first reported",
                    train.run, train.next_station_id, new.next_station_id,
                )  # fmt: skip
            else:
                passed += path
        # Reached between the two responses: the first at its predicted time when that lies between them
        # (else the newer response's, when it is the only one), the others spread evenly up to the newer.
        start = seen.generated_at
        first = None
        if train.arrives_at is not None and seen.generated_at <= train.arrives_at <= now:
            start = first = train.arrives_at
        events: list[ArrivalEvent] = []
        for index, (station_id, stop) in enumerate(passed):
            if first is not None:
                at = first + (now - first) * index / len(passed)
            else:
                at = start + (now - start) * (index + 1) / len(passed)
            events.append(self._event(key, train, self.network.stations[station_id], stop, route, direction, at))
        return events

    def _event(
        self,
        key: tuple[str, str],
        train: TrainPosition,
        station: Station,
        stop_id: int | None,
        route: Route | None,
        direction: Direction,
        at: datetime,
    ) -> ArrivalEvent:
        previous = self.last_arrival.get(key)
        if previous is not None and at < previous.at:
            at = previous.at  # a train's arrivals never go back in time
        event = ArrivalEvent(
            station_id=station.station_id,
            station_name=station.name,
            train_id=f"{self._prefix.get(train.line, train.line.upper()[:2])}{train.run}",
            direction=direction,
            line=train.line,
            route=route.name if route is not None else train.line.title(),
            train_status=TrainStatus.IN_SERVICE,
            prev_station_id=previous.station_id if previous is not None else None,
            prev_direction=previous.direction if previous is not None else None,
            stop_id=stop_id,
            at=at,
        )
        self.last_arrival[key] = event
        return event

    def _path(
        self, train: TrainPosition, reached: int, route: Route | None, direction: Direction
    ) -> list[tuple[int, int | None]] | None:
        """The stations (and their platforms this way) strictly between ``train``'s next station and
        ``reached`` along a route of its line, in ``direction``; [] when ``reached`` comes right after it or
        the train turned back at the route's end; None when ``reached`` is not ahead on any of them."""
        candidates = [route] if route is not None else []
        candidates += [r for r in self._by_station.get((train.line, train.next_station_id), []) if r is not route]
        for candidate in candidates:
            stops = candidate.stops if direction == "a" else tuple(reversed(candidate.stops))
            ids = [stop.station_id for stop in stops]
            if train.next_station_id not in ids:
                continue
            here = ids.index(train.next_station_id)
            if reached in ids[here + 1 :]:
                return [
                    (stop.station_id, stop.stop_id(direction))
                    for stop in stops[here + 1 : ids.index(reached, here + 1)]
                ]
            if here == len(ids) - 1:
                return []  # its last station this way: it turned back (or ran on to another route's)
        return None

    def _route_and_direction(self, train: TrainPosition) -> tuple[Route | None, Direction]:
        """The route and direction whose platform the train stops at; the line's trDr where the stop
        id does not say (an unknown stop, a platform no route of ours uses)."""
        destination = self.network.stops.get(train.destination_stop_id or -1)
        choices = self._by_stop.get((train.line, train.next_stop_id or -1), [])
        if destination is not None:
            # Green's branches share the trunk's platforms: the one that reaches the destination.
            towards = [(r, d) for r, d in choices if destination.station_id in r.station_ids]
            choices = towards or choices
        if choices:
            return choices[0]
        direction: Direction = "a" if train.direction_code == TRDR_OF_A.get(train.line) else "b"
        routes = self._by_station.get((train.line, train.next_station_id), [])
        return (routes[0] if routes else None), direction
