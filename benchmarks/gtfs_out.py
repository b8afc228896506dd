"""Benchmark (pure: no servers): GTFS and GTFS-realtime out for the whole CTA network.

* The static feed: ``build_static_gtfs`` of Chicago's network (what ``/gtfs/static.zip`` serves,
  built once per dashboard), its time (median of ``--repeats`` builds) and its bytes, per file.
* The realtime feeds for a whole-network fleet: the simulation's trains at a weekday's morning peak
  (``--at``, Chicago time, after ``--warmup-min`` simulated minutes so every train has reported), as
  the dashboard holds them, mapped onto the static feed's trips (``TrainMapper``, as each request does)
  and built as VehiclePositions, TripUpdates and Alerts (``RealtimeFeeds``), then encoded as protobuf
  and as the ``?format=json`` JSON. Each step is timed on its own (median and max of ``--repeats``).

Results: benchmarks/results/gtfs_out.json, with the machine. A feed that leaves out a train of the
fleet, or that the official bindings cannot read back with every entity, ends the run with exit 1.

    .venv/bin/python benchmarks/gtfs_out.py [--repeats 50] [--at 2024-04-10T08:00]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.transit import gtfs_realtime_pb2 as rt

from stack import machine, require_correct, write_results
from transit_status.config import load_settings
from transit_status.dashboard.cta.gtfs import TrainMapper
from transit_status.dashboard.cta.state import Train
from transit_status.feeds.gtfs_out import RealtimeFeeds, build_static_gtfs, encode, to_json
from transit_status.networks import Network, load_network
from transit_status.simulation.engine import SimulationEngine

T = TypeVar("T")
DEFAULT_AT = "2024-04-10T08:00"  # a Wednesday's morning peak: every route's full fleet in service


def timed(action: Callable[[], T], repeats: int) -> tuple[T, dict[str, float]]:
    """``action``'s last result and its median and max wall time over ``repeats`` runs, in ms."""
    times = []
    result: T
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - started) * 1000)
    return result, {"median_ms": round(statistics.median(times), 3), "max_ms": round(max(times), 3)}


def fleet_at(network: Network, at: datetime, warmup: timedelta) -> list[Train]:
    """The simulation's whole fleet at ``at`` (local), as the dashboard holds it (its ``Train`` records)."""
    engine = SimulationEngine(network, start=at - warmup, seed=0)
    engine.advance(to=at)
    produced = int(time.time() * 1000)
    return [
        Train(
            train_id=position.train_id,
            line=position.line,
            route=position.route,
            station_id=position.station_id,
            station_name=position.station_name,
            direction=position.direction,
            train_status=str(position.status),
            simulated_at=int(position.since.timestamp() * 1000),
            produced_at=produced,
            stop_id=position.stop_id,
        )
        for position in engine.snapshot().trains
    ]


def static_figures(network: Network, repeats: int) -> dict[str, Any]:
    data, timing = timed(lambda: build_static_gtfs(network), repeats)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {info.filename: {"bytes": info.file_size, "zipped": info.compress_size} for info in archive.infolist()}
        rows = {name: archive.read(name).decode().count("\n") - 1 for name in files}
    result = {"build": timing, "zip_bytes": len(data), "files": files, "rows": rows}
    print(json.dumps({"static": {"build": timing, "zip_bytes": len(data)}}))
    return result


def realtime_figures(network: Network, trains: list[Train], repeats: int) -> tuple[dict[str, Any], list[str]]:
    mapper = TrainMapper(network)
    (states, left_out), map_timing = timed(lambda: mapper.states(trains), repeats)
    alerts = mapper.alerts(trains)
    feeds = RealtimeFeeds(network)
    now = max(state.at for state in states)
    builders: dict[str, Callable[[], rt.FeedMessage]] = {
        "vehicle-positions": lambda: feeds.vehicle_positions(states, now),
        "trip-updates": lambda: feeds.trip_updates(states, now),
        "alerts": lambda: feeds.alerts(alerts, now),
    }
    problems = [f"{len(left_out)} trains left out of the realtime feeds: {left_out[:5]}"] if left_out else []
    result: dict[str, Any] = {
        "trains": len(trains),
        "in_service": sum(train.train_status == "in_service" for train in trains),
        "broken_down": sum(train.train_status == "broken_down" for train in trains),
        "map_trains_to_trips": map_timing,
        "feeds": {},
    }
    for name, build in builders.items():
        message, build_timing = timed(build, repeats)
        body, pb_timing = timed(lambda message=message: encode(message), repeats)
        text, json_timing = timed(lambda message=message: to_json(message), repeats)
        read_back = rt.FeedMessage()
        read_back.ParseFromString(body)
        if len(read_back.entity) != len(message.entity):
            problems.append(f"{name}: {len(read_back.entity)} entities read back of {len(message.entity)}")
        figures = {
            "entities": len(message.entity),
            "build": build_timing,
            "protobuf_bytes": len(body),
            "protobuf_encode": pb_timing,
            "json_bytes": len(text.encode()),
            "json_encode": json_timing,
        }
        result["feeds"][name] = figures
        print(json.dumps({name: figures}))
    return result, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50, help="times each step runs (median and max reported)")
    parser.add_argument("--at", default=DEFAULT_AT, help="the fleet's moment, Chicago local time (ISO 8601)")
    parser.add_argument("--warmup-min", type=float, default=30.0, help="simulated minutes before --at")
    args = parser.parse_args()

    facts = machine()
    network = load_network(load_settings().with_overrides(network="cta"))
    at = datetime.fromisoformat(args.at)
    trains = fleet_at(network, at, timedelta(minutes=args.warmup_min))
    static = static_figures(network, args.repeats)
    realtime, problems = realtime_figures(network, trains, args.repeats)
    write_results(
        "gtfs_out",
        {
            "benchmark": "gtfs_out",
            "machine": facts,
            "network": network.name,
            "fleet_at": args.at,
            "repeats": args.repeats,
            "static": static,
            "realtime": realtime,
        },
    )
    require_correct(problems)


if __name__ == "__main__":
    main()
