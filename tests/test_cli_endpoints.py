"""What `platform up` and `run` print: where every platform service a user can reach answers (pure)."""

from __future__ import annotations

from pathlib import Path

from transit_status.cli import endpoint_lines
from transit_status.platform.ports import isolated_settings
from transit_status.platform.services import platform_services


def test_every_platform_service_with_a_port_is_among_the_printed_endpoints(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)  # free ports, all different: a port in a line names one service
    printed = "\n".join(endpoint_lines(settings))
    unlisted = [
        spec.name for spec in platform_services(settings) if spec.port and f"{settings.host}:{spec.port}" not in printed
    ]
    assert unlisted == [], f"services missing from the endpoint list: {unlisted}\n{printed}"
