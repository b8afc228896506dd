"""Simulation events through the real producer path: Avro + registry to Kafka, weather via the REST Proxy."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import consume
from transit_status.config import Settings
from transit_status.networks import load_network
from transit_status.platform.ports import free_ports, private_topics
from transit_status.producers.kafka import EventProducer
from transit_status.producers.runner import SimulationRunner
from transit_status.producers.weather import RestProxyWeatherStation, WeatherRejected, WeatherUnavailable
from transit_status.simulation import (
    ArrivalEvent,
    SimulationEngine,
    TurnstileEvent,
    WeatherReading,
    WeatherStatus,
)
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

START = datetime(2024, 4, 10, 8, 0)  # a Wednesday morning rush, Chicago time


def decode(settings: Settings, topic: str, messages: list) -> list[tuple[dict, dict]]:
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    return [
        (
            deserializer(m.key(), SerializationContext(topic, MessageField.KEY)),
            deserializer(m.value(), SerializationContext(topic, MessageField.VALUE)),
        )
        for m in messages
    ]


class Recorder:
    """Keeps what the simulation emitted, then passes it on to the real producer path."""

    def __init__(self, runner: SimulationRunner) -> None:
        self.events: list = []
        self._dispatch = runner.dispatch
        runner.dispatch = self.dispatch  # type: ignore[method-assign]

    def dispatch(self, events: list) -> None:
        self.events.extend(events)
        self._dispatch(events)


def test_simulated_minutes_arrive_in_kafka_as_avro_in_train_order(platform: Settings) -> None:
    settings = private_topics(platform, "sim")
    ensure_topics(settings)
    engine = SimulationEngine(load_network(settings), start=START, seed=11)
    with EventProducer(settings) as producer, RestProxyWeatherStation(settings) as weather:
        runner = SimulationRunner(engine, producer, weather)
        recorder = Recorder(runner)
        runner.run_for(timedelta(minutes=5))
    arrivals = [e for e in recorder.events if isinstance(e, ArrivalEvent)]
    turnstiles = [e for e in recorder.events if isinstance(e, TurnstileEvent)]
    readings = [e for e in recorder.events if isinstance(e, WeatherReading)]
    assert arrivals and turnstiles and readings
    assert producer.stats.delivered[settings.topic_arrivals] == len(arrivals)
    assert not producer.stats.failed

    decoded = decode(settings, settings.topic_arrivals, consume(settings, settings.topic_arrivals, len(arrivals)))
    assert len(decoded) == len(arrivals)
    # Keyed by train: every train's arrivals come back in the order the simulation made them.
    produced_by_train: dict[str, list[int]] = defaultdict(list)
    for event in arrivals:
        produced_by_train[event.train_id].append(event.station_id)
    consumed_by_train: dict[str, list[int]] = defaultdict(list)
    for key, value in decoded:
        assert key == {"train_id": value["train_id"]}
        consumed_by_train[value["train_id"]].append(value["station_id"])
    assert consumed_by_train == produced_by_train

    first = arrivals[0]
    value = next(v for _, v in decoded if v["train_id"] == first.train_id)
    assert value["line"] == first.line and value["direction"] == first.direction
    # timestamp-millis: the simulated instant to the millisecond.
    assert abs((value["simulated_at"] - first.at).total_seconds()) < 0.001

    consumed = consume(settings, settings.topic_turnstiles, len(turnstiles))
    turnstile_values = [value for _, value in decode(settings, settings.topic_turnstiles, consumed)]
    per_station: dict[int, int] = defaultdict(int)
    for event in turnstiles:
        per_station[event.station_id] += 1
    consumed_per_station: dict[int, int] = defaultdict(int)
    for value in turnstile_values:
        consumed_per_station[value["station_id"]] += 1
    assert consumed_per_station == per_station == dict(producer.stats.turnstiles_by_station)


def test_weather_goes_through_the_rest_proxy_and_decodes(platform: Settings) -> None:
    settings = private_topics(platform, "weather")
    ensure_topics(settings)
    readings = [
        WeatherReading(temperature_f=21.5, status=WeatherStatus.WINDY, at=datetime(2024, 1, 10, 9, tzinfo=UTC)),
        WeatherReading(temperature_f=74.0, status=WeatherStatus.SUNNY, at=datetime(2024, 7, 10, 15, tzinfo=UTC)),
    ]
    with RestProxyWeatherStation(settings) as station:
        for reading in readings:
            station.send(reading)
    decoded = decode(settings, settings.topic_weather, consume(settings, settings.topic_weather, 2))
    assert decoded == [
        ({"timestamp": 1704877200000}, {"temperature": 21.5, "status": "windy"}),
        ({"timestamp": 1720623600000}, {"temperature": 74.0, "status": "sunny"}),
    ]


def test_weather_to_a_missing_topic_is_rejected_not_retried(platform: Settings) -> None:
    settings = platform.with_overrides(topic_weather="no-such-weather-topic")
    reading = WeatherReading(temperature_f=50.0, status=WeatherStatus.CLOUDY, at=datetime(2024, 4, 1, tzinfo=UTC))
    began = time.monotonic()
    with RestProxyWeatherStation(settings, retries=3, backoff_s=10.0) as station, pytest.raises(WeatherRejected):
        station.send(reading)
    assert time.monotonic() - began < 10.0  # one attempt: a retry would have waited 10 s first


def test_weather_without_a_rest_proxy_gives_up_after_bounded_retries(platform: Settings) -> None:
    (closed_port,) = free_ports(1)
    settings = platform.with_overrides(rest_proxy_port=closed_port)
    reading = WeatherReading(temperature_f=50.0, status=WeatherStatus.CLOUDY, at=datetime(2024, 4, 1, tzinfo=UTC))
    with (
        RestProxyWeatherStation(settings, timeout_s=1.0, retries=2, backoff_s=0.01) as station,
        pytest.raises(WeatherUnavailable, match="after 3 attempts"),
    ):
        station.send(reading)
