"""The Faust worker as a served process (``transit-status serve streams``).

Faust's worker installs its own SIGINT/SIGTERM handlers and stops cleanly on them (offsets
committed, tables flushed); it exits 1 with a one-line reason if Kafka cannot be reached.
"""

from __future__ import annotations

import logging
import sys

from transit_status.config import Settings
from transit_status.topics import ensure_topics

log = logging.getLogger(__name__)

KAFKA_WAIT_S = 15.0


def run_worker(settings: Settings) -> int:
    # Imported late: Faust takes a moment to import, and other services should not wait for it.
    import faust

    from transit_status.streams.app import create_app

    partitions = ensure_topics(settings, timeout_s=KAFKA_WAIT_S)
    app = create_app(settings, partitions)
    log.info(
        "stream worker %r on %s: %s → %s",
        settings.faust_app_id,
        settings.bootstrap_servers,
        settings.stations_topic,
        settings.topic_stations,
    )
    level = logging.getLevelName(logging.getLogger().level).lower()
    worker = faust.Worker(app, loglevel=level, stdout=sys.stdout, stderr=sys.stdout, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG at levels >= warning (so that every
    # record spins it): thousands of debug records a second for nobody. Logs go to stdout instead.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    return 0
