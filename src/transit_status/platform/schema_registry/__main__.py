"""``python -m transit_status.platform.schema_registry``: serve the registry until SIGTERM/SIGINT.

Listens on ``settings.host:settings.schema_registry_port`` and stores schemas in
``settings.schemas_topic`` on ``settings.bootstrap_servers`` (all from ``TRANSIT_*`` variables).
Exits 1 with a one-line reason if Kafka cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import uvicorn

from transit_status.config import load_settings
from transit_status.platform.schema_registry.app import create_app
from transit_status.platform.schema_registry.kafka_log import KafkaUnavailableError
from transit_status.platform.schema_registry.store import SchemaRegistry

log = logging.getLogger("transit_status.platform.schema_registry")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transit_status.platform.schema_registry",
        description="Confluent-compatible schema registry (Avro) backed by a compacted Kafka topic.",
    )
    parser.add_argument(
        "--kafka-timeout", type=float, default=15.0, help="seconds to wait for Kafka at start (default 15)"
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="replicas of the schemas topic when creating it (default: settings.replication_factor)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    registry = SchemaRegistry.from_settings(
        settings,
        replication_factor=args.replication_factor or settings.replication_factor,
        startup_timeout_s=args.kafka_timeout,
    )
    try:
        registry.start()
    except KeyboardInterrupt:
        registry.close()
        return 130
    except KafkaUnavailableError as exc:
        log.error(
            "Schema registry cannot start: %s. Kafka must be running first: start the platform with "
            "`transit-status platform up`.",
            exc,
        )
        return 1

    try:
        config = uvicorn.Config(
            create_app(registry=registry),
            host=settings.host,
            port=settings.schema_registry_port,
            log_config=None,  # use the stdout logging configured above
            access_log=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler
        # that was installed before it: make that a no-op so we close the Kafka clients and exit 0.
        for handled in (signal.SIGTERM, signal.SIGINT):
            signal.signal(handled, lambda *_: None)
        log.info(
            "Schema registry serving %s (topic '%s' on %s)",
            settings.schema_registry_url,
            settings.schemas_topic,
            settings.bootstrap_servers,
        )
        server.run()  # returns after SIGTERM/SIGINT once in-flight requests are done
        return 0 if server.started else 1
    finally:
        registry.close()
        log.info("Schema registry stopped")


if __name__ == "__main__":
    sys.exit(main())
