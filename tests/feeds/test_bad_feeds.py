"""Bad feeds, served by a real local HTTP server to the adapters' real HTTP client: each gives a clear
log line and a degraded feed with its reason, the loop goes on, and good data brings it back to ok.

Every body here is CONSTRUCTED from the documented formats (Train Tracker's Locations API JSON, GTFS-
realtime protobuf built with the official bindings); see recordings/README.md.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from transit_status.feeds.cta import TrainTrackerAdapter, positions_request
from transit_status.feeds.gtfs_out import RealtimeFeeds, TrainState, build_static_gtfs, encode
from transit_status.feeds.gtfs_rt import GtfsRealtimeAdapter, feed_requests
from transit_status.feeds.health import FeedHealth, read_health
from transit_status.feeds.polling import LiveSource
from transit_status.feeds.runner import Feed, drive
from transit_status.networks import Network
from transit_status.networks.gtfs import read_tables, static_feed
from transit_status.simulation.events import ArrivalEvent

from .feed_server import Reply, serving

KEY = "k3y-0f-the-tests-9f8e7d"
GOOD = (Path(__file__).parent / "recordings" / "cta-train-tracker-constructed" / "000001-positions.json").read_bytes()


def error_body(code: str, name: str) -> bytes:
    return json.dumps({"ctatt": {"tmst": "2026-12-01T08:00:00", "errCd": code, "errNm": name}}).encode()


def run_polls(feed: Feed, polls: int, health_file: Path | None = None) -> tuple[list[str], list[ArrivalEvent]]:
    """Drive ``polls`` polls; the health's state (and reason) after each."""
    stop = threading.Event()
    states: list[str] = []
    arrivals: list[ArrivalEvent] = []

    def after_poll() -> None:
        health = feed.adapter.health
        states.append(f"{health.state}: {health.reason}" if health.reason else health.state)
        if health_file is not None:
            health.write(health_file)
        if len(states) >= polls:
            stop.set()

    drive(feed, stop, arrivals.append, after_poll)
    return states, arrivals


def cta_feed(network: Network, url: str, attempts: int = 1, timeout_s: float = 2.0) -> Feed:
    request = positions_request(url + "/api/1.0/ttpositions.aspx", KEY)
    source = LiveSource([request], interval_s=0, timeout_s=timeout_s, attempts=attempts, backoff_s=0)
    return Feed("cta-train-tracker", source, TrainTrackerAdapter(network, FeedHealth("cta-train-tracker")), [request])


