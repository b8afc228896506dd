"""Confluent REST Proxy (API v2) compatible producer service.

Run it with ``python -m transit_status.platform.rest_proxy``; embed it with :func:`create_app`.
"""

from transit_status.platform.rest_proxy.app import create_app

__all__ = ["create_app"]
