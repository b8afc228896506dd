"""A page on another site cannot open the dashboard's WebSockets through a visitor's browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from transit_status.dashboard.app import create_app
from transit_status.dashboard.web import origin_refusal
from transit_status.platform.ports import isolated_settings

ALLOWED = frozenset({"https://status.example.org"})


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (None, "127.0.0.1:8888"),  # not a browser: a script, a benchmark
        ("http://127.0.0.1:8888", "127.0.0.1:8888"),  # the page's own origin
        ("http://Dashboard.Local:8888", "dashboard.local:8888"),
        ("https://dashboard.local", "dashboard.local"),  # behind a TLS proxy that keeps the Host
        ("https://status.example.org", "10.0.0.5:8888"),  # configured
    ],
)
def test_accepted_origins(origin: str | None, host: str) -> None:
    assert origin_refusal(origin, host, ALLOWED) is None


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://evil.example", "127.0.0.1:8888"),
        ("http://127.0.0.1:9999", "127.0.0.1:8888"),  # another port is another origin
        ("null", "127.0.0.1:8888"),  # a sandboxed frame or a file:// page
        ("http://127.0.0.1:8888", None),
        ("https://status.example.org.evil.example", "127.0.0.1:8888"),
    ],
)
def test_refused_origins_say_why(origin: str, host: str | None) -> None:
    reason = origin_refusal(origin, host, ALLOWED)
    assert reason is not None and "cross-origin WebSocket refused" in reason and origin in reason


@pytest.mark.parametrize("path", ["/ws", "/ws/london"])
def test_the_app_refuses_a_foreign_origin_with_403_and_serves_its_own(path: str, tmp_path: Path) -> None:
    app = create_app(isolated_settings(tmp_path), start_consumer=False)
    with TestClient(app) as client:  # its pages' origin is http://testserver
        with pytest.raises(WebSocketDenialResponse) as refused:
            client.websocket_connect(path, headers={"origin": "http://evil.example"}).__enter__()
        assert refused.value.status_code == 403
        assert "http://evil.example" in refused.value.json()["detail"]
        for headers in ({"origin": "http://testserver"}, {}):
            with client.websocket_connect(path, headers=headers) as socket:
                assert socket.receive_json()["type"] in ("snapshot", "status")
