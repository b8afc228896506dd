"""A recorded Train Tracker sequence through a real pipeline: `serve feed` replays it into Kafka, Faust and
the dashboard run as `transit-status run --source replay:DIR` starts them, and the dashboard ends up
showing those runs at those stations (its API, its table, its GTFS-realtime out), with the feed's
health on /healthz and no turnstiles or weather claimed. The API key set for the run shows nowhere.

The recording is CONSTRUCTED from the documented Locations API format (recordings/README.md); it is
not a capture of the CTA's feed.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from tests.processes import NotYet, answered, feed_pipeline
from transit_status.config import Settings
from transit_status.networks import Network
from transit_status.platform.ports import free_ports, private_topics

pytestmark = pytest.mark.platform

RECORDING = Path(__file__).parent / "recordings" / "cta-train-tracker-constructed"
KEY = "replay-run-k3y-9d0c2b"
# Where the recording leaves each run (tests/feeds/test_cta.py derives the same arrivals in memory).
EXPECTED = {"RL831": (40630, "a"), "RL835": (40900, "b"), "BL123": (41020, "b")}


def test_a_recorded_train_tracker_sequence_ends_with_the_dashboard_showing_those_runs_at_those_stations(
    platform: Settings, network: Network, tmp_path: Path
) -> None:
    (dashboard_port,) = free_ports(1)
    settings = private_topics(
        platform,
        f"replay-{uuid.uuid4().hex[:8]}",
        shared_raw_stations=True,  # the stations come from PostgreSQL through Connect, as in `run`
        dashboard_port=dashboard_port,
        source=f"replay:{RECORDING}",
        replay_speed=30.0,  # the recording's polls are a minute apart: 2 s here
        cta_train_tracker_key=KEY,  # set, as a user with a key would have it: it must show nowhere
    )
    with feed_pipeline(settings, tmp_path) as pipeline:
        api, dashboard, feed = pipeline.api, pipeline.dashboard, pipeline.feed
        url = settings.dashboard_url

        def trains_shown() -> Any:
            shown = {t["train_id"]: (t["station_id"], t["direction"]) for t in api("/api/trains")}
            return shown == EXPECTED or NotYet(shown)

        dashboard.wait_for(answered(trains_shown), 90, "the replayed runs at their stations")
        # The table (stations from PostgreSQL via Connect and Faust) shows each run in its station's row.
        rows = {(row["line"], row["station_id"]): row for row in api("/api/table")}
        for train_id, (station_id, direction) in EXPECTED.items():
            line = "red" if train_id.startswith("RL") else "blue"
            assert train_id in rows[(line, station_id)][f"trains_{direction}"], rows.get((line, station_id))

        def replay_done() -> Any:
            health = api("/healthz")
            return health if health["source"]["counts"].get("polls") == 3 else NotYet(health["source"])

        health = dashboard.wait_for(answered(replay_done), 30, "the feed's health after its three polls")
        assert (
            health["feeds"]["source"]["state"] == "ok" and health["source"]["label"] == "CTA Train Tracker (replayed)"
        )
        assert health["source"]["counts"]["arrivals"] == 4
        assert health["source"]["unknown_ids"] == {"station:49999": 2, "stop:39999": 2}  # counted, not guessed
        for role in ("turnstile_summary", "weather"):
            assert health["feeds"][role]["state"] == "off"
        assert "turnstile_summary" not in health["degraded"] and "weather" not in health["degraded"]

        # GTFS-realtime out, from the same live state: the same runs at the same stations.
        stops = {stop.stop_id: stop.station_id for stop in network.stops.values()}
        message = rt.FeedMessage()
        message.ParseFromString(httpx.get(url + "/gtfs-rt/vehicle-positions.pb", timeout=5).content)
        assert {e.vehicle.vehicle.id: stops[int(e.vehicle.stop_id)] for e in message.entity} == {
            train_id: station_id for train_id, (station_id, _) in EXPECTED.items()
        }

        # A replay that has ended idles (the supervisor would otherwise restart it and replay it again).
        feed.assert_alive()
        everything = httpx.get(url + "/healthz", timeout=5).text + httpx.get(url + "/api/state", timeout=5).text
        assert feed.stop() == 0
    assert "the replay has ended" in feed.log()
    for text in (
        everything,
        feed.log(),
        dashboard.log(),
        pipeline.streams.log(),
        settings.feed_health_file.read_text(),
    ):
        assert KEY not in text