def test_every_kind_of_bad_train_tracker_response_degrades_the_feed_then_good_data_recovers_it(
    network: Network, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    replies = [
        Reply(500, b"<html>Server Error</html>", content_type="text/html"),
        Reply(200, GOOD, delay_s=1.0),  # longer than the client's timeout
        Reply(200, GOOD[: len(GOOD) // 2]),  # truncated JSON
        Reply(200, error_body("900", "Server Error")),
        Reply(200, error_body("101", "Invalid API key.")),
        Reply(200, b'{"ctatt": {"errCd": "0", "route": []}}'),  # no tmst: a required field missing
        Reply(200, GOOD),
    ]
    caplog.set_level(logging.INFO)
    with serving(replies) as server:
        states, _ = run_polls(cta_feed(network, server.url, timeout_s=0.3), len(replies), tmp_path / "health.json")
    assert states[2].startswith("degraded: positions: malformed JSON (JSONDecodeError: ")
    assert states[:2] + states[3:] == [
        "degraded: positions: HTTP 500",
        "degraded: positions: timed out",
        "degraded: positions: Train Tracker error 900: Server Error",
        "degraded: positions: Train Tracker error 101: Invalid API key.",
        "degraded: positions: no readable 'tmst' (response time) in the response",
        "ok",
    ]
    logged = [record.getMessage() for record in caplog.records]
    assert "cta-train-tracker feed degraded: positions: HTTP 500" in logged
    assert any(line.startswith("cta-train-tracker feed recovered (degraded since ") for line in logged)
    # The key went to the API, and nowhere else: not in a log line, not in the health the dashboard reads.
    assert all(f"key={KEY}" in path for path in server.requests)
    assert not any(KEY in line for line in logged)
    health = read_health(tmp_path / "health.json")
    assert health is not None and health["state"] == "ok" and KEY not in json.dumps(health)


def test_a_poll_retries_with_backoff_and_succeeds_within_its_attempts(network: Network) -> None:
    replies = [Reply(503, b"busy"), Reply(200, error_body("900", "Server Error")), Reply(200, GOOD)]
    with serving(replies) as server:
        states, _ = run_polls(cta_feed(network, server.url, attempts=3), 1)
        assert len(server.requests) == 3  # two failures retried, the third try good
    assert states == ["ok"]


def test_a_permanent_api_error_is_not_retried_at_once(network: Network) -> None:
    # An invalid key or the daily limit: more tries would only spend the limit.
    with serving([Reply(200, error_body("102", "Maximum daily Train Tracker API usage exceeded."))]) as server:
        states, _ = run_polls(cta_feed(network, server.url, attempts=3), 1)
        assert len(server.requests) == 1
    assert states == ["degraded: positions: Train Tracker error 102: Maximum daily Train Tracker API usage exceeded."]


# ---- GTFS-realtime ---------------------------------------------------------------------------------


def vehicle_feed(network: Network, timestamps: list[int]) -> list[bytes]:
    """VehiclePositions bodies built with the official bindings (constructed), one per header time."""
    feeds = RealtimeFeeds(network)
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    state = TrainState("RL801", "red", "a", 30126, "STOPPED_AT", start, start)
    return [encode(feeds.vehicle_positions([state], datetime.fromtimestamp(t, UTC))) for t in timestamps]


def gtfs_rt_feed(network: Network, url: str, stale_polls: int = 3) -> Feed:
    static = static_feed(read_tables(build_static_gtfs(network)))
    requests = feed_requests(url + "/vehicle-positions.pb", None, None)
    source = LiveSource(requests, interval_s=0, timeout_s=0.3, attempts=1, backoff_s=0)
    adapter = GtfsRealtimeAdapter(static, FeedHealth("gtfs-rt"), stale_polls)
    return Feed("gtfs-rt", source, adapter, requests)


def test_truncated_protobuf_a_timeout_and_a_stale_feed_degrade_then_recover(network: Network) -> None:
    t0 = int(datetime(2026, 12, 1, 14, 0, tzinfo=UTC).timestamp())
    first, later, newest = vehicle_feed(network, [t0, t0 + 30, t0 + 60])
    pb = "application/x-protobuf"
    replies = [
        Reply(200, first, content_type=pb),
        Reply(200, first[: len(first) - 7], content_type=pb),  # truncated mid-field
        Reply(200, b"", content_type=pb, delay_s=1.0),  # a timeout
        Reply(200, later, content_type=pb),
        Reply(200, later, content_type=pb),  # the header stands still: 1 poll
        Reply(200, later, content_type=pb),  # 2 polls: stale (stale_polls=2)
        Reply(200, newest, content_type=pb),
    ]
    with serving(replies) as server:
        states, arrivals = run_polls(gtfs_rt_feed(network, server.url, stale_polls=2), len(replies))
    assert states[0] == "ok"
    assert states[1].startswith("degraded: vehicle-positions: malformed protobuf")
    assert states[2] == "degraded: vehicle-positions: timed out"
    assert states[3:5] == ["ok", "ok"]
    assert states[5] == (
        "degraded: vehicle-positions: stale: its timestamp 2026-12-01T14:00:30+00:00 has not advanced past "
        "2026-12-01T14:00:30+00:00 for 2 polls"
    )
    assert states[6] == "ok"
    assert [(a.train_id, a.station_id) for a in arrivals] == [("RL801", 40650)]  # reported once


def test_a_feed_without_a_header_is_no_gtfs_realtime_feed(network: Network) -> None:
    message = rt.FeedMessage()
    message.entity.add(id="1").vehicle.vehicle.id = "1"  # an entity, but no header
    with serving(
        [Reply(200, message.SerializePartialToString()), Reply(200, vehicle_feed(network, [1_796_140_800])[0])]
    ) as server:
        states, _ = run_polls(gtfs_rt_feed(network, server.url), 2)
    assert states == ["degraded: vehicle-positions: not a GTFS-realtime FeedMessage (no header)", "ok"]


def test_an_adapter_defect_on_one_poll_does_not_end_the_loop_and_the_next_good_poll_recovers(
    network: Network,
) -> None:
    class Failing(TrainTrackerAdapter):
        calls = 0

        def on_poll(self, poll):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("a defect")
            return super().on_poll(poll)

    with serving([Reply(200, GOOD)]) as server:
        feed = cta_feed(network, server.url)
        feed.adapter = Failing(network, feed.adapter.health)
        states, _ = run_polls(feed, 2)
    assert states == ["degraded: adapter: RuntimeError reading poll 1", "ok"]  # then good data: recovered
    assert feed.adapter.health.counts["polls"] == 2  # polled on after the defect
