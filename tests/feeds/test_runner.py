"""`serve feed` starting up: a start-up step that fails (the static GTFS at a URL, Kafka's topics) is a
degraded feed with its reason and since when, retried with backoff until it works, never an exit, and a
SIGTERM still stops it at once; a user's mistake is one line at start. The health file is this run's
from the first moment.

The static GTFS and the GTFS-realtime bodies are CONSTRUCTED (our own export of the CTA network, built
with the official bindings; recordings/README.md), served by a real local HTTP server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.processes import ServiceProcess, wait_until
from transit_status.config import Settings, load_settings
from transit_status.errors import TransitError
from transit_status.feeds import runner
from transit_status.feeds.gtfs_out import RealtimeFeeds, TrainState, build_static_gtfs, encode, trip_calls
from transit_status.feeds.health import FeedHealth, read_health
from transit_status.feeds.runner import Feed, drive, start_feed
from transit_status.networks import Network
from transit_status.platform.ports import isolated_settings
from transit_status.simulation.events import ArrivalEvent

from .feed_server import Reply, serving

RECORDING = Path(__file__).parent / "recordings" / "cta-train-tracker-constructed"
PROTOBUF = "application/x-protobuf"
STATIC, VEHICLES = "/static.zip", "/vehicle-positions.pb"
SRC = Path(__file__).resolve().parents[2] / "src"


def vehicles_body(network: Network) -> tuple[bytes, int]:
    """A VehiclePositions body with one Red Line train stopped at its trip's 3rd station, and that station."""
    calls = trip_calls(network.route("red"), "a")
    start = datetime.now(UTC) - timedelta(minutes=10)
    state = TrainState("RL801", "red", "a", calls[2].stop_id, "STOPPED_AT", start, datetime.now(UTC))
    return encode(RealtimeFeeds(network).vehicle_positions([state])), calls[2].station_id


def gtfs_rt_settings(tmp_path: Path, url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "source": "gtfs-rt",
        "gtfs_static": url + STATIC,
        "gtfs_rt_vehicle_positions_url": url + VEHICLES,
        "gtfs_rt_poll_s": 1.0,
        "feed_retry_attempts": 1,
        "feed_timeout_s": 2.0,
        "feed_start_backoff_s": 0.05,
    }
    # Every port free and non-default: no Kafka listens at this one's kafka_port.
    return isolated_settings(tmp_path / "state", **{**values, **extra})


def health_of(settings: Settings) -> dict[str, object] | None:
    return read_health(settings.feed_health_file)


def test_an_unreachable_static_gtfs_is_a_degraded_feed_retried_until_it_is_served_then_arrivals_come(
    network: Network, tmp_path: Path
) -> None:
    body, station_id = vehicles_body(network)
    static = build_static_gtfs(network, valid_from=date.today())
    began = datetime.now(UTC).replace(microsecond=0)
    with serving([Reply(404)], {STATIC: [Reply(503, b"down for maintenance", content_type="text/plain")]}) as server:
        server.script(VEHICLES, [Reply(200, body, content_type=PROTOBUF)])
        settings = gtfs_rt_settings(tmp_path, server.url)
        stop = threading.Event()
        started: list[Feed | None] = []
        starter = threading.Thread(target=lambda: started.append(start_feed(settings, stop)))
        starter.start()
        try:
            down = wait_until(
                lambda: (h := health_of(settings)) and h["state"] == "degraded" and h, 10, "a degraded feed"
            )
            assert down["reason"] == "static-gtfs: the static GTFS could not be fetched: HTTP 503"
            assert datetime.fromisoformat(down["since"]) >= began  # since when: this run's first failure
            # Garbage in place of a zip is a start-up problem too (an agency's server mid-update).
            server.script(STATIC, [Reply(200, b"<html>not a zip</html>", content_type="text/html")])
            wait_until(
                lambda: (h := health_of(settings)) and "not a zip file" in h["reason"], 10, "the garbage reported"
            )
            assert starter.is_alive() and len(server.requests) >= 2  # retried, not given up
            server.script(STATIC, [Reply(200, static, content_type="application/zip")])
            starter.join(10)
        finally:
            stop.set()
            starter.join(10)
        assert not starter.is_alive()
        (feed,) = started
        assert feed is not None
        health = health_of(settings)
        assert health is not None and health["state"] == "starting" and health["problems"] == {}
        assert health["since"] >= down["since"]

        # Once started, its polls give the arrivals.
        arrivals: list[ArrivalEvent] = []
        polled = threading.Event()
        drive(feed, polled, arrivals.append, polled.set)
        feed.source.close()  # type: ignore[attr-defined]
    assert [(a.train_id, a.station_id) for a in arrivals] == [("RL801", station_id)]
    assert feed.adapter.health.state == "ok"


