"""What every page's routes share: its static page with the security headers, and its live socket.

A socket is refused unless it comes from the page's own origin (or an allowed one), then served by
the page's hub (``hub.py``): one sender task per browser, so a slow one holds up nobody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from fastapi import WebSocket
from fastapi.responses import FileResponse, JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from transit_status.config import normalise_origin
from transit_status.dashboard.hub import Client, LiveHub

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # Everything is local; no inline script, so injected markup could not run even if it got in.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page(name: str) -> FileResponse:
    """A page of ``static/``, never cached (so a new version shows at once), with the security headers."""
    return FileResponse(STATIC_DIR / name, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


async def serve_live(websocket: WebSocket, hub: LiveHub[Any], allowed: frozenset[str]) -> None:
    """A page's socket: refused across origins (see :func:`origin_refusal`), else served by ``hub``."""
    if await refused_cross_origin(websocket, allowed):
        return
    await serve_socket(websocket, hub)


def origin_refusal(origin: str | None, host: str | None, allowed: frozenset[str]) -> str | None:
    """Why a WebSocket upgrade must be refused, or None to accept it.

    Browsers send ``Origin`` with every WebSocket and let any page open one to any address, so without
    this check a page on another site could read the live feed through a visitor's browser. Accepted:
    no Origin (not a browser: scripts, benchmarks), the page's own origin (its host is the ``Host``
    the browser connected to), and the configured ``dashboard_allowed_origins``.
    """
    if origin is None:
        return None
    normalised = normalise_origin(origin)
    if normalised in allowed:
        return None
    # Browsers write both without a default port; https too, for a TLS proxy that keeps the Host.
    if host and normalised in (f"http://{host.strip().lower()}", f"https://{host.strip().lower()}"):
        return None
    return (
        f"cross-origin WebSocket refused: origin {origin!r} is not this dashboard's ({host or 'no Host header'}); "
        "allow another origin with TRANSIT_DASHBOARD_ALLOWED_ORIGINS"
    )


async def refused_cross_origin(websocket: WebSocket, allowed: frozenset[str]) -> bool:
    """Refuse a cross-origin upgrade with 403 and the reason (before accepting it); True if refused."""
    reason = origin_refusal(websocket.headers.get("origin"), websocket.headers.get("host"), allowed)
    if reason is None:
        return False
    log.info("%s (from %s)", reason, websocket.client.host if websocket.client else "?")
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=403))
    else:  # a server without ASGI's denial responses: uvicorn answers a close before accept with a bare 403
        await websocket.close(code=1008, reason=reason[:120])
    return True


async def serve_socket(websocket: WebSocket, hub: LiveHub[Any]) -> None:
    """One browser on one page's hub: its own sender task; what it sends back is rate-limited by its client."""
    await websocket.accept()
    client = hub.connect()
    sender = asyncio.create_task(send_frames(websocket, hub, client))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            client.on_message(message.get("text"))
    except WebSocketDisconnect:
        pass
    finally:
        hub.disconnect(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def send_frames(websocket: WebSocket, hub: LiveHub[Any], client: Client) -> None:
    """This client's own sender: a slow socket holds up only this task, never the tick or other clients."""
    try:
        while True:
            await websocket.send_text(await client.next_frame(hub))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the browser went away mid-send; the receive side ends the session
        log.debug("websocket send ended: %s", exc)
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
