"""``python -m transit_status.producers``: run the CTA simulation in real time and produce its events."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from confluent_kafka import KafkaException

from transit_status.config import load_settings
from transit_status.networks import load_network
from transit_status.producers.kafka import EventProducer
from transit_status.producers.runner import SimulationRunner
from transit_status.producers.weather import RestProxyWeatherStation
from transit_status.simulation import SimulationEngine
from transit_status.topics import KafkaUnavailableError, ensure_topics

log = logging.getLogger("transit_status.producers")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transit_status.producers",
        description="Simulate the CTA 'L' in real time: arrivals and turnstile entries to Kafka as Avro, "
        "weather through the REST Proxy. Settings come from TRANSIT_* environment variables.",
    )
    parser.add_argument("--speed", type=float, help="simulated seconds per real second (TRANSIT_SIMULATION_SPEED)")
    parser.add_argument("--seed", type=int, help="random seed (TRANSIT_SIMULATION_SEED)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(simulation_speed=args.speed, simulation_seed=args.seed)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        ensure_topics(settings)
    except KafkaUnavailableError as error:
        log.error("%s", error)
        return 1
    except KafkaException as error:
        log.error("Kafka refused to create the topics at %s (%s)", settings.bootstrap_servers, error)
        return 1
    engine = SimulationEngine(load_network(settings), seed=settings.simulation_seed)
    log.info(
        "simulating %s from %s at %.0fx, seed %d",
        settings.network.upper(), engine.local_time().isoformat(timespec="seconds"),
        settings.simulation_speed, settings.simulation_seed,
    )  # fmt: skip
    with EventProducer(settings) as producer, RestProxyWeatherStation(settings) as weather:
        runner = SimulationRunner(engine, producer, weather)
        runner.run_realtime(settings.simulation_speed, should_stop=stop.is_set)
        log.info("stopped at %s; delivered %s", engine.local_time().isoformat(timespec="seconds"),
                 dict(producer.stats.delivered))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