def test_a_stop_while_the_start_is_retried_ends_it_at_once(tmp_path: Path) -> None:
    with serving([Reply(500)]) as server:
        settings = gtfs_rt_settings(tmp_path, server.url, feed_start_backoff_s=60.0)
        stop = threading.Event()
        started: list[Feed | None] = []
        starter = threading.Thread(target=lambda: started.append(start_feed(settings, stop)))
        starter.start()
        wait_until(lambda: (h := health_of(settings)) and h["state"] == "degraded", 10, "a degraded feed")
        stop.set()  # in its minute of backoff
        starter.join(2)
    assert not starter.is_alive() and started == [None]


def test_serve_feed_stays_up_degraded_through_a_missing_static_gtfs_and_kafka_and_stops_on_sigterm(
    network: Network, tmp_path: Path
) -> None:
    static = build_static_gtfs(network, valid_from=date.today())
    with serving([Reply(404)], {STATIC: [Reply(500, b"oops", content_type="text/plain")]}) as server:
        settings = gtfs_rt_settings(tmp_path, server.url)
        feed = ServiceProcess("feed", settings, tmp_path / "feed.log", {"PYTHONPATH": str(SRC)}).start()
        try:
            feed.wait_for(
                lambda: (h := health_of(settings)) and h["reason"].startswith("static-gtfs: "), 20, "static degraded"
            )
            server.script(STATIC, [Reply(200, static, content_type="application/zip")])
            kafka = feed.wait_for(
                lambda: (h := health_of(settings)) and h["reason"].startswith("kafka-topics: ") and h, 30, "no Kafka"
            )
            assert kafka["state"] == "degraded" and settings.bootstrap_servers in kafka["reason"]
            feed.assert_alive()  # neither took it down
        finally:
            code = feed.stop(timeout_s=10)
    assert code == 0
    log = feed.log()
    assert "stopping (SIGTERM)" in log and "Traceback" not in log


def test_the_health_file_is_this_runs_from_its_start_not_one_an_earlier_run_left(
    network: Network, tmp_path: Path
) -> None:
    static = build_static_gtfs(network, valid_from=date.today())
    # The static GTFS takes its time to come: meanwhile the file an earlier run left must not stand.
    with serving([Reply(404)], {STATIC: [Reply(200, static, delay_s=2.0, content_type="application/zip")]}) as server:
        settings = gtfs_rt_settings(tmp_path, server.url, feed_timeout_s=5.0)
        settings.feed_health_file.parent.mkdir(parents=True, exist_ok=True)
        earlier = {"source": "cta-train-tracker", "state": "ok", "reason": "", "since": "2026-01-01T00:00:00+00:00"}
        settings.feed_health_file.write_text(json.dumps(earlier))
        began = datetime.now(UTC).replace(microsecond=0)
        stop = threading.Event()
        starter = threading.Thread(target=start_feed, args=(settings, stop))
        starter.start()
        try:
            health = wait_until(lambda: (h := health_of(settings)) and h != earlier and h, 5, "this run's health")
            assert starter.is_alive()  # written before the static GTFS came
        finally:
            stop.set()
            starter.join(10)
    assert (health["source"], health["state"], health["reason"]) == ("gtfs-rt", "starting", "no poll yet")
    assert datetime.fromisoformat(str(health["since"])) >= began


