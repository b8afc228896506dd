"""Benchmark: poll -> dashboard latency of each real-feed adapter (CTA Train Tracker, GTFS-realtime).

For each adapter it writes a CONSTRUCTED recording (the documented formats, real ids of ``data/cta``;
nothing fetched from the CTA): the simulation's whole peak fleet (``plan_routes``: every route's
trains), every train one station further at every poll. Train Tracker bodies follow the Locations
API's JSON; GTFS-realtime bodies are VehiclePositions and TripUpdates built by ``feeds/gtfs_out.py``
against the static GTFS it builds from the same network (the project's own GTFS-realtime out).

A local HTTP server (port 0, in this process: tests/feeds/feed_server.py's) serves the recording: each
request for a feed gets that feed's next body. The whole stack (`transit-status run --network cta` minus
the terminal) runs with ``--source cta-train-tracker`` or ``gtfs-rt`` pointed at it, polling live
(``serve feed``'s ``LiveSource``, not a replay) every ``--interval`` seconds. Until the client is connected the server
repeats the first poll (which moves no train); then it serves the rest, one per request.

Measured: from the server having written a poll's last response (for GTFS-realtime both feeds of the
poll: the adapter reads them together) to the dashboard's WebSocket (``/ws``, as the page reads it)
delivering each train that poll moved at its new station, as the adapter derives it (the same adapter
run over the recording in this process). Both ends are this process's monotonic clock, so the
resolution is the client's receipt of a frame (sub-millisecond); the dashboard coalesces updates per
100 ms tick, which is part of what is measured. The poll interval is a setting and is not in the figure:
timing starts at the response, not at the schedule. Per adapter: p50/p90/max over every train moved,
and per poll (until its last train showed); the split at the arrival's ``produced_at`` (wall clock):
server -> Kafka produce (fetch, parse, derive), and produce -> client (Kafka, dashboard, push).
A train moved that never shows at its station ends the run with exit 1 ("WRONG RESULT").
Results: benchmarks/results/feed_latency.json, with the machine.

    .venv/bin/python benchmarks/feed_latency.py [--polls 30] [--interval 3] [--adapter cta-train-tracker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import websockets
from tests.feeds.feed_server import LocalServer, Reply, running

from stack import distribution, machine, require_correct, running_stack, write_results
from transit_status.config import Settings, load_settings
from transit_status.feeds import cta, gtfs_rt
from transit_status.feeds.gtfs_out import Call, RealtimeFeeds, TrainState, build_static_gtfs, encode, trip_calls
from transit_status.feeds.polling import FeedResponse, Poll
from transit_status.feeds.recording import Recorder, Recording, read_recording
from transit_status.feeds.runner import open_feed
from transit_status.networks import Network, Route, load_network
from transit_status.simulation.trains import TrainTiming, plan_routes

ADAPTERS = ("cta-train-tracker", "gtfs-rt")
LINE_ROUTES = {line: route for route, line in cta.ROUTE_LINES.items()}
CHICAGO = ZoneInfo("America/Chicago")
KEY = "benchmark-key"  # the local server ignores it; the setting must be set for the source


# ---- the constructed recordings ------------------------------------------------------------------


@dataclass
class WalkingTrain:
    """A train on a route's trip calls, one call further per poll, turning at either end."""

    train_id: str
    route: Route
    calls: dict[str, list[Call]]
    direction: str
    index: int
    leg_start: datetime
    """When its current trip left the first station (a GTFS trip run is named by it)."""

    @property
    def call(self) -> Call:
        return self.calls[self.direction][self.index]

    def step(self, now: datetime) -> None:
        self.index += 1
        if self.index >= len(self.calls[self.direction]):
            self.direction = "b" if self.direction == "a" else "a"
            self.index = 1  # the other trip's first call is the terminal it is at
            self.leg_start = now - timedelta(seconds=self.call.offset_s)


