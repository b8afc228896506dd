"""``python -m transit_status.dashboard``: serve the dashboard on ``settings.host:settings.dashboard_port``.

Settings come from ``TRANSIT_*`` variables (``load_settings()``). uvicorn handles SIGTERM/SIGINT:
it stops accepting, closes the WebSockets, and the app's lifespan stops the Kafka consumer and
flushes pending dead letters before the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys

import uvicorn

from transit_status.config import load_settings
from transit_status.dashboard.app import create_app

log = logging.getLogger("transit_status.dashboard")


def main() -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the registry client logs every request at INFO
    settings = load_settings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.dashboard_port,
        log_config=None,  # keep the logging set up above
        access_log=False,
        timeout_graceful_shutdown=5,
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler that was
    # installed before it: make that a no-op so a requested stop exits 0 (the platform's convention).
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, lambda *_: None)
    server.run()
    log.info("dashboard stopped")
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
