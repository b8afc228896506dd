"""The dashboard as a real process against the real platform (Kafka, Schema Registry): what a user sees."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.dashboard.support import Feed, Topics, now_ms, run_dashboard, wait_for
from tests.helpers import consume, read_all
from transit_status.config import Settings

pytestmark = pytest.mark.platform

HOWARD, JARVIS, MORSE = 40900, 41190, 40100
RED_STATIONS = [
    {"station_id": HOWARD, "station_name": "Howard", "line": "red", "order": 0, "stops": {"a": 30173, "b": 30174}},
    {"station_id": JARVIS, "station_name": "Jarvis", "line": "red", "order": 1, "stops": {"a": 30227, "b": 30228}},
    {"station_id": MORSE, "station_name": "Morse", "line": "red", "order": 2, "stops": {"a": 30020, "b": 30021}},
]


def topic_states(dashboard) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {role: topic["state"] for role, topic in dashboard.get("/healthz").json()["topics"].items()}


def test_starts_without_topics_reports_waiting_then_reads_them_once_they_exist(
    platform: Settings, tmp_path: Path
) -> None:
    topics = Topics.unique(platform)
    with run_dashboard(platform, topics, tmp_path) as dashboard:
        # 503 while the consumer makes its first metadata call; then 200 while it waits for topics.
        health = wait_for(
            lambda: (answer := dashboard.get("/healthz")).status_code == 200 and answer, 30, "a 200 health", dashboard
        )
        body = health.json()
        assert health.status_code == 200, body
        assert body["kafka"]["connected"] is True
        inputs = ("stations", "arrivals", "turnstile_summary", "weather")
        outputs = ("run_times", "headways", "service_alerts")  # the jobs' outputs, read by consumers of their own
        assert set(body["topics"]) == {*inputs, *outputs}
        assert {role: (body["topics"][role]["state"], body["topics"][role]["waiting"]) for role in inputs} == {
            role: ("missing", True) for role in inputs
        }
        assert {body["topics"][role]["state"] for role in outputs} <= {"unknown", "missing"}
        assert "waiting for data" in body["topics"]["arrivals"]["text"]
        assert dashboard.get("/api/weather").json() == {
            "available": False,
            "detail": f"waiting for data on {topics.weather}",
        }

        topics.create()  # empty topics: loaded at once, still waiting for data
        wait_for(lambda: set(topic_states(dashboard).values()) == {"live"}, 20, "all topics live", dashboard)
        assert dashboard.get("/healthz").json()["topics"]["stations"]["waiting"] is True

        feed = Feed(platform, topics)
        for record in RED_STATIONS:
            feed.station(record)
        feed.arrival("RL001", JARVIS, "Jarvis", direction="b")
        feed.flush()
        wait_for(lambda: dashboard.get("/api/trains").json(), 15, "the train", dashboard)
        assert dashboard.process.poll() is None


def test_the_api_shows_what_the_topics_hold(platform: Settings, tmp_path: Path) -> None:
    topics = Topics.unique(platform)
    topics.create()
    feed = Feed(platform, topics)
    for record in RED_STATIONS:
        feed.station(record)
    feed.station({**RED_STATIONS[0], "line": "purple", "order": 8})
    feed.arrival("RL001", HOWARD, "Howard", direction="a")
    feed.arrival("RL002", MORSE, "Morse", direction="b", status="broken_down")
    feed.arrival("PL001", HOWARD, "Howard", line="purple", direction="b", route="Purple Local")
    feed.summary(HOWARD, "Howard", 41)
    feed.summary(JARVIS, "Jarvis", 7)
    feed.summary(HOWARD, "Howard", 42)
    feed.weather(68.5, "partly_cloudy")
    feed.flush()

    with run_dashboard(platform, topics, tmp_path) as dashboard:
        wait_for(lambda: dashboard.get("/healthz").status_code == 200, 20, "healthy", dashboard)

        trains = {train["train_id"]: train for train in dashboard.get("/api/trains").json()}
        assert set(trains) == {"RL001", "RL002", "PL001"}
        assert {k: trains["RL002"][k] for k in ("line", "route", "station_id", "station_name", "direction")} == {
            "line": "red",
            "route": "Red",
            "station_id": MORSE,
            "station_name": "Morse",
            "direction": "b",
        }
        assert trains["RL002"]["train_status"] == "broken_down"
        assert trains["RL002"]["simulated_at"] > 0 and trains["RL002"]["x"] is not None

        table = dashboard.get("/api/table").json()
        assert [
            (row["line"], row["station_name"], row["trains_a"], row["trains_b"], row["turnstile_entries"])
            for row in table
        ] == [
            ("red", "Howard", ["RL001"], [], 42),
            ("red", "Jarvis", [], [], 7),
            ("red", "Morse", [], ["RL002"], None),
            ("purple", "Howard", [], ["PL001"], 42),
        ]
        assert dashboard.get("/api/turnstiles").json() == {str(HOWARD): 42, str(JARVIS): 7}
        weather = dashboard.get("/api/weather").json()
        assert (weather["available"], weather["temperature"], weather["status"]) == (True, 68.5, "partly_cloudy")
        stations = dashboard.get("/api/stations").json()["lines"]
        assert [s["station_name"] for s in stations[0]["stations"]] == ["Howard", "Jarvis", "Morse"]

        state = dashboard.get("/api/state").json()
        assert state["freshness"]["arrivals"]["records"] == 3 and state["freshness"]["weather"]["waiting"] is False
        assert dashboard.get("/api/map").json()["shapes"]
        metrics = dashboard.get("/metrics").text
        assert 'transit_dashboard_records_total{input="arrivals"} 3.0' in metrics

        # The WebSocket: a snapshot, then each new arrival in an update frame, with produced_at for latency.
        with connect(dashboard.url.replace("http", "ws") + "/ws", open_timeout=10) as socket:
            snapshot = json.loads(socket.recv(timeout=10))
            assert snapshot["type"] == "snapshot" and len(snapshot["trains"]) == 3
            latencies = []
            for n, (station_id, name) in enumerate([(JARVIS, "Jarvis"), (MORSE, "Morse")] * 5):
                sent = feed.arrival("RL001", station_id, name, direction="a")
                feed.flush()
                message = None
                while message is None:
                    frame = json.loads(socket.recv(timeout=10))
                    trains = [u for u in frame.get("updates", []) if u["type"] == "train"]
                    message = next((u for u in trains if u["train"]["produced_at"] == sent["produced_at"]), None)
                latencies.append(now_ms() - message["train"]["produced_at"])
                assert message["seq"] > snapshot["seq"] and message["train"]["station_id"] == station_id, n
                time.sleep(0.05)
            print(f"produce -> browser socket latency (ms): {sorted(latencies)}")
            assert max(latencies) < 2000  # the goal is p99 <= 250 ms; this shared test machine is noisy


def test_a_restarted_dashboard_shows_the_same_state_within_seconds(platform: Settings, tmp_path: Path) -> None:
    topics = Topics.unique(platform)
    topics.create()
    feed = Feed(platform, topics)
    for record in RED_STATIONS:
        feed.station(record)
    for n, (station_id, name) in enumerate([(HOWARD, "Howard"), (JARVIS, "Jarvis"), (MORSE, "Morse")]):
        feed.arrival(f"RL00{n}", station_id, name, direction="ab"[n % 2])
    feed.arrival("RL000", MORSE, "Morse", direction="a")  # the latest position wins
    feed.summary(MORSE, "Morse", 99)
    feed.weather(30.0, "windy")
    feed.weather(31.5, "precipitation")
    feed.flush()

    def visible(dashboard) -> dict[str, object]:  # type: ignore[no-untyped-def]
        state = dashboard.get("/api/state").json()
        return {key: state[key] for key in ("table", "trains", "turnstiles", "weather", "stations")}

    with run_dashboard(platform, topics, tmp_path) as first:
        wait_for(lambda: first.get("/healthz").status_code == 200, 20, "healthy", first)
        before = visible(first)
    assert first.process.returncode == 0, first.log()  # SIGTERM: clean exit
    assert before["weather"]["status"] == "precipitation"
    assert [t["station_id"] for t in before["trains"] if t["train_id"] == "RL000"] == [MORSE]

    started = time.monotonic()
    with run_dashboard(platform, topics, tmp_path) as second:
        wait_for(lambda: second.get("/healthz").status_code == 200, 20, "healthy again", second)
        assert visible(second) == before
    assert time.monotonic() - started < 15


def test_a_malformed_record_is_dead_lettered_and_later_good_records_still_show(
    platform: Settings, tmp_path: Path
) -> None:
    topics = Topics.unique(platform)
    topics.create(partitions=1)
    feed = Feed(platform, topics)
    feed.station(RED_STATIONS[0])
    feed.raw(topics.arrivals, b"train-key", b"not avro at all")
    feed.raw(topics.stations, b'{"line": "red", "station_id": 1}', b"{broken json")
    feed.raw(
        topics.summary,
        b'{"station_id": 40900}',
        json.dumps({"station_id": 40900, "station_name": "Howard", "count": -5}).encode(),
    )
    feed.flush()

    with run_dashboard(platform, topics, tmp_path) as dashboard:
        wait_for(lambda: dashboard.get("/healthz").status_code == 200, 20, "healthy", dashboard)
        feed.arrival("RL001", HOWARD, "Howard")
        feed.summary(HOWARD, "Howard", 5)
        feed.flush()
        wait_for(lambda: dashboard.get("/api/trains").json(), 15, "the good arrival", dashboard)
        assert dashboard.get("/api/turnstiles").json() == {str(HOWARD): 5}
        assert dashboard.get("/healthz").json()["dead_letters"]["by_input"] == {
            "arrivals": 1,
            "stations": 1,
            "turnstile_summary": 1,
        }
        log = dashboard.log()
        assert f"bad record on {topics.arrivals}[0]@0" in log

    letters = consume(platform, topics.dead_letters, expected=3, timeout_s=20)
    by_topic = {dict(m.headers())["dlq.topic"].decode(): m for m in letters}
    assert set(by_topic) == {topics.arrivals, topics.stations, topics.summary}
    arrival = by_topic[topics.arrivals]
    assert (arrival.key(), arrival.value()) == (b"train-key", b"not avro at all")  # unchanged, replayable
    headers = {name: value.decode() for name, value in arrival.headers()}
    assert headers["dlq.partition"] == "0" and headers["dlq.offset"] == "0"
    assert headers["dlq.consumer"] == "dashboard"
    assert "wire format" in headers["dlq.error"]
    assert (
        "count: Input should be greater than or equal to 0"
        in dict(by_topic[topics.summary].headers())["dlq.error"].decode()
    )

    # A restart reads the same bad records again, but does not dead-letter them twice.
    with run_dashboard(platform, topics, tmp_path) as again:
        wait_for(lambda: again.get("/healthz").status_code == 200, 20, "healthy", again)
        wait_for(lambda: sum(again.get("/healthz").json()["dead_letters"]["by_input"].values()) == 3, 10, "3 seen")
    assert len(read_all(platform, topics.dead_letters)) == 3
