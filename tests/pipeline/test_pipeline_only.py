"""The pipeline against an existing platform (``run --pipeline-only``), as a user with a cluster runs it.

An embedded platform is started on its own first, with a database password of its own; the pipeline
then runs from a state directory of its own, with a settings file naming that platform's endpoints
(and registry credentials, which the embedded registry ignores) while every port of the pipeline's
own settings points at nothing: anything that still derived an address from ``host`` + port would
fail. It must start none of the platform, bring the dashboard live, show no secret anywhere, and
Ctrl-C must stop the pipeline only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.processes import interrupt_and_wait, wait_until
from transit_status.config import Settings
from transit_status.pipeline.external import required_services
from transit_status.platform.ports import PORT_SETTINGS, free_ports, isolated_settings
from transit_status.platform.service import kafka_is_ready
from transit_status.platform.services import platform_services
from transit_status.platform.supervisor import Platform

PG_SECRET = "pg-Secr3t-4711"
REGISTRY_SECRET = "registry-Secr3t-5150"
CLI = [sys.executable, "-m", "transit_status"]
CTA_PIPELINE = {"dashboard", "streams", "simulation", "watchdog"}
PLATFORM_PROGRAMS = ("java", "postgres", "mariadbd", "mysqld")


def profile_text(existing: Settings, **endpoints: str) -> str:
    values = {
        "kafka_bootstrap_servers": existing.bootstrap_servers,
        "schema_registry_endpoint": existing.schema_registry_url,
        "schema_registry_username": "REGISTRYKEY",
        "schema_registry_password": REGISTRY_SECRET,
        "rest_proxy_endpoint": existing.rest_proxy_url,
        "connect_endpoint": existing.connect_url,
        "sql_gateway_endpoint": existing.sql_gateway_url,
        "flink_rest_endpoint": existing.flink_rest_url,
        "postgres_dsn": f"postgresql://{existing.postgres_user}:{PG_SECRET}@{existing.host}:{existing.postgres_port}/"
        f"{existing.postgres_db}",
        **endpoints,
    }
    return "".join(f'{name} = "{value}"\n' for name, value in values.items())


def pipeline_env(pipeline: Settings) -> dict[str, str]:
    """Only the pipeline's own settings by variable (a TRANSIT_* variable would beat the settings file):
    its state directory, and ports nothing listens on for everything the file does not name."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRANSIT_")}
    own = {name: getattr(pipeline, name) for name in (*PORT_SETTINGS, "state_dir", "ready_timeout_s")}
    env.update({f"TRANSIT_{name.upper()}": str(value) for name, value in own.items()})
    env["TRANSIT_SIMULATION_SPEED"] = "60"
    return env


def dashboard_ok(settings: Settings) -> dict[str, object] | None:
    try:
        health = httpx.get(f"{settings.dashboard_url}/healthz", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    return health if health.get("status") == "ok" else None


def no_secret_in(text: str, where: str) -> None:
    for secret in (PG_SECRET, REGISTRY_SECRET):
        assert secret not in text, f"a secret in {where}"


@pytest.mark.system  # a platform and a pipeline of its own (the jars `make setup` fetches)
def test_pipeline_only_runs_on_an_existing_platform_starts_none_of_it_and_ctrl_c_stops_only_the_pipeline(
    tmp_path: Path,
) -> None:
    # Not tmp_path for the platform: PostgreSQL runs as 'postgres' and pytest's tmp_path is private (0700).
    platform_dir = Path(tempfile.mkdtemp(prefix="transit-test-"))
    os.chmod(platform_dir, 0o755)
    existing = isolated_settings(platform_dir, ready_timeout_s=300.0, postgres_password=PG_SECRET)
    needed = required_services(existing.with_overrides(run_networks="cta"))
    platform = Platform(existing, services=[spec for spec in platform_services(existing) if spec.name in needed])
    pipeline = isolated_settings(tmp_path / "pipeline", ready_timeout_s=300.0)
    env = pipeline_env(pipeline)
    try:
        platform.up()
        on_platform = platform.running()

        # One endpoint that does not answer is named, with the others that do; nothing starts.
        (closed_port,) = free_ports(1)
        broken = tmp_path / "broken.toml"
        broken.write_text(profile_text(existing, connect_endpoint=f"http://127.0.0.1:{closed_port}"))
        refused = subprocess.run(
            [*CLI, "--settings", str(broken), "run", "--pipeline-only", "--network", "cta"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"Kafka Connect at http://127.0.0.1:{closed_port}: no answer" in refused.stderr
        assert "Traceback" not in refused.stderr
        failing = [line for line in refused.stdout.splitlines() if "FAILS" in line]
        assert len(failing) == 1 and "Kafka Connect" in failing[0], refused.stdout  # the others answer
        no_secret_in(refused.stdout + refused.stderr, "the refusal")

        profile = tmp_path / "existing.toml"
        profile.write_text(profile_text(existing))
        output_path = tmp_path / "run.out"
        with output_path.open("w") as output:
            run = subprocess.Popen(
                [*CLI, "--settings", str(profile), "run", "--pipeline-only", "--network", "cta"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:

            def flowing() -> Any:
                assert run.poll() is None, output_path.read_text()  # `run` ended: no point waiting
                return dashboard_ok(pipeline)

            health = wait_until(flowing, 400, "the CTA data flowing (dashboard /healthz ok)")
            assert health["networks"] == ["cta"]

            # The run started the pipeline's processes and none of the platform's.
            started = {path.stem for path in (pipeline.state_dir / "run").glob("*.json")}
            assert started == CTA_PIPELINE
            programs = {child.name() for child in psutil.Process(run.pid).children(recursive=True)}
            assert not [name for name in programs if name.startswith(PLATFORM_PROGRAMS)], programs
            assert platform.running().keys() == on_platform.keys()  # the platform's own, unchanged
            assert all(platform.running()[name].pid == record.pid for name, record in on_platform.items())

            status = subprocess.run(
                [*CLI, "--settings", str(profile), "platform", "status"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert status.returncode == 0, status.stdout + status.stderr
            section = status.stdout.split("\nEXTERNAL", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
            external = {line.split()[0]: line.split()[1] for line in section}
            assert external == dict.fromkeys(sorted(needed), "answers")
            no_secret_in(status.stdout + status.stderr, "platform status")
        finally:
            code = interrupt_and_wait(run)
        text = output_path.read_text()
        assert code == 0, text
        # Ctrl-C stopped the pipeline, and only the pipeline.
        assert not list((pipeline.state_dir / "run").glob("*.json")), text
        assert not dashboard_ok(pipeline)
        assert platform.running().keys() == on_platform.keys()
        assert kafka_is_ready(existing)
        no_secret_in(text, "the run's output")
        for log in (pipeline.state_dir / "logs").glob("*.log"):
            no_secret_in(log.read_text(errors="replace"), str(log))
    finally:
        platform.down()
        shutil.rmtree(platform_dir, ignore_errors=True)
