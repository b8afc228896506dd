"""The jobs' outputs as the dashboard's consumers take them, record by record (pure: no Kafka; the
consumers are built by the app but not started, and each record goes through the consumer's own
receive path): a record of a platform the network does not have, or of a station London does not
have, is a dead letter, never an alert or a headway on the page; and /metrics counts each output's
records and dead letters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message
from fastapi.testclient import TestClient

from tests.dashboard.support import crowding_alert
from transit_status.avro.wire import BadRecord
from transit_status.config import Settings
from transit_status.dashboard.app import create_app
from transit_status.dashboard.consumer import TopicConsumer
from transit_status.dashboard.cta.service_health import NetworkPlatforms, alert_of, headway_of
from transit_status.dashboard.dead_letters import DeadLetterPublisher
from transit_status.networks import Network
from transit_status.platform.ports import isolated_settings
from transit_status.wallclock import now_ms

HOWARD, JARVIS = 40900, 41190  # Red Line stations


class KeptDeadLetters(DeadLetterPublisher):
    """The dead-letter publisher without its topic: what would be sent is kept (Kafka is not here)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sent: list[tuple[str, str]] = []

    def publish(self, record: Message, error: str) -> bool:
        self.sent.append((record.topic() or "", error))
        return True


def alert(line: str = "red", station_id: int = HOWARD, direction: str = "a", state: str = "open") -> bytes:
    return json.dumps(
        {
            "alert_id": f"gap:{line}:{station_id}:{direction}",
            "kind": "gap",
            "state": state,
            "line": line,
            "station_id": station_id,
            "station_name": "somewhere",
            "direction": direction,
            "since_ms": 1_000,
            "at_ms": 5_000,
            "measured_s": 800.0,
            "scheduled_s": 360.0,
            "threshold_s": 720.0,
            "reason": "no train for 13.3 min",
        }
    ).encode()


def headway(line: str = "red", station_id: int = HOWARD, direction: str = "a", measured: float = 300.0) -> bytes:
    return json.dumps(
        {
            "line": line,
            "station_id": station_id,
            "direction": direction,
            "arrived_ms": 2_000,
            "headway_s": measured,
            "scheduled_headway_s": 360.0,
        }
    ).encode()


def deliver(consumer: TopicConsumer | None, topic: str, value: bytes, key: bytes | None = None) -> None:
    """One record through the consumer's receive path, then to its sink as its loop would hand it over."""
    assert consumer is not None
    deliver.offset += 1  # type: ignore[attr-defined]
    message = Message(
        topic=topic,
        partition=0,
        offset=deliver.offset,  # type: ignore[attr-defined]
        key=key,
        value=value,
        timestamp=(TIMESTAMP_CREATE_TIME, now_ms()),
    )
    received = consumer._receive(message)
    if received is not None:
        consumer.sink([received])


deliver.offset = 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "station_id", "direction", "why"),
    [
        ("teal", HOWARD, "a", "line 'teal', which the network does not have"),
        ("red", 99_999, "a", "station 99999, which the red line does not stop at"),
        ("blue", HOWARD, "a", "station 40900, which the blue line does not stop at"),
        ("red", HOWARD, "north", "direction 'north'"),
    ],
)
def test_a_record_of_a_platform_the_network_does_not_have_is_a_bad_record(
    network: Network, line: str, station_id: int, direction: str, why: str
) -> None:
    platforms = NetworkPlatforms.of(network)
    with pytest.raises(BadRecord, match=re.escape(why)):
        alert_of(alert(line, station_id, direction), platforms)
    with pytest.raises(BadRecord, match=re.escape(why)):
        headway_of(headway(line, station_id, direction), platforms)
    assert alert_of(alert("red", JARVIS, "b"), platforms).station_id == JARVIS
    assert headway_of(headway("red", JARVIS, "b"), platforms).line == "red"


def app_with_idle_consumers(tmp_path: Path) -> tuple[TestClient, Settings]:
    """The app with its consumers built but not started (no lifespan: nothing reads Kafka)."""
    settings = isolated_settings(tmp_path)
    return TestClient(create_app(settings, start_consumer=True)), settings


def test_a_stale_alert_or_headway_is_dead_lettered_and_never_reaches_the_strip_or_the_open_alerts(
    tmp_path: Path,
) -> None:
    client, settings = app_with_idle_consumers(tmp_path)
    chicago = client.app.state.chicago  # type: ignore[attr-defined]
    consumer = chicago.service_consumer
    consumer.dead_letters = kept = KeptDeadLetters(settings)
    # A station the network had before its data changed, still on the compacted alerts topic; a line it never had.
    deliver(consumer, settings.topic_cta_service_alerts, alert("red", 99_999))
    deliver(consumer, settings.topic_cta_headways, headway("teal", HOWARD, measured=60.0))
    deliver(consumer, settings.topic_cta_service_alerts, alert("red", JARVIS))
    deliver(consumer, settings.topic_cta_headways, headway("red", JARVIS, measured=420.0))

    body = client.get("/api/alerts").json()
    assert [a["where"]["station_id"] for a in body["open"]] == [JARVIS]
    assert [a["where"]["station_id"] for a in body["recent"]] == [JARVIS]
    assert "teal" not in [line["line"] for line in body["lines"]]
    red = next(line for line in body["lines"] if line["line"] == "red")
    assert (red["headway_s"], red["platforms"]) == (420.0, 1)
    assert [topic for topic, _ in kept.sent] == [settings.topic_cta_service_alerts, settings.topic_cta_headways]
    assert "does not stop at" in kept.sent[0][1] and "does not have" in kept.sent[1][1]