def test_a_static_gtfs_on_disk_that_is_none_is_one_line_at_start_not_a_retry(tmp_path: Path) -> None:
    garbage = tmp_path / "static.zip"
    garbage.write_text("not a zip")
    settings = load_settings(
        state_dir=tmp_path / "state",
        source="gtfs-rt",
        gtfs_static=str(garbage),
        gtfs_rt_vehicle_positions_url="http://127.0.0.1:9/vp.pb",
    )
    with pytest.raises(TransitError, match="the static GTFS is not a zip file"):
        start_feed(settings, threading.Event())


def test_a_damaged_static_gtfs_on_disk_is_one_line_naming_the_file_not_a_traceback(tmp_path: Path) -> None:
    from tests.networks.test_gtfs import FILES, damaged, without_column, zipped

    for data, message in [
        (damaged(FILES, "trips.txt"), "the static GTFS's trips.txt cannot be unpacked"),  # was a zlib.error
        (zipped(without_column("trips.txt", "trip_id")), "the static GTFS's trips.txt has no trip_id column"),
    ]:
        static = tmp_path / "static.zip"
        static.write_bytes(data)
        settings = load_settings(
            state_dir=tmp_path / "state",
            source="gtfs-rt",
            gtfs_static=str(static),
            gtfs_rt_vehicle_positions_url="http://127.0.0.1:9/vp.pb",
        )
        with pytest.raises(TransitError) as refused:
            start_feed(settings, threading.Event())
        assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRANSIT_SOURCE": "gtfs-rt", "TRANSIT_GTFS_STATIC": "http://127.0.0.1:9/static.zip"}, "needs gtfs_rt_"),
        ({"TRANSIT_SOURCE": "cta-train-tracker"}, "needs cta_train_tracker_key"),
    ],
)
def test_serve_feed_with_a_required_setting_missing_exits_at_once_with_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRANSIT_")}
    result = subprocess.run(
        [sys.executable, "-m", "transit_status", "serve", "feed"],
        env={**clean, "PYTHONPATH": str(SRC), "TRANSIT_STATE_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0  # at once: no retry loop for what only the user can fix
    output = (result.stdout + result.stderr).strip()
    assert len(output.splitlines()) == 1 and message in output and "Traceback" not in output


class FakeClockStop(threading.Event):
    """A stop event on a fake clock: ``wait(s)`` moves the clock on by ``s`` at once (or is stopped at
    call ``stop_at``), so what the wait does over minutes is checked without sleeping or timing luck."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.now = 1000.0
        self.waits: list[float] = []
        self.stop_at = stop_at

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        if self.stop_at is not None and len(self.waits) >= self.stop_at:
            self.set()
            return True
        self.now += timeout
        return False


def test_a_long_backoff_keeps_the_health_file_fresh_so_the_dashboard_never_takes_the_feed_for_hung(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = FakeClockStop()
    monkeypatch.setattr(runner.time, "monotonic", lambda: stop.now)
    health = FeedHealth("gtfs-rt")
    health.start_step(runner.STATIC_STEP, "the static GTFS could not be fetched: HTTP 503")
    health_file = tmp_path / "health.json"
    writes: list[float] = []
    original = FeedHealth.write

    def write(self: FeedHealth, path: Path) -> None:
        original(self, path)
        writes.append(stop.now)

    monkeypatch.setattr(FeedHealth, "write", write)
    runner._wait_writing_health(95.0, health, health_file, stop)
    # The whole backoff is waited, never more than HEALTH_REFRESH_S (30 s) without rewriting the file:
    # the dashboard calls a feed whose file is 144 s old hung.
    assert stop.waits == [30.0, 30.0, 30.0, 5.0] and stop.now == 1095.0
    assert writes == [1030.0, 1060.0, 1090.0, 1095.0]
    assert read_health(health_file)["state"] == "degraded"  # type: ignore[index]


def test_a_stop_during_the_backoff_ends_it_without_waiting_the_rest(tmp_path: Path) -> None:
    stop = FakeClockStop(stop_at=2)
    runner._wait_writing_health(300.0, FeedHealth("gtfs-rt"), tmp_path / "health.json", stop)
    assert len(stop.waits) == 2  # the second wait was cut short by the stop: no third
