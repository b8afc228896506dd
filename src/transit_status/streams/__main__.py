"""``python -m transit_status.streams``: run a Faust worker (stations transform, turnstile counts).

Settings come from ``TRANSIT_*`` environment variables (``load_settings()``). Logs go to stdout;
SIGTERM or SIGINT stops the worker cleanly (its last offsets and table updates committed). Exits 1
with a one-line reason if Kafka cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from transit_status.config import load_settings

log = logging.getLogger("transit_status.streams")

LOG_LEVELS = ("debug", "info", "warning", "error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transit_status.streams",
        description=(
            "Faust stream worker of transit-status: turns the raw stations topic into one record per "
            "(line, station) and counts turnstile entries per station exactly once. Settings come from "
            "TRANSIT_* environment variables (e.g. TRANSIT_KAFKA_PORT, TRANSIT_FAUST_APP_ID). "
            "Stop it with SIGTERM or Ctrl-C."
        ),
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="log level (default info)")
    parser.add_argument(
        "--kafka-timeout", type=float, default=15.0, help="seconds to wait for Kafka at start (default 15)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
    except ValidationError as invalid:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in invalid.errors())
        log.error("invalid settings: %s", problems)
        return 2

    # Imported late: Faust takes a moment to import, and --help should not wait for it.
    import faust

    from transit_status.streams.app import create_app
    from transit_status.topics import KafkaUnavailableError, ensure_topics

    try:
        partitions = ensure_topics(settings, timeout_s=args.kafka_timeout)
    except KafkaUnavailableError as error:
        log.error("Stream worker cannot start: %s", error)
        return 1
    app = create_app(settings, partitions)
    log.info(
        "stream worker %r on %s: %s → %s, %s → %s",
        settings.faust_app_id,
        settings.bootstrap_servers,
        settings.stations_topic,
        settings.topic_stations,
        settings.topic_turnstiles,
        settings.topic_turnstile_summary,
    )
    worker = faust.Worker(app, loglevel=args.log_level, stdout=sys.stdout, stderr=sys.stdout, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG at levels >= warning (so that every
    # record spins it): thousands of debug records a second for nobody. Logs go to stdout instead.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
