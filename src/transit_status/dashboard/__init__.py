"""Live dashboard: consumes the pipeline's topics, keeps the state, serves a page, an API and a WebSocket.

``create_app(settings)`` builds the FastAPI app; ``python -m transit_status.dashboard`` serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from transit_status.config import Settings


def create_app(settings: Settings, **options: Any) -> FastAPI:
    from transit_status.dashboard.app import create_app as _create_app

    return _create_app(settings, **options)


__all__ = ["create_app"]
