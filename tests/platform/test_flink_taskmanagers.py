"""`--taskmanagers N`: N TaskManager services from one configuration, and the SQL jobs' parallelism (pure).

The stack with two TaskManagers running, one killed, is in tests/test_fault_recovery.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from transit_status.config import SQL_JOBS_PER_NETWORK, load_settings
from transit_status.pipeline import pipeline_services, whole_stack
from transit_status.pipeline.external import endpoints
from transit_status.pipeline.sql_jobs import CTA_JOBS, LONDON_JOBS, TURNSTILE_SUMMARY, job_properties
from transit_status.platform.services import flink, platform_services


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRANSIT_"):
            monkeypatch.delenv(name)


def taskmanager_specs(**settings: object) -> dict[str, list[str]]:
    """Each TaskManager service's name and command line."""
    chosen = load_settings(**settings)
    specs = [spec for spec in platform_services(chosen) if spec.name.startswith("flink-taskmanager")]
    return {spec.name: flink.taskmanager_command(chosen, spec.name) for spec in specs}


def test_one_taskmanager_by_default_and_the_jobs_at_parallelism_one() -> None:
    settings = load_settings()
    assert settings.flink_taskmanagers == 1 and settings.flink_job_parallelism == 1
    assert list(taskmanager_specs()) == ["flink-taskmanager"]


def test_two_taskmanagers_are_two_services_each_with_its_own_resource_id() -> None:
    commands = taskmanager_specs(flink_taskmanagers=2)
    assert list(commands) == ["flink-taskmanager", "flink-taskmanager-2"]
    # Told apart by the JobManager (and a restarted one replaces its predecessor) by their resource ids.
    assert commands["flink-taskmanager"][-1] == "-Dtaskmanager.resource-id=flink-taskmanager"
    assert commands["flink-taskmanager-2"][-1] == "-Dtaskmanager.resource-id=flink-taskmanager-2"
    names = flink.taskmanager_names(load_settings(flink_taskmanagers=3))
    assert names == ("flink-taskmanager", "flink-taskmanager-2", "flink-taskmanager-3")


def test_the_shared_configuration_fixes_no_taskmanager_port_and_spreads_the_jobs() -> None:
    config = flink.flink_configuration(load_settings(flink_taskmanagers=2), {})
    # Two TaskManagers on one machine from one config.yaml: their ports must be Flink's default, any free one.
    fixed = [key for key in config if key.startswith("taskmanager.") and "port" in key]
    assert fixed == []
    assert config["taskmanager.load-balance.mode"] == "SLOTS"
    assert config["parallelism.default"] == 2


def test_the_jobs_run_at_one_instance_per_taskmanager_unless_the_parallelism_is_set() -> None:
    assert load_settings(flink_taskmanagers=2).flink_job_parallelism == 2
    assert load_settings(flink_taskmanagers=2, flink_parallelism=1).flink_job_parallelism == 1
    assert load_settings(flink_parallelism=2, run_networks="cta").flink_job_parallelism == 2
    # What the job is submitted with, whatever the cluster's own default (an existing cluster's too).
    settings = load_settings(flink_taskmanagers=2)
    assert job_properties(settings, TURNSTILE_SUMMARY, None)["parallelism.default"] == "2"


def test_the_environment_sets_the_number_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSIT_FLINK_TASKMANAGERS", "2")
    settings = load_settings()
    assert settings.flink_job_parallelism == 2
    # A child process of the stack (the watchdog resubmitting a job) gets the same number.
    assert settings.as_env()["TRANSIT_FLINK_TASKMANAGERS"] == "2"
    assert "TRANSIT_FLINK_PARALLELISM" not in settings.as_env()


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"flink_taskmanagers": 0}, "greater than or equal to 1"),
        ({"flink_taskmanagers": 9}, "less than or equal to 8"),
        ({"flink_taskmanagers": 2, "flink_task_slots": 1, "flink_parallelism": 3}, "need 15 task slots"),
        # Both networks' five jobs at parallelism 2 need 10 slots: 1 TaskManager of 8 holds four of them.
        ({"flink_task_slots": 8, "flink_parallelism": 2}, "5 SQL job\\(s\\) at flink_parallelism 2 need 10"),
    ],
)
def test_impossible_numbers_are_refused(values: dict[str, int], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        load_settings(**values)


def test_one_network_needs_slots_for_its_own_jobs_only() -> None:
    # Chicago's three jobs (turnstile summary, run times, service health) at parallelism 3: 9 slots.
    assert load_settings(flink_task_slots=9, flink_parallelism=3, run_networks="cta").flink_job_parallelism == 3
    assert load_settings(flink_task_slots=6, flink_parallelism=3, run_networks="london").flink_job_parallelism == 3


def test_the_slot_count_knows_every_networks_jobs() -> None:
    assert {"cta": len(CTA_JOBS), "london": len(LONDON_JOBS)} == SQL_JOBS_PER_NETWORK


def test_the_pipeline_waits_for_every_taskmanager_before_submitting_its_jobs() -> None:
    settings = load_settings(flink_taskmanagers=2)
    stack = {spec.name: spec for spec in whole_stack(settings)}
    assert {"flink-taskmanager", "flink-taskmanager-2"} <= set(stack)
    submitters = [spec for spec in pipeline_services(settings) if spec.name in ("streams", "barriers")]
    assert len(submitters) == 2
    for spec in submitters:
        assert {"flink-taskmanager", "flink-taskmanager-2"} <= set(spec.after), spec.name
    # `run --pipeline-only` checks an existing cluster for as many TaskManagers.
    assert {"flink-taskmanager", "flink-taskmanager-2"} <= set(endpoints(settings))
    assert TURNSTILE_SUMMARY.job_name(settings)  # the job the properties above are for


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transit_status", "--state-dir", str(cwd / "state"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", [("platform", "up"), ("run",)])
def test_platform_up_and_run_take_taskmanagers_and_refuse_an_impossible_number(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    helped = run_cli(*command, "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--taskmanagers" in helped.stdout
    refused = run_cli(*command, "--taskmanagers", "0", cwd=tmp_path)
    assert refused.returncode != 0
    assert "flink_taskmanagers" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "state" / "logs").exists()  # nothing was started


def test_platform_status_lists_every_taskmanager_the_latest_up_started_without_being_told_again(
    tmp_path: Path,
) -> None:
    def listed(wanted: str) -> dict[str, str]:
        """What `platform status` lists, and how, when the latest `up` ran ``wanted`` (none running now)."""
        run_dir = tmp_path / "state" / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "wanted.names").write_text(wanted)
        status = run_cli("platform", "status", cwd=tmp_path)
        assert "Traceback" not in status.stderr
        return {line.split()[0]: line.split()[3] for line in status.stdout.splitlines()[1:] if line.strip()}

    # `platform up --taskmanagers 2`: the second TaskManager is listed (here, stopped) without the option.
    two = listed("kafka\nflink-jobmanager\nflink-taskmanager\nflink-taskmanager-2\n")
    assert two["flink-taskmanager-2"] == "stopped"
    # One TaskManager: no second one to list.
    one = listed("kafka\nflink-jobmanager\nflink-taskmanager\n")
    assert one["flink-taskmanager"] == "stopped" and "flink-taskmanager-2" not in one

    assert flink.taskmanagers_named(["kafka", "flink-taskmanager", "flink-taskmanager-3"]) == 3
    assert flink.taskmanagers_named(["kafka", "flink-taskmanager"]) == 1
    assert flink.taskmanagers_named(["kafka", "flink-taskmanager-x"]) == 0
