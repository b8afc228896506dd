"""The `transit-status` command line as a user meets it: help, status, clear errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from transit_status.config import Settings
from transit_status.platform.errors import MissingDependencyError
from transit_status.platform.jvm import java_executable
from transit_status.platform.ports import isolated_settings
from transit_status.platform.services.postgres import PostgresBinaries

CLI = [sys.executable, "-m", "transit_status.cli"]


def cli_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.as_env()}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False)


def test_help_explains_the_platform_commands() -> None:
    result = run_cli("platform", "--help")
    assert result.returncode == 0
    for command in ("up", "down", "status", "reset"):
        assert command in result.stdout


def test_invalid_port_is_a_clear_error_without_traceback() -> None:
    result = run_cli("--kafka-port", "70000", "platform", "status")
    assert result.returncode != 0
    assert "kafka" in result.stderr and "65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.system  # a real `platform up`: it fetches the jars first
def test_port_already_taken_names_the_service_and_port(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind((settings.host, settings.postgres_port))
        squatter.listen()
        result = run_cli("platform", "up", env=cli_env(settings))
    assert result.returncode == 1
    assert f"port {settings.postgres_port} for postgres is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_postgres_binaries_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"apt-get install postgresql"):
        PostgresBinaries.find(search_root=tmp_path, path=str(tmp_path))


def test_missing_java_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"apt-get install openjdk-17"):
        java_executable(java_home="", path=str(tmp_path), jvm_root=tmp_path)


@pytest.mark.platform
def test_status_lists_every_service_healthy(platform: Settings) -> None:
    result = run_cli("platform", "status", env=cli_env(platform))
    assert result.returncode == 0, result.stdout + result.stderr
    for service in ("kafka", "connect", "postgres", "schema-registry", "rest-proxy"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(service))
        _, pid, port, health, _log = line.split()
        assert (health, port) == ("healthy", str(platform.ports[service]))
        assert pid.isdigit()
