"""PostgreSQL's login rules as written at every start: passwords over TCP, the socket for the stack's own user."""

from __future__ import annotations

from pathlib import Path

from transit_status.platform.ports import isolated_settings
from transit_status.platform.services.postgres import IDENT_MAP, access_rules


def rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_no_login_is_trusted_and_tcp_needs_a_password(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    hba, ident = access_rules(settings, "alice")
    lines = rules(hba)
    assert not any("trust" in line for line in lines)
    assert [line for line in lines if line[0] == "local"] == [["local", "all", "all", "peer", f"map={IDENT_MAP}"]]
    host_lines = [line for line in lines if line[0] == "host"]
    assert {line[3] for line in host_lines} == {"0.0.0.0/0", "::/0"}
    assert {line[4] for line in host_lines} == {"scram-sha-256"}
    # Through the socket, only the OS user running the stack, and only as the admin role.
    assert rules(ident) == [[IDENT_MAP, "alice", settings.postgres_user]]