def peak_fleet(network: Network, start: datetime) -> list[WalkingTrain]:
    """The simulation's fleet (each route's train ids), spread evenly over each route's round trip."""
    trains = []
    for plan in plan_routes(network, TrainTiming()):
        calls = {d: trip_calls(plan.route, d) for d in ("a", "b")}  # type: ignore[arg-type]
        stops = [("a", i) for i in range(len(calls["a"]) - 1)] + [("b", i) for i in range(len(calls["b"]) - 1)]
        for rank, train_id in enumerate(plan.train_ids):
            direction, index = stops[rank * len(stops) // len(plan.train_ids)]
            leg_start = start - timedelta(seconds=calls[direction][index].offset_s)
            trains.append(WalkingTrain(train_id, plan.route, calls, direction, index, leg_start))
    return trains


def _chicago(moment: datetime) -> str:
    return moment.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M:%S")


def train_tracker_body(network: Network, trains: list[WalkingTrain], now: datetime) -> bytes:
    """A Locations API response (every value a string, Chicago local times) of ``trains``."""
    prefixes = {line.line_id: line.train_prefix for line in network.lines}
    routes: dict[str, list[dict[str, Any]]] = {}
    for train in trains:
        line = train.route.line
        destination = train.calls[train.direction][-1]
        station = network.stations[train.call.station_id]
        routes.setdefault(LINE_ROUTES[line], []).append(
            {
                "rn": train.train_id.removeprefix(prefixes[line]),
                "destSt": str(destination.stop_id),
                "destNm": network.stations[destination.station_id].name,
                "trDr": cta.TRDR_OF_A[line] if train.direction == "a" else ("1" if cta.TRDR_OF_A[line] == "5" else "5"),
                "nextStaId": str(station.station_id),
                "nextStpId": str(train.call.stop_id),
                "nextStaNm": station.name,
                "prdt": _chicago(now),
                "arrT": _chicago(now + timedelta(seconds=60)),
                "isApp": "0",
                "isDly": "0",
                "flags": None,
                "lat": str(station.latitude),
                "lon": str(station.longitude),
                "heading": "0",
            }
        )
    document = {
        "ctatt": {
            "tmst": _chicago(now),
            "errCd": "0",
            "errNm": None,
            "route": [{"@name": name, "train": members} for name, members in routes.items()],
        }
    }
    return json.dumps(document, separators=(",", ":")).encode()


def write_recording(adapter: str, network: Network, polls: int, directory: Path, interval_s: float) -> Recording:
    """The constructed recording of ``polls`` polls of ``adapter``'s feeds, in the recording format."""
    start = datetime.now(UTC).replace(microsecond=0)
    trains = peak_fleet(network, start)
    static = build_static_gtfs(network) if adapter == "gtfs-rt" else None
    feeds = {cta.FEED: "http://127.0.0.1/positions"}
    if adapter == "gtfs-rt":
        feeds = {feed: f"http://127.0.0.1/{feed}" for feed in (gtfs_rt.VEHICLE_POSITIONS, gtfs_rt.TRIP_UPDATES)}
    recorder = Recorder(directory, adapter, feeds, static)
    realtime = RealtimeFeeds(network)
    try:
        for number in range(1, polls + 1):
            now = start + timedelta(seconds=(number - 1) * interval_s)
            if number > 1:
                for train in trains:
                    train.step(now)
            if adapter == "cta-train-tracker":
                bodies = {cta.FEED: (train_tracker_body(network, trains, now), "application/json")}
            else:
                states = [
                    TrainState(
                        train_id=train.train_id,
                        route_id=train.route.route_id,
                        direction=train.direction,  # type: ignore[arg-type]
                        stop_id=train.call.stop_id,
                        status="STOPPED_AT",
                        trip_start=train.leg_start,
                        at=train.leg_start + timedelta(seconds=train.call.offset_s),
                    )
                    for train in trains
                ]
                latest = max([now, *(state.at for state in states)])
                bodies = {
                    gtfs_rt.VEHICLE_POSITIONS: (
                        encode(realtime.vehicle_positions(states, latest)),
                        "application/x-protobuf",
                    ),
                    gtfs_rt.TRIP_UPDATES: (encode(realtime.trip_updates(states, latest)), "application/x-protobuf"),
                }
            responses = {
                feed: FeedResponse(feed, now, 200, body, None, content_type)
                for feed, (body, content_type) in bodies.items()
            }
            recorder.record(Poll(number, now, responses))
    finally:
        recorder.close()
    return read_recording(directory)


def expected_moves(settings: Settings, recording: Recording) -> list[dict[str, int]]:
    """Per poll, the trains it moves and their new stations: the adapter itself, run over the recording."""
    feed = open_feed(settings.with_overrides(source=f"replay:{recording.directory}"))
    moves = []
    for poll in recording.polls:
        arrivals = feed.adapter.on_poll(poll)
        moves.append({arrival.train_id: arrival.station_id for arrival in arrivals})
    return moves


# ---- the local feed server -----------------------------------------------------------------------


class RecordingServer(LocalServer):
    """Serves a recording: ``GET /<feed>`` answers that feed's next body (the first poll's until
    :meth:`go`; the last one's once it has run out) and notes when the answer was written."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the adapter's client uses it

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self.recording = recording
        self.lock = threading.Lock()
        self.started = False
        self.go_asked = False
        self.first_feed = next(iter(recording.polls[0].responses))
        """The feed a poll asks for first: the sequence starts with a whole poll, never in the middle of one."""
        self.next_poll: dict[str, int] = {}
        self.answered: dict[int, dict[str, tuple[float, float]]] = {}
        """poll index -> feed -> (monotonic, wall) time its response was written."""
        self.requests = 0

    def go(self) -> None:
        with self.lock:
            self.go_asked = True

    def take(self, feed: str) -> tuple[int, FeedResponse | None]:
        with self.lock:
            self.requests += 1
            if self.go_asked and feed == self.first_feed:
                self.started = True
            index = 0
            if self.started:
                index = self.next_poll.get(feed, 1)
                self.next_poll[feed] = index + 1
            index = min(index, len(self.recording.polls) - 1)
            return index, self.recording.polls[index].responses.get(feed)

    def reply_to(self, path: str) -> Reply:
        feed = _feed(path)
        index, response = self.take(feed)
        if response is None or response.body is None:
            return Reply(404, f"no feed {feed!r} in the recording".encode(), content_type="text/plain")
        return PollReply(response.status or 200, response.body, content_type=response.content_type, poll=index)

    def replied(self, path: str, reply: Reply) -> None:
        if isinstance(reply, PollReply) and self.started:
            self.note(reply.poll, _feed(path))

    def note(self, index: int, feed: str) -> None:
        with self.lock:
            # The first answer only: the last poll, repeated once the recording has run out, was served then.
            self.answered.setdefault(index, {}).setdefault(feed, (time.monotonic(), time.time()))

    def poll_answered(self, index: int) -> tuple[float, float] | None:
        """When poll ``index`` was fully served (its last feed's answer), or None."""
        with self.lock:
            feeds = self.answered.get(index, {})
            if set(feeds) != set(self.recording.polls[index].responses):
                return None
            return max(feeds.values())

    def served_all(self) -> bool:
        return self.poll_answered(len(self.recording.polls) - 1) is not None


@dataclass(frozen=True)
class PollReply(Reply):
    """A feed's response in poll ``poll`` of the recording."""

    poll: int = 0


def _feed(path: str) -> str:
    return path.split("?", 1)[0].strip("/")


def serving(recording: Recording) -> AbstractContextManager[RecordingServer]:
    return running(RecordingServer(recording))


# ---- measuring ------------------------------------------------------------------------------------


@dataclass
class Seen:
    """A train update the client received: where, when (monotonic), and its produce time (wall ms)."""

    train_id: str
    station_id: int
    received: float
    received_wall: float
    produced_at_ms: int


@dataclass
class Latencies:
    per_train_ms: list[float] = field(default_factory=list)
    per_poll_ms: list[float] = field(default_factory=list)
    to_produce_ms: list[float] = field(default_factory=list)
    produce_to_client_ms: list[float] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def match(moves: list[dict[str, int]], answered: dict[int, tuple[float, float]], seen: list[Seen]) -> Latencies:
    """For each poll from the second on (``answered``: when it was fully served), each train it moved:
    the first update showing it at its new station received after the poll was served."""
    result = Latencies()
    by_train: dict[str, list[Seen]] = {}
    for update in seen:
        by_train.setdefault(update.train_id, []).append(update)
    for index in sorted(answered):
        if index == 0 or not moves[index]:
            continue
        served, served_wall = answered[index]
        slowest, whole = 0.0, True
        for train_id, station_id in moves[index].items():
            shown = next(
                (u for u in by_train.get(train_id, []) if u.station_id == station_id and u.received >= served), None
            )
            if shown is None:
                result.missing.append(f"poll {index + 1}: {train_id} at {station_id}")
                whole = False
                continue
            latency = (shown.received - served) * 1000
            slowest = max(slowest, latency)
            result.per_train_ms.append(latency)
            result.to_produce_ms.append(shown.produced_at_ms - served_wall * 1000)
            result.produce_to_client_ms.append(shown.received_wall * 1000 - shown.produced_at_ms)
        if whole:  # a poll counts once every train it moved has shown
            result.per_poll_ms.append(slowest)
    return result


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    return distribution(values, "ms", 1)


def page_ready(settings: Settings, timeout_s: float = 120.0) -> None:
    """Until the dashboard draws its network: with a gtfs-rt source it answers 503 (and closes sockets)
    while it waits for the copy of the static GTFS the feed saves."""
    deadline = time.monotonic() + timeout_s
    while True:
        with suppress(httpx.HTTPError):
            if httpx.get(settings.dashboard_url + "/api/map", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard did not draw its network within {timeout_s:.0f} s")
        time.sleep(0.2)


async def watch(settings: Settings, server: RecordingServer, warmup_s: float, grace_s: float) -> list[Seen]:
    """Connects like the page, lets the feed settle on the first poll, starts the server's sequence and
    collects every train update until the last poll was served ``grace_s`` ago."""
    url = settings.dashboard_url.replace("http://", "ws://", 1) + "/ws"
    seen: list[Seen] = []
    async with websockets.connect(url, max_size=None) as socket:
        settle = time.monotonic() + warmup_s
        requests = server.requests
        while time.monotonic() < settle or server.requests < requests + 2:  # the feed has polled since
            with suppress(TimeoutError):
                await asyncio.wait_for(socket.recv(), timeout=0.5)
        server.go()
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            if deadline is None and server.served_all():
                deadline = time.monotonic() + grace_s
            try:
                frame = await asyncio.wait_for(socket.recv(), timeout=0.5)
            except TimeoutError:
                continue
            received, received_wall = time.monotonic(), time.time()
            message = json.loads(frame)
            for update in message.get("updates", []) if message.get("type") == "updates" else []:
                if update["type"] == "train":
                    train = update["train"]
                    seen.append(
                        Seen(train["train_id"], train["station_id"], received, received_wall, train["produced_at"])
                    )
    return seen


def stack_settings(adapter: str, server: RecordingServer, interval_s: float) -> dict[str, Any]:
    if adapter == "cta-train-tracker":
        return {
            "source": adapter,
            "cta_train_tracker_url": f"{server.url}/{cta.FEED}",
            "cta_train_tracker_key": KEY,
            "cta_train_tracker_poll_s": interval_s,
        }
    assert server.recording.static_path is not None
    return {
        "source": adapter,
        "gtfs_static": str(server.recording.static_path),
        "gtfs_rt_vehicle_positions_url": f"{server.url}/{gtfs_rt.VEHICLE_POSITIONS}",
        "gtfs_rt_trip_updates_url": f"{server.url}/{gtfs_rt.TRIP_UPDATES}",
        "gtfs_rt_poll_s": interval_s,
    }


def measure(adapter: str, network: Network, args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], list[str]]:
    recording = write_recording(adapter, network, args.polls, work / adapter, args.interval)
    moves = expected_moves(load_settings().with_overrides(network="cta"), recording)
    with serving(recording) as server:
        overrides = stack_settings(adapter, server, args.interval)
        with running_stack("transit-bench-feed-", run_networks="cta", **overrides) as (settings, _stack):
            page_ready(settings)
            seen = asyncio.run(watch(settings, server, args.warmup, args.grace))
        answered = {
            index: when for index in range(len(recording.polls)) if (when := server.poll_answered(index)) is not None
        }
    latencies = match(moves, answered, seen)
    bytes_per_poll = [sum(len(r.body or b"") for r in poll.responses.values()) for poll in recording.polls]
    result = {
        "adapter": adapter,
        "interval_s": args.interval,
        "polls_measured": sum(1 for index in answered if index > 0 and moves[index]),
        "polls_shown_whole": len(latencies.per_poll_ms),
        "trains_in_feed": len(peak_fleet(network, datetime.now(UTC))),
        "moves_expected": sum(len(moves[index]) for index in answered if index > 0),
        "moves_shown": len(latencies.per_train_ms),
        "body_bytes_per_poll": round(statistics.median(bytes_per_poll)),
        "per_train": percentiles(latencies.per_train_ms),
        "per_poll": percentiles(latencies.per_poll_ms),
        "server_to_produce": percentiles(latencies.to_produce_ms),
        "produce_to_client": percentiles(latencies.produce_to_client_ms),
    }
    print(json.dumps(result))
    problems = []
    if latencies.missing:
        problems.append(f"{adapter}: {len(latencies.missing)} moved trains never shown, e.g. {latencies.missing[:3]}")
    if len(answered) < len(recording.polls) - 1:
        problems.append(f"{adapter}: only {len(answered)} of {len(recording.polls) - 1} polls served")
    return result, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=31, help="polls per adapter (the first moves no train)")
    parser.add_argument("--interval", type=float, default=3.0, help="the feed's poll interval, seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds on the first poll before measuring")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to wait after the last poll")
    parser.add_argument("--adapter", choices=ADAPTERS, action="append", help="only this adapter (repeatable)")
    args = parser.parse_args()

    facts = machine()
    network = load_network(load_settings().with_overrides(network="cta"))
    results, problems = [], []
    with tempfile.TemporaryDirectory(prefix="transit-bench-recordings-") as work:
        for adapter in args.adapter or ADAPTERS:
            result, wrong = measure(adapter, network, args, Path(work))
            results.append(result)
            problems += wrong
    write_results("feed_latency", {"benchmark": "feed_latency", "machine": facts, "adapters": results})
    require_correct(problems)


if __name__ == "__main__":
    main()
