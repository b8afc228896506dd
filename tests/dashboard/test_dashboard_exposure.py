"""Showing the dashboard to other machines shows them nothing else, and no other site's page may use it."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.dashboard.support import Topics, run_dashboard
from transit_status.platform.supervisor import Platform

pytestmark = pytest.mark.platform


def non_loopback_address() -> str:
    """One of this machine's own IPv4 addresses that is not loopback (the wildcard if it has none)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not ipaddress.ip_address(address.address).is_loopback:
                return address.address
    return "0.0.0.0"


def listening(process: psutil.Process) -> set[tuple[str, int]]:
    """The TCP addresses ``process`` and its descendants listen on."""
    found = set()
    for each in [process, *process.children(recursive=True)]:
        for conn in each.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                found.add((conn.laddr.ip, conn.laddr.port))
    return found


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # Java's IPv4 sockets show as ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def test_a_dashboard_shown_to_the_network_leaves_the_platform_on_loopback(
    platform_supervisor: Platform, tmp_path: Path
) -> None:
    platform = platform_supervisor.settings
    address = non_loopback_address()
    exposed = platform.with_overrides(dashboard_host=address)
    with run_dashboard(exposed, Topics.unique(exposed), tmp_path) as dashboard:
        port = int(dashboard.url.rsplit(":", 1)[1])
        assert listening(psutil.Process(dashboard.process.pid)) == {(address, port)}
        assert dashboard.get("/healthz").status_code in (200, 503)  # answers on the address it was given

        records = platform_supervisor.running()
        assert {"kafka", "connect", "flink-jobmanager", "opensearch", "postgres", "mariadb"} <= set(records)
        for name, record in records.items():
            addresses = listening(psutil.Process(record.pid))
            assert addresses, f"{name} listens nowhere"
            assert all(is_loopback(ip) for ip, _ in addresses), f"{name} listens on {sorted(addresses)}"
        if address != "0.0.0.0":  # the platform's ports are closed to the address the dashboard shows
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{address}:{platform.flink_rest_port}/overview", timeout=2)

        ws = dashboard.url.replace("http://", "ws://") + "/ws"
        with pytest.raises(InvalidStatus) as refused:
            connect(ws, origin="http://evil.example", open_timeout=10)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert "cross-origin" in json.loads(refused.value.response.body or b"{}")["detail"]
        with connect(ws, origin=dashboard.url, open_timeout=10) as socket_:  # type: ignore[arg-type]
            assert json.loads(socket_.recv(timeout=10))["type"] in ("snapshot", "status")