RECORDS, DEAD_LETTERS = "transit_dashboard_records_total", "transit_dashboard_dead_letters_total"


def metric(text: str, name: str, role: str) -> float:
    found = re.search(rf'^{name}{{input="{role}"}} (\S+)$', text, re.MULTILINE)
    assert found, f"no {name} for {role} on /metrics"
    return float(found.group(1))


def run_time(key: dict[str, Any], seconds: float) -> tuple[bytes, bytes]:
    value = {**key, "run_seconds": seconds, "samples": 3, "learned_at": 1_000}
    return json.dumps(key).encode(), json.dumps(value).encode()


def test_metrics_count_each_job_outputs_records_and_dead_letters(tmp_path: Path) -> None:
    client, settings = app_with_idle_consumers(tmp_path)
    chicago = client.app.state.chicago  # type: ignore[attr-defined]
    london = client.app.state.london  # type: ignore[attr-defined]
    for consumer in (chicago.run_times, chicago.service_consumer, london.alerts_consumer):
        consumer.dead_letters = KeptDeadLetters(settings)

    leg = {"line": "red", "direction": "a", "from_station_id": HOWARD, "to_station_id": JARVIS}
    key, value = run_time(leg, 90.0)
    deliver(chicago.run_times, settings.topic_run_times, value, key)
    deliver(chicago.run_times, settings.topic_run_times, *reversed(run_time(leg, -1.0)))  # no run takes < 0 s
    deliver(chicago.service_consumer, settings.topic_cta_service_alerts, alert("red", JARVIS))
    deliver(chicago.service_consumer, settings.topic_cta_service_alerts, alert("red", 99_999))
    deliver(chicago.service_consumer, settings.topic_cta_service_alerts, b"not json")
    for measured in (300.0, 320.0, 340.0):
        deliver(chicago.service_consumer, settings.topic_cta_headways, headway("red", JARVIS, measured=measured))
    deliver(london.alerts_consumer, settings.topic_london_crowding_alerts, json.dumps(crowding_alert()).encode())
    deliver(london.alerts_consumer, settings.topic_london_crowding_alerts, json.dumps({"state": "open"}).encode())

    text = client.get("/metrics").text
    counted = {
        role: (metric(text, RECORDS, role), metric(text, DEAD_LETTERS, role))
        for role in ("run_times", "service_alerts", "headways", "crowding_alerts", "arrivals")
    }
    assert counted == {
        "run_times": (1, 1),
        "service_alerts": (1, 2),
        "headways": (3, 0),
        "crowding_alerts": (1, 1),
        "arrivals": (0, 0),  # the main consumer's, as before: nothing read here
    }
    # Each family once, with London's inputs in it: a valid exposition.
    assert text.count("# TYPE transit_dashboard_records_total counter") == 1
    assert metric(text, RECORDS, "station_activity") == 0


def dwell(line: str = "red", station_id: int = JARVIS, seconds: float = 25.0) -> bytes:
    return json.dumps(
        {"line": line, "station_id": station_id, "station_name": "somewhere", "direction": "a", "train_id": "RL001",
         "arrived_ms": 1_000, "departed_ms": 26_000, "dwell_s": seconds}
    ).encode()  # fmt: skip


def test_a_dwell_of_a_platform_the_network_does_not_have_is_dead_lettered_and_never_served(tmp_path: Path) -> None:
    client, settings = app_with_idle_consumers(tmp_path)
    consumer = client.app.state.chicago.service_consumer  # type: ignore[attr-defined]
    consumer.dead_letters = kept = KeptDeadLetters(settings)
    deliver(consumer, settings.topic_cta_dwells, dwell("red", 99_999))
    deliver(consumer, settings.topic_cta_dwells, dwell("red", JARVIS, seconds=-5.0))  # no stop takes < 0 s
    deliver(consumer, settings.topic_cta_dwells, dwell("red", JARVIS))

    served = client.get("/api/dwells").json()["platforms"]
    assert [(p["station_id"], p["dwell_s"]) for p in served] == [(JARVIS, 25.0)]
    assert [topic for topic, _ in kept.sent] == [settings.topic_cta_dwells] * 2
    assert "does not stop at" in kept.sent[0][1] and "not a dwell" in kept.sent[1][1]
    text = client.get("/metrics").text
    assert (metric(text, RECORDS, "dwells"), metric(text, DEAD_LETTERS, "dwells")) == (1, 2)


def test_a_crowding_alert_of_a_station_london_does_not_have_is_dead_lettered_and_never_served(tmp_path: Path) -> None:
    client, settings = app_with_idle_consumers(tmp_path)
    consumer = client.app.state.london.alerts_consumer  # type: ignore[attr-defined]
    consumer.dead_letters = kept = KeptDeadLetters(settings)
    gone = crowding_alert(alert_id="crowding:Bank", station="Bank")  # London's is "Bank and Monument"
    deliver(consumer, settings.topic_london_crowding_alerts, json.dumps(gone).encode())
    deliver(consumer, settings.topic_london_crowding_alerts, json.dumps(crowding_alert()).encode())

    assert [a["station"] for a in client.get("/api/london/alerts").json()["open"]] == ["Oxford Circus"]
    assert kept.sent == [
        (settings.topic_london_crowding_alerts, "a crowding alert of station 'Bank', which London does not have")
    ]
    text = client.get("/metrics").text
    assert (metric(text, RECORDS, "crowding_alerts"), metric(text, DEAD_LETTERS, "crowding_alerts")) == (1, 1)
