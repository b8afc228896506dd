"""Round trip: the simulation's GTFS-realtime output, read back by the GTFS-realtime adapter on a second
pipeline, shows the same trains at the same stations on the second dashboard.

Pipeline A is the simulation's: the simulation's producer code (``SimulationRunner`` and the shared
``EventProducer``, what `serve simulate` runs) in this process, Faust and dashboard A as `run` starts
them, on topics of its own. Pipeline B is a GTFS-realtime source's, on other topics of its own: `serve
feed` with ``source=gtfs-rt`` reads dashboard A's ``/gtfs/static.zip`` at start (and saves it for B's
Faust and dashboard, which wait for that copy) and polls its ``/gtfs-rt/*.pb``, then Faust and dashboard
B, exactly as `run --source gtfs-rt` starts them, once dashboard A (B's upstream) answers.

Determinism: A's simulation runs a fixed number of simulated minutes as fast as it can and stops, so
A's trains stand still; the test waits until dashboard A shows exactly the simulation's last positions,
and only then starts B's feed. What B must show is then fixed, and every wait is for a condition, with
a timeout.

Ids: nothing is renamed on the way. A GTFS vehicle's id (and label) is the train id; its ``stop_id`` is
the platform (3xxxx) and that platform's ``parent_station`` in the static zip is the station (4xxxx)
the adapter reports; ``direction_id`` 0/1 is direction a/b; the GTFS route id is the line id. So B's
``/api/trains`` must equal A's, train id for train id, in station, direction and line. Two things are
not carried, by the feeds' contract (docs/FEEDS.md): a train out of service is in no feed (so B does
not show it), and a broken-down train is an alert, not a vehicle status (B shows it in service).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import NotYet, ServiceProcess, answered
from transit_status.config import Settings
from transit_status.networks import Network
from transit_status.pipeline.connectors import ensure_stations_connector
from transit_status.platform.ports import free_ports, private_topics
from transit_status.platform.service import consumer_group_stable
from transit_status.producers.kafka import EventProducer
from transit_status.producers.runner import SimulationRunner
from transit_status.producers.weather import RestProxyWeatherStation
from transit_status.simulation import SimulationEngine
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

# A Wednesday night, Chicago time. With this seed, 30 minutes on leave 117 trains in service, 13 out of
# service and 2 broken down: each case the feeds treat differently is there.
START = datetime(2024, 4, 10, 23, 40)
MINUTES = 30
SEED = 2
POLL_S = 2.0  # B polls A's feeds every 2 s (the header timestamp, the wall clock's second, advances each poll)

Where = tuple[int, str, str]
"""(station_id, direction, line): where a train is, as the dashboard's /api/trains says it."""


def api(settings: Settings, path: str) -> Any:
    response = httpx.get(settings.dashboard_url + path, timeout=5)
    response.raise_for_status()
    return response.json()


def shown(settings: Settings) -> dict[str, dict[str, Any]]:
    return {train["train_id"]: train for train in api(settings, "/api/trains")}


def where(trains: dict[str, dict[str, Any]]) -> dict[str, Where]:
    return {tid: (t["station_id"], t["direction"], t["line"]) for tid, t in trains.items()}


