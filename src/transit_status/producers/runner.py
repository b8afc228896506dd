"""Drives the simulation and hands its events to Kafka: arrivals and turnstiles through the shared
Avro producer, weather through the REST Proxy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaException

from transit_status.config import SIMULATION_BREAKDOWN, Settings
from transit_status.errors import TransitError
from transit_status.networks import Network, load_network
from transit_status.producers.kafka import EventProducer
from transit_status.producers.resume import SAVE_EVERY_S, ClockMark, resume_start
from transit_status.producers.weather import RestProxyWeatherStation, WeatherRejected, WeatherUnavailable
from transit_status.simulation import (
    ArrivalEvent,
    BreakdownPolicy,
    Event,
    ForcedBreakdown,
    SimulationClock,
    SimulationConfig,
    SimulationEngine,
    TrainTiming,
    TurnstileEvent,
    WeatherReading,
    run_realtime,
)
from transit_status.topics import ensure_topics

log = logging.getLogger(__name__)


class SimulationRunner:
    def __init__(self, engine: SimulationEngine, producer: EventProducer, weather: RestProxyWeatherStation) -> None:
        self.engine = engine
        self.producer = producer
        self.weather = weather
        self.last_weather: WeatherReading | None = None
        self.weather_failures = 0
        self.should_stop: Callable[[], bool] = lambda: False

    def dispatch(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, ArrivalEvent):
                self.producer.send_arrival(event)
            elif isinstance(event, TurnstileEvent):
                self.producer.send_turnstile(event)
            elif isinstance(event, WeatherReading):
                self._send_weather(event)
        self.producer.poll()

    def _send_weather(self, reading: WeatherReading) -> None:
        topic = self.producer.settings.topic_weather
        # Counted with the Kafka records: the REST Proxy's 200 is the broker's acknowledgement.
        self.producer.stats.handed_over(topic)
        try:
            self.weather.send(reading, should_stop=self.should_stop)
            self.last_weather = reading
            self.producer.stats.record(topic, None)
        except (WeatherRejected, WeatherUnavailable) as problem:
            # The station keeps reporting; one lost hourly reading must not stop the trains.
            self.weather_failures += 1
            self.producer.stats.not_delivered(topic)
            log.error("weather reading at %s not delivered: %s", reading.at.isoformat(), problem)

    def run_for(self, simulated: timedelta, step: timedelta = timedelta(minutes=1)) -> None:
        """Run ``simulated`` time as fast as possible (tests, benchmarks), then flush."""
        end = self.engine.now + simulated
        while self.engine.now < end:
            self.dispatch(self.engine.advance(min(end, self.engine.now + step)))
        self.producer.flush()

    def run_realtime(
        self, speed: float, should_stop: Callable[[], bool], interval_s: float = 0.1, mark: ClockMark | None = None
    ) -> None:
        """Keep simulated time in step with the wall clock at ``speed`` until ``should_stop()``; ``mark``
        kept past every batch before it is sent, and set to where the run stopped at the end."""
        self.should_stop = should_stop
        clock = SimulationClock(self.engine.now, speed=speed)
        for batch in run_realtime(self.engine, clock, interval_s=interval_s, should_stop=should_stop):
            if mark is not None:
                mark.passed(self.engine.now)
            self.dispatch(batch)
        self.producer.flush()
        if mark is not None:
            mark.stopped(self.engine.now)


def simulation_config(settings: Settings, network: Network) -> SimulationConfig:
    """The simulation's tuning from the settings: run-time variation and a known breakdown (demos)."""
    timing = TrainTiming(
        run_variation=settings.simulation_run_variation, dwell_variation_s=settings.simulation_dwell_variation_s
    )
    forced: tuple[ForcedBreakdown, ...] = ()
    if match := SIMULATION_BREAKDOWN.fullmatch(settings.simulation_breakdown):
        routes = [route.route_id for route in network.routes]
        if match["route"] not in routes:
            raise TransitError(f"simulation_breakdown: no route {match['route']!r}; the routes are {', '.join(routes)}")
        after, hold = float(match["after"]) * 60, float(match["hold"]) * 60
        if hold <= 0:
            raise TransitError("simulation_breakdown: the hold must be longer than 0 minutes")
        forced = (ForcedBreakdown(hold_s=hold, after_s=after, route=match["route"]),)
    return SimulationConfig(timing=timing, breakdowns=BreakdownPolicy(forced=forced))


def run_simulation(settings: Settings, stop: threading.Event) -> None:
    """``transit-status serve simulate``: the simulation in real time until ``stop`` is set.

    On stop the producer is flushed, so every record the broker acknowledged is in Kafka and
    nothing buffered is lost. Its counts (generated, acknowledged per topic and turnstiles per station,
    failed; weather through the REST Proxy included) are in a JSON file under
    ``settings.delivery_counts_dir("simulation")``, rewritten every second and at the end.
    """
    try:
        ensure_topics(settings)
    except KafkaException as error:
        raise TransitError(f"Kafka refused to create the topics at {settings.bootstrap_servers} ({error})") from None
    # The network clock goes on from the last run's (the event-time jobs resumed where it left them),
    # or starts at the wall clock when that is later.
    mark = ClockMark(settings.simulation_clock_file, ahead=timedelta(seconds=SAVE_EVERY_S * settings.simulation_speed))
    wall = datetime.now(UTC).replace(microsecond=0)
    start = resume_start(mark.load(), wall)
    network = load_network(settings)
    engine = SimulationEngine(
        network, start=start, seed=settings.simulation_seed, config=simulation_config(settings, network)
    )
    log.info(
        "simulating %s from %s at %.0fx, seed %d%s",
        settings.network.upper(), engine.local_time().isoformat(timespec="seconds"),
        settings.simulation_speed, settings.simulation_seed,
        f" (the last run's clock, {(start - wall).total_seconds() / 60:.0f} min ahead of the wall clock)"
        if start > wall else "",
    )  # fmt: skip
    counts_dir = settings.delivery_counts_dir("simulation")
    with EventProducer(settings, counts_dir=counts_dir) as producer, RestProxyWeatherStation(settings) as weather:
        runner = SimulationRunner(engine, producer, weather)
        runner.run_realtime(settings.simulation_speed, should_stop=stop.is_set, mark=mark)
        log.info("stopped at %s; delivered %s; failed %s", engine.local_time().isoformat(timespec="seconds"),
                 dict(producer.stats.delivered), dict(producer.stats.failed))  # fmt: skip
    log.info("delivery counts in %s", producer.counts.path if producer.counts else None)
