"""The dashboard before the network it draws is there: another agency's static GTFS, saved by the feed.

With ``--source gtfs-rt`` the dashboard draws the network the feed process fetched and saved
(``networks/saved_gtfs.py``); the feed starts after the dashboard (``run``) and may wait out an agency's
server that is down. :func:`dashboard_app` therefore serves at once: until the saved copy is there,
``/healthz`` answers 503 ``degraded`` with the reason (``waiting for the static GTFS from the feed``)
and since when, every other path a 503 with the same reason, and a socket is closed with "try again
later" (1013). As soon as the copy is there the real app (``create_app``) is built off the event loop,
its lifespan entered, and every request from then on is its own. The dashboard never exits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send

from transit_status.config import Settings
from transit_status.networks import StaticGtfsNotReady, load_network
from transit_status.networks.saved_gtfs import WAITING, when_ready
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
"""WebSocket close code: the server cannot take the connection now (RFC 6455 registry)."""


def dashboard_app(settings: Settings, build: Callable[[], FastAPI]) -> Any:
    """``build()`` at once when the network is there (always, but for a gtfs-rt source whose static GTFS
    the feed has not saved yet), else an app that waits for it (:class:`AfterStaticGtfs`)."""
    try:
        load_network(settings)
    except StaticGtfsNotReady:
        log.info("%s (in %s): serving /healthz as degraded until then", WAITING, settings.static_gtfs_dir)
        return AfterStaticGtfs(settings, build)
    return build()


class AfterStaticGtfs:
    """An ASGI app that answers as degraded until the static GTFS is saved, then is ``build()``'s app."""

    def __init__(self, settings: Settings, build: Callable[[], FastAPI]) -> None:
        self.settings = settings
        self.build = build
        self.app: FastAPI | None = None
        self.since_ms = now_ms()
        self._lifespan: AbstractAsyncContextManager[Any] | None = None
        self._waiting: asyncio.Task[None] | None = None
        self.reason = WAITING

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": WAITING})
        elif scope["type"] == "http" and scope["path"] == "/healthz":
            await JSONResponse(self.health(), status_code=503)(scope, receive, send)
        else:
            await PlainTextResponse(f"{self.reason}; try again shortly", status_code=503)(scope, receive, send)

    def health(self) -> dict[str, Any]:
        return {
            "status": "degraded",
            "reason": self.reason,
            "since": self.since_ms,
            "waiting_for": ["the static GTFS"],
            "problems": [self.reason],
            "started_at": self.since_ms,
        }

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._waiting = asyncio.create_task(self._start_when_ready())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._waiting is not None:
                    self._waiting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._waiting
                if self._lifespan is not None:
                    await self._lifespan.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_when_ready(self) -> None:
        try:
            await when_ready(lambda: load_network(self.settings), "the dashboard")
            app = await asyncio.to_thread(self.build)
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Not the feed's absence (that is waited out) but a defect building the page: logged, and shown
            # on /healthz rather than an exit the supervisor would answer with the same start again.
            log.exception("the dashboard could not start on the static GTFS the feed saved")
            self.reason = f"the dashboard could not start on the saved static GTFS ({type(error).__name__})"
            return
        self._lifespan = lifespan
        self.app = app
        log.info("the static GTFS is there: the dashboard serves its network")