def test_the_simulations_gtfs_realtime_read_back_on_a_second_pipeline_shows_the_same_trains_at_the_same_stations(
    platform: Settings, network: Network, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    port_a, port_b = free_ports(2)
    # Both read the stations table through Connect's raw stations topic, as in `run`.
    a = private_topics(platform, f"rt-a-{run}", shared_raw_stations=True, dashboard_port=port_a)
    b = private_topics(
        platform,
        f"rt-b-{run}",
        shared_raw_stations=True,
        dashboard_port=port_b,
        source="gtfs-rt",
        gtfs_static=f"{a.dashboard_url}/gtfs/static.zip",
        gtfs_rt_vehicle_positions_url=f"{a.dashboard_url}/gtfs-rt/vehicle-positions.pb",
        gtfs_rt_trip_updates_url=f"{a.dashboard_url}/gtfs-rt/trip-updates.pb",
        gtfs_rt_alerts_url=f"{a.dashboard_url}/gtfs-rt/alerts.pb",
        gtfs_rt_poll_s=POLL_S,
    )
    assert a.topic_arrivals != b.topic_arrivals and a.faust_app_id != b.faust_app_id  # two pipelines
    b.feed_health_file.unlink(missing_ok=True)
    for settings in (a, b):
        ensure_topics(settings)
    ensure_stations_connector(a)
    children = {
        name: ServiceProcess(service, settings, tmp_path / f"{name}.log")
        for name, service, settings in (
            ("streams-a", "streams", a),
            ("dashboard-a", "dashboard", a),
            ("streams-b", "streams", b),
            ("dashboard-b", "dashboard", b),
        )
    }
    children["streams-a"].start()
    children["dashboard-a"].start()
    feed: ServiceProcess | None = None
    try:
        # ---- A: the simulation runs its minutes and stops; dashboard A shows where it left each train.
        children["streams-a"].wait_for(lambda: consumer_group_stable(a, a.faust_app_id), 120, "joining its group")
        children["dashboard-a"].wait_for(answered(lambda: api(a, "/healthz")), 60, "answering")
        # B's upstream is dashboard A, up now, as `run` would have an agency's server up. B's Faust and
        # dashboard never fetch A's static GTFS themselves: they wait for the copy B's feed saves.
        children["streams-b"].start()
        children["dashboard-b"].start()
        engine = SimulationEngine(network, start=START, seed=SEED)
        with EventProducer(a) as producer, RestProxyWeatherStation(a) as weather:
            SimulationRunner(engine, producer, weather).run_for(timedelta(minutes=MINUTES))
            assert producer.flush(30) == 0 and not producer.stats.failed, producer.stats.failed
        last = {p.train_id: (p.station_id, p.direction, p.line, str(p.status)) for p in engine.snapshot().trains}

        def a_caught_up() -> Any:
            trains = shown(a)
            now = {tid: (*where(trains)[tid], t["train_status"]) for tid, t in trains.items()}
            return trains if now == last else NotYet({tid: now.get(tid) for tid in last if now.get(tid) != last[tid]})

        trains_a = children["dashboard-a"].wait_for(answered(a_caught_up), 90, "the simulation's last positions")
        statuses = {t["train_status"] for t in trains_a.values()}
        # Out of service: in no feed, so not on B. Broken down: a vehicle (and an alert), so on B.
        assert {"out_of_service", "broken_down"} <= statuses, statuses
        expected = where({tid: t for tid, t in trains_a.items() if t["train_status"] != "out_of_service"})
        assert len(expected) >= 100, len(expected)

        # ---- B: `serve feed` reads A's GTFS and GTFS-realtime, after B's Faust and dashboard, as in `run`.
        children["streams-b"].wait_for(lambda: consumer_group_stable(b, b.faust_app_id), 120, "joining its group")
        # Answering at all: degraded ("waiting for the static GTFS from the feed") until B's feed has saved it.
        children["dashboard-b"].wait_for(
            answered(lambda: httpx.get(b.dashboard_url + "/healthz", timeout=2)), 60, "answering"
        )
        feed = ServiceProcess("feed", b, tmp_path / "feed-b.log").start()

        def b_shows_a() -> Any:
            now = where(shown(b))
            if now == expected:
                return now
            different = [(k, now[k], expected[k]) for k in now.keys() & expected.keys() if now[k] != expected[k]]
            missing, extra = sorted(expected.keys() - now.keys()), sorted(now.keys() - expected.keys())
            return NotYet({"missing": missing[:10], "extra": extra[:10], "different": different[:10]})

        feed.assert_alive()
        children["dashboard-b"].wait_for(answered(b_shows_a), 90, "dashboard A's trains at A's stations")

        # B's source is a healthy feed, for more polls than it takes to call a feed stale; each train
        # was reported once (its first poll), not again at every poll of an unchanged feed.
        def polled_enough() -> Any:
            health = api(b, "/healthz")
            polls = health["source"]["counts"].get("polls", 0)
            return health if polls >= 3 * (b.feed_stale_polls + 1) else NotYet(health["source"])

        health = children["dashboard-b"].wait_for(answered(polled_enough), 60, "the feed's polls")
        assert health["feeds"]["source"]["state"] == "ok", health["feeds"]["source"]
        assert health["source"]["kind"] == "gtfs-rt" and health["source"]["label"] == "GTFS-realtime"
        assert health["source"]["counts"]["arrivals"] == len(expected), health["source"]
        assert not health["source"]["unknown_ids"], health["source"]["unknown_ids"]
        for role in ("turnstile_summary", "weather"):
            assert health["feeds"][role]["state"] == "off"
        assert where(shown(b)) == expected

        # Dashboard B draws Chicago's network, every line and branch (Green's Cottage Grove too), and puts
        # each train in its station's row.
        table_a, table_b = api(a, "/api/table"), api(b, "/api/table")
        assert [(r["line"], r["station_id"], r["order"]) for r in table_b] == [
            (r["line"], r["station_id"], r["order"]) for r in table_a
        ]
        rows = {(row["line"], row["station_id"]): row for row in table_b}
        for train_id, (station_id, direction, line) in expected.items():
            assert train_id in rows[(line, station_id)][f"trains_{direction}"], (train_id, rows.get((line, station_id)))
        feed.assert_alive()
        assert feed.stop() == 0
    finally:
        for name, child in [("feed-b", feed), *children.items()]:
            if child is not None:
                child.stop()
                print(f"---- {name} log (tail)\n" + "\n".join(child.log().splitlines()[-20:]))
