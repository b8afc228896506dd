"""The Faust worker as a served process (``transit-status serve streams``).

Faust's worker installs its own SIGINT/SIGTERM handlers and stops cleanly on them (what it sent is
flushed); it exits 1 with a one-line reason if Kafka cannot be reached. A Kafka outage while it runs
is logged once, then its end with a count of the client errors in between (``outage_log.py``).
"""

from __future__ import annotations

import logging
import sys

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from transit_status.config import Settings
from transit_status.streams.outage_log import KafkaOutageFilter, broker_answers, install
from transit_status.topics import admin_client, ensure_topics

log = logging.getLogger(__name__)

KAFKA_WAIT_S = 15.0


def run_worker(settings: Settings) -> int:
    # Imported late: Faust takes a moment to import, and other services should not wait for it.
    import faust

    from transit_status.streams.app import create_app

    partitions = ensure_topics(settings, timeout_s=KAFKA_WAIT_S)
    replay_from_the_beginning(settings, partitions[settings.stations_topic])
    app = create_app(settings, partitions)
    log.info(
        "stream worker %r on %s: %s → %s",
        settings.faust_app_id,
        settings.bootstrap_servers,
        settings.stations_topic,
        settings.topic_stations,
    )
    level = logging.getLevelName(logging.getLogger().level).lower()
    outage_filter = KafkaOutageFilter(lambda: broker_answers(settings.bootstrap_servers))

    class Worker(faust.Worker):  # type: ignore[misc]
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            # Faust replaces the root logger's handlers when it starts: the filter goes on its own.
            super().on_setup_root_logger(logger, level)
            install(outage_filter, logger.handlers)

    worker = Worker(app, loglevel=level, stdout=sys.stdout, stderr=sys.stdout, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG at levels >= warning (so that every
    # record spins it): thousands of debug records a second for nobody. Logs go to stdout instead.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    return 0


def replay_from_the_beginning(settings: Settings, raw_partitions: int) -> None:
    """Point the worker's group at the start of the raw stations topic (streams/stations.py: it
    commits nothing, but offsets an earlier version committed would make it skip part of the replay)."""
    start = [TopicPartition(settings.stations_topic, partition, 0) for partition in range(raw_partitions)]
    request = ConsumerGroupTopicPartitions(settings.faust_app_id, start)
    admin = admin_client(settings)  # held: a client dropped at once never completes its futures
    try:
        admin.alter_consumer_group_offsets([request])[settings.faust_app_id].result(timeout=KAFKA_WAIT_S)
    except (KafkaException, TimeoutError) as error:
        # Another worker of the group is running: it started from the beginning too.
        reason = error.args[0] if error.args else "timed out"
        log.warning("could not rewind group %s: %s", settings.faust_app_id, reason)
