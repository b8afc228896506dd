"""The REST Proxy tells "cannot reach the registry" (connection, timeout) from other registry failures.

No platform: a closed port is a registry nobody can reach; a small HTTP server that is not a registry
answers, but not as a registry does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from transit_status.config import load_settings
from transit_status.platform.ports import free_ports
from transit_status.platform.rest_proxy.errors import RestError
from transit_status.platform.rest_proxy.schemas import SchemaRegistryGateway
from transit_status.platform.rest_proxy.server import DependencyUnavailable, check_registry


class NotARegistry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_a_registry() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotARegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def fetch_error(port: int) -> RestError:
    gateway = SchemaRegistryGateway(load_settings(schema_registry_port=port))
    with pytest.raises(RestError) as raised:
        asyncio.run(gateway.fetch(1, "value"))
    return raised.value


def test_a_closed_port_is_an_unreachable_registry() -> None:
    port = free_ports(1)[0]
    error = fetch_error(port)
    assert error.status == 500 and "cannot reach the schema registry" in error.message
    with pytest.raises(DependencyUnavailable, match="cannot reach the schema registry"):
        check_registry(load_settings(schema_registry_port=port))


def test_a_registry_answering_nonsense_is_not_called_unreachable(not_a_registry: int) -> None:
    error = fetch_error(not_a_registry)
    assert error.status == 500 and "unexpected answer from the schema registry" in error.message
    assert "cannot reach" not in error.message
    with pytest.raises(DependencyUnavailable, match=r"unexpected answer from .*is it the schema registry") as raised:
        check_registry(load_settings(schema_registry_port=not_a_registry))
    assert "cannot reach" not in str(raised.value)
