"""Free ports for private stacks: a port handed out once is never handed out again in this process."""

from __future__ import annotations

from pathlib import Path

from transit_status.platform.ports import DEFAULT_PORTS, PORT_SETTINGS, free_ports, isolated_settings


def test_a_port_handed_to_a_service_that_never_listens_is_not_handed_out_again(tmp_path: Path) -> None:
    # A dashboard-only test: the stack's ports are chosen, nothing listens on them, and the dashboard's
    # own port is chosen after. It once came out equal to the MariaDB port ("both use port ...").
    settings = isolated_settings(tmp_path)
    stack_ports = {getattr(settings, name) for name in PORT_SETTINGS}
    later: set[int] = set()
    for _ in range(300):
        later.update(free_ports(5))
    assert not later & stack_ports
    assert not later & DEFAULT_PORTS
    assert len(later) == 1500  # distinct across calls, not only within one
