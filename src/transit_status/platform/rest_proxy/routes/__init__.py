"""The proxy's HTTP API, one router per resource of Confluent's REST Proxy v2: topics (metadata) and produce."""

from transit_status.platform.rest_proxy.routes import produce, topics

ROUTERS = (topics.router, produce.router)

__all__ = ["ROUTERS"]
