"""Record and replay: `transit-status record` against a real local HTTP server, then the recording played
back through the same adapter gives the same arrivals; a gtfs-rt recording carries its static GTFS.

The bodies the server serves are CONSTRUCTED (recordings/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from transit_status.config import CTA_TRAIN_TRACKER_MIN_POLL_S, load_settings
from transit_status.feeds.gtfs_out import RealtimeFeeds, TrainState, build_static_gtfs, encode, trip_calls
from transit_status.feeds.recording import RecordingError, ReplaySource, read_recording
from transit_status.feeds.runner import drive, open_feed, record_feed
from transit_status.networks import Network
from transit_status.simulation.events import ArrivalEvent

from .feed_server import Reply, serving

CONSTRUCTED = Path(__file__).parent / "recordings" / "cta-train-tracker-constructed"
BODIES = [path.read_bytes() for path in sorted(CONSTRUCTED.glob("*-positions.json"))]
KEY = "r3cord-key-abcdef0123"
SRC = Path(__file__).resolve().parents[2] / "src"
RECORD_CTA = ["--source", "cta-train-tracker", "--out"]  # no key set


def replay_arrivals(settings_dir: Path, recording: Path, **extra: object) -> list[ArrivalEvent]:
    settings = load_settings(state_dir=settings_dir, source=f"replay:{recording}", replay_speed=1000.0, **extra)
    feed = open_feed(settings)
    arrivals: list[ArrivalEvent] = []
    drive(feed, threading.Event(), arrivals.append, lambda: None)
    return arrivals


def test_a_recording_replays_through_the_same_adapter_with_the_same_arrivals(tmp_path: Path) -> None:
    out = tmp_path / "recording"
    settings = load_settings(
        state_dir=tmp_path / "state",
        source="cta-train-tracker",
        cta_train_tracker_key=KEY,
        cta_train_tracker_poll_s=CTA_TRAIN_TRACKER_MIN_POLL_S,
    )
    with serving([Reply(200, body) for body in BODIES]) as server:
        settings = settings.with_overrides(cta_train_tracker_url=server.url + "/ttpositions.aspx")
        recorded = record_feed(settings, out, threading.Event(), polls=3, report=lambda line: None)
    assert recorded == 3
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [(e["poll"], e["feed"], e["status"]) for e in index] == [
        (1, "positions", 200),
        (2, "positions", 200),
        (3, "positions", 200),
    ]
    assert [(out / e["file"]).read_bytes() for e in index] == BODIES  # raw, as received
    assert all(KEY not in path.read_text(errors="replace") for path in out.iterdir())  # the key is never written
    # What the same adapter derives from the committed recording of these bodies, read directly.
    direct = replay_arrivals(tmp_path / "state", CONSTRUCTED)
    replayed = replay_arrivals(tmp_path / "state", out)
    assert [(a.train_id, a.station_id, a.at) for a in replayed] == [(a.train_id, a.station_id, a.at) for a in direct]
    assert len(replayed) == 4


def test_replay_keeps_the_recorded_spacing_divided_by_the_speed(tmp_path: Path) -> None:
    recording = read_recording(CONSTRUCTED)  # polls 60 s apart
    seen: list[float] = []
    import time

    began = time.monotonic()
    for _ in ReplaySource(recording, speed=300.0).polls(threading.Event()):
        seen.append(time.monotonic() - began)
    assert seen[1] >= 60 / 300 and seen[2] >= 120 / 300
    assert seen[2] < 120 / 300 + 1.0


def test_a_failed_response_is_recorded_and_replays_as_the_same_degraded_feed(tmp_path: Path) -> None:
    out = tmp_path / "recording"
    with serving([Reply(500, b"oops"), Reply(200, BODIES[0])]) as server:
        settings = load_settings(
            state_dir=tmp_path / "state",
            source="cta-train-tracker",
            cta_train_tracker_key=KEY,
            cta_train_tracker_url=server.url + "/ttpositions.aspx",
            cta_train_tracker_poll_s=CTA_TRAIN_TRACKER_MIN_POLL_S,
            feed_retry_attempts=1,
        )
        lines: list[str] = []
        record_feed(settings, out, threading.Event(), polls=2, report=lines.append)
    assert lines == ["poll 1: degraded: positions: HTTP 500", "poll 2: ok"]
    feed = open_feed(load_settings(state_dir=tmp_path / "state", source=f"replay:{out}", replay_speed=1000.0))
    states: list[str] = []
    drive(feed, threading.Event(), lambda arrival: None, lambda: states.append(feed.adapter.health.state))
    assert states == ["degraded", "ok"]


def test_a_gtfs_rt_recording_carries_its_static_feed(network: Network, tmp_path: Path) -> None:
    static = tmp_path / "static.zip"
    static.write_bytes(build_static_gtfs(network, valid_from=date(2026, 12, 1)))
    feeds = RealtimeFeeds(network)
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    calls = trip_calls(network.route("red"), "a")
    bodies = [
        encode(
            feeds.vehicle_positions(
                [TrainState("RL801", "red", "a", calls[i].stop_id, "STOPPED_AT", start, start + timedelta(minutes=i))],
                start + timedelta(minutes=i),
            )
        )
        for i in (1, 2)
    ]
    out = tmp_path / "recording"
    with serving([Reply(200, body, content_type="application/x-protobuf") for body in bodies]) as server:
        settings = load_settings(
            state_dir=tmp_path / "state",
            source="gtfs-rt",
            gtfs_static=str(static),
            gtfs_rt_vehicle_positions_url=server.url + "/vp.pb?api_key=" + KEY,
            gtfs_rt_poll_s=1.0,
        )
        record_feed(settings, out, threading.Event(), polls=2, report=lambda line: None)
    meta = json.loads((out / "recording.json").read_text())
    assert meta["static"] == "static-gtfs.zip" and meta["feeds"]["vehicle-positions"].endswith("/vp.pb")
    static.unlink()  # the replay needs only the recording
    arrivals = replay_arrivals(tmp_path / "state", out)
    assert [(a.train_id, a.station_id) for a in arrivals] == [
        ("RL801", calls[1].station_id),
        ("RL801", calls[2].station_id),
    ]


def test_record_without_a_key_is_one_clear_line_and_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "transit_status", "--state-dir", str(tmp_path), "record", *RECORD_CTA, str(tmp_path)],
        capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cta_train_tracker_key" in done.stderr and "Traceback" not in done.stderr


def test_the_key_never_shows_in_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from transit_status.cli import app

    monkeypatch.setenv("TRANSIT_CTA_TRAIN_TRACKER_KEY", KEY)
    for command in (["record", "--help"], ["--help"]):
        result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), *command])
        assert result.exit_code == 0 and "--source" in result.output and KEY not in result.output


def test_a_replay_reads_each_body_when_its_poll_is_played_not_every_body_at_start(tmp_path: Path) -> None:
    # A day's recording is tens of thousands of bodies: only the poll being played is in memory.
    copy = tmp_path / "recording"
    copy.mkdir()
    for path in CONSTRUCTED.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    recording = read_recording(copy)
    later = b'{"ctatt": {"tmst": "2026-12-01T09:00:00", "errCd": "0", "route": []}}'
    (copy / "000003-positions.json").write_bytes(later)  # after the start, before its poll is played
    bodies = [poll.responses["positions"].body for poll in ReplaySource(recording, speed=0).polls(threading.Event())]
    assert bodies == [BODIES[0], BODIES[1], later]


def test_a_recording_whose_body_file_is_missing_is_refused_at_start(tmp_path: Path) -> None:
    copy = tmp_path / "recording"
    copy.mkdir()
    for path in CONSTRUCTED.iterdir():
        if path.name != "000002-positions.json":
            (copy / path.name).write_bytes(path.read_bytes())
    with pytest.raises(RecordingError, match="line 2: FileNotFoundError"):
        read_recording(copy)
