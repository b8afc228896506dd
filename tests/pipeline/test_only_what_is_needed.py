"""Only what the chosen networks need: the platform services ``run`` starts are derived from what each
pipeline process depends on (``after`` and ``needs``), not from a second list.

The pure tests check the derivation; the system test runs ``transit-status run --network cta`` as a
user would, on a stack of its own, and checks that MariaDB's and OpenSearch's ports stay closed while
the CTA data flows, that ``platform status`` is clean, and that Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import interrupt_and_wait, wait_until
from transit_status.config import load_settings
from transit_status.pipeline import pipeline_services, whole_stack
from transit_status.platform.ports import isolated_settings
from transit_status.platform.service import ServiceSpec, with_dependencies
from transit_status.platform.services import platform_services

LONDON_ONLY = {"mariadb", "opensearch", "barriers", "opensearch-sink"}
CTA_ONLY = {"rest-proxy", "streams", "simulation"}


def names(specs: list[ServiceSpec]) -> set[str]:
    return {spec.name for spec in specs}


def test_cta_needs_no_mariadb_or_opensearch_and_london_no_rest_proxy_or_faust() -> None:
    everything = names(whole_stack(load_settings(run_networks="all")))
    cta = names(whole_stack(load_settings(run_networks="cta")))
    london = names(whole_stack(load_settings(run_networks="london")))

    assert everything == names(platform_services(load_settings())) | names(pipeline_services(load_settings()))
    assert cta == everything - LONDON_ONLY
    assert london == everything - CTA_ONLY
    # Flink's parts come as a whole: the gateway and the TaskManager need the JobManager.
    assert {"flink-jobmanager", "flink-taskmanager", "sql-gateway"} <= cta & london


def test_dependencies_are_followed_through_after_and_needs_in_the_given_order() -> None:
    def spec(name: str, after: tuple[str, ...] = (), needs: tuple[str, ...] = ()) -> ServiceSpec:
        return ServiceSpec(name=name, port=0, after=after, needs=needs, prepare=lambda: None, is_ready=lambda: True)  # type: ignore[arg-type,return-value]

    specs = [spec("a"), spec("b", needs=("a",)), spec("c", after=("b",)), spec("d"), spec("e", after=("c",))]
    assert [s.name for s in with_dependencies(specs, ["e"])] == ["a", "b", "c", "e"]
    assert [s.name for s in with_dependencies(specs, ["d"])] == ["d"]
    with pytest.raises(ValueError, match="unknown service 'x'"):
        with_dependencies([spec("a", after=("x",))], ["a"])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


@pytest.mark.system  # a stack of its own (the jars `make setup` fetches)
def test_run_network_cta_leaves_mariadb_and_opensearch_closed_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "state", ready_timeout_s=300.0, simulation_speed=60.0)
    env = {**os.environ, **settings.as_env()}
    cli = [sys.executable, "-m", "transit_status"]
    output = (tmp_path / "run.out").open("w")
    run = subprocess.Popen([*cli, "run", "--network", "cta"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        # Data flows: the dashboard says ok for the CTA (and London is "off", not failing).
        def healthy() -> dict[str, object] | None:
            try:
                health = httpx.get(f"{settings.dashboard_url}/healthz", timeout=2.0).json()
            except (httpx.HTTPError, ValueError):
                return None
            return health if health.get("status") == "ok" else None

        health = wait_until(healthy, 400, "the CTA data flowing (dashboard /healthz ok)")
        assert run.poll() is None, (tmp_path / "run.out").read_text()
        assert health["networks"] == ["cta"]
        for service in ("mariadb", "opensearch", "opensearch-transport"):
            assert not port_open(settings.host, settings.ports[service]), f"{service} listens"

        status = subprocess.run([*cli, "platform", "status"], env=env, capture_output=True, text=True, timeout=120)
        listed = {line.split()[0] for line in status.stdout.splitlines()[1:] if line.strip()}
        assert status.returncode == 0, status.stdout + status.stderr
        assert {"kafka", "connect", "sql-gateway", "streams", "simulation", "watchdog"} <= listed
        assert not listed & {"mariadb", "opensearch", "barriers", "opensearch-sink"}
    finally:
        try:
            code = interrupt_and_wait(run)
        finally:
            output.close()
            subprocess.run([*cli, "platform", "down"], env=env, capture_output=True, timeout=120)
    assert code == 0, (tmp_path / "run.out").read_text()
    assert not port_open(settings.host, settings.kafka_port)  # Ctrl-C stopped the platform too
