"""Records in the shape Flink SQL writes to ``station_entries``/``station_exits`` (docs/ARCHITECTURE.md,
"London"), produced straight to Kafka: the sinks are tested against the contract, not against the join."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from transit_status.config import Settings
from transit_status.topics import ensure_topics, london_derived_topics

START = datetime(2023, 6, 7, 7, 0, tzinfo=UTC)
# Name -> "lat,lon"; None is a station the stations table does not know (flows on with "known": false).
STATIONS: dict[str, str | None] = {
    "Oxford Circus": "51.515224,-0.141903",
    "Bank": "51.513347,-0.088933",
    "Stratford": "51.541806,-0.003458",
    "Brixton": "51.462618,-0.114888",
    "Nowhere Junction": None,
}


def flink_timestamp(moment: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSX`` in UTC, as the join formats it (``X`` writes ``Z`` for UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def station_event(moment: datetime, user: str, delta: int, station: str) -> dict[str, object]:
    location = STATIONS[station]
    return {
        "@timestamp": flink_timestamp(moment),
        "user": user,
        "delta": delta,
        "station": station,
        "location": location,
        "known": location is not None,
    }


@dataclass
class Produced:
    """What was produced, per topic: the count and the totals per minute (what a date_histogram shows)."""

    count: Counter[str] = field(default_factory=Counter)
    per_minute: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, topic: str, event: dict[str, object]) -> None:
        self.count[topic] += 1
        minute = str(event["@timestamp"])[:16] + ":00.000Z"
        self.per_minute.setdefault(topic, Counter())[minute] += 1


def produce_station_events(
    settings: Settings, entries: int, exits: int, start: datetime = START, first_user: int = 0
) -> Produced:
    """``entries`` events on the entries topic and ``exits`` on the exits topic, one every 37 ms of event
    time across the stations, keyed by station name as Flink keys them; flushed before returning."""
    ensure_topics(settings, london_derived_topics(settings))
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True, "linger.ms": 5})
    produced = Produced()
    names = list(STATIONS)
    plan = [(settings.topic_london_station_entries, 1, entries), (settings.topic_london_station_exits, -1, exits)]
    for topic, delta, count in plan:
        for number in range(count):
            station = names[number % len(names)]
            event = station_event(
                start + timedelta(milliseconds=37 * number), f"card-{first_user + number}", delta, station
            )
            producer.produce(topic, key=station.encode(), value=json.dumps(event).encode())
            produced.add(topic, event)
            producer.poll(0)
    assert producer.flush(30) == 0, "not every record was delivered"
    return produced
