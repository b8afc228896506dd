"""What the benchmarks share: a stack on free ports in a temporary state directory, and how they measure it."""

from __future__ import annotations

import json
import os
import platform as host_platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from opensearchpy import OpenSearch

from transit_status.config import Settings, load_settings
from transit_status.london.opensearch_sink import data_streams
from transit_status.pipeline import whole_stack
from transit_status.platform.ports import isolated_settings
from transit_status.platform.supervisor import Platform

RESULTS = Path(__file__).with_name("results")
READY_TIMEOUT_S = 600.0
"""Benchmarks run on shared, loaded machines: a slow start is not what they measure."""
WAIT_TIMEOUT_S = 900.0


def _service_processes(supervisor: Platform) -> Iterator[tuple[str, list[psutil.Process]]]:
    """Each running service's process with its forked children."""
    for name, record in supervisor.running().items():
        process = record.process()
        if process is not None:
            yield name, [process, *process.children(recursive=True)]


def stack_rss_mib(supervisor: Platform) -> dict[str, float]:
    """Resident memory (MiB) of every running service, its forked children included."""
    return {
        name: sum(p.memory_info().rss for p in family if p.is_running()) / 2**20
        for name, family in _service_processes(supervisor)
    }


def stack_cpu_s(supervisor: Platform) -> dict[str, float]:
    """CPU seconds (user + system) each running service has used so far, its children included."""
    per_service = {}
    for name, family in _service_processes(supervisor):
        total = 0.0
        for member in family:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        per_service[name] = total
    return per_service


def machine() -> dict[str, Any]:
    """The facts a figure needs next to it: cores, CPU model, RAM, load, Python, OS and the code measured."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": load_average(),
        "python": sys.version.split()[0],
        "os": f"{host_platform.system()} {host_platform.release()}",
        "commit": _commit(),
    }


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: how busy the shared cores were (2 cores: above 2 is queueing)."""
    return [round(x, 2) for x in os.getloadavg()]


def _commit() -> str:
    """The commit measured, ``+changes`` when the work tree differs from it (a figure names its code)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+changes" if dirty else head


def write_results(name: str, result: dict[str, Any]) -> Path:
    """``benchmarks/results/<name>.json``, with the load average at the end beside the machine's facts."""
    result.setdefault("machine", machine())["load_average_at_end"] = load_average()
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"{name}.json"
    output.write_text(json.dumps(result, indent=2) + "\n")
    return output


class WrongResult(SystemExit):
    """A benchmark whose result is wrong (lost, duplicated or missing data): exit 1 with what was wrong.

    A missed goal is a figure, not a failure; a wrong result makes every figure of the run worthless."""

    def __init__(self, problems: list[str] | str) -> None:
        problems = [problems] if isinstance(problems, str) else problems
        super().__init__("WRONG RESULT: " + "; ".join(problems))


def distribution(values: list[float], unit: str, digits: int) -> dict[str, float | int | None]:
    """``count`` and the p50, p90 and max of ``values`` (in ``unit``, rounded to ``digits``); None when empty."""
    if not values:
        return {"count": 0, f"p50_{unit}": None, f"p90_{unit}": None, f"max_{unit}": None}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        f"p50_{unit}": round(statistics.median(ordered), digits),
        f"p90_{unit}": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], digits),
        f"max_{unit}": round(ordered[-1], digits),
    }


def require_correct(problems: list[str]) -> None:
    """Exit 1 (``WrongResult``) when the run found any problem."""
    if problems:
        raise WrongResult(problems)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return host_platform.processor() or "unknown"


def stack_of(settings: Settings, leave_out: Collection[str] = ()) -> Platform:
    services = [spec for spec in whole_stack(settings) if spec.name not in leave_out]
    return Platform(settings, report=lambda _line: None, services=services)


@contextmanager
def running_stack(
    prefix: str, leave_out: Collection[str] = (), **overrides: Any
) -> Iterator[tuple[Settings, Platform]]:
    """`transit-status run` minus the terminal: platform and pipeline up, stopped (and deleted) afterwards.
    ``overrides``: settings of the run (e.g. ``run_networks``); ``leave_out``: services not started
    (nothing may depend on them, e.g. the watchdog)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as state:
        os.chmod(state, 0o755)  # PostgreSQL runs as its own user and must reach its data below it
        settings = isolated_settings(Path(state)).with_overrides(ready_timeout_s=READY_TIMEOUT_S, **overrides)
        stack = stack_of(settings, leave_out)
        try:
            stack.up()
            yield settings, stack
        finally:
            stack.down()


@contextmanager
def running_platform(prefix: str, use_running: bool) -> Iterator[Platform]:
    """The embedded platform alone (no pipeline processes), on free ports, stopped (and deleted) afterwards;
    with ``use_running``, the one the ``TRANSIT_*`` variables describe, left running."""
    if use_running:
        yield Platform(load_settings(), report=print)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as state:
        os.chmod(state, 0o755)  # PostgreSQL runs as its own user
        platform = Platform(
            isolated_settings(Path(state)).with_overrides(ready_timeout_s=READY_TIMEOUT_S), report=print
        )
        platform.up()
        try:
            yield platform
        finally:
            platform.down()


def timed_until(check: Callable[[], bool], what: str, every_s: float = 0.5, timeout_s: float = WAIT_TIMEOUT_S) -> float:
    """Seconds until ``check()`` holds (polled every ``every_s``); SystemExit after ``timeout_s``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every_s)
    return time.monotonic() - started


def opensearch_counts(client: OpenSearch, settings: Settings, refresh: bool = False) -> dict[str, int]:
    """Documents per topic in London's data streams; {} while a stream does not exist.

    Without ``refresh`` the count sees what OpenSearch's own 1 s refresh has made searchable: a waiting
    benchmark polls this at a low rate instead of forcing a refresh (new segments) on the node it
    measures. ``refresh`` is for the final checks only."""
    counts = {}
    for topic, stream in data_streams(settings).items():
        if not client.indices.exists(index=stream):
            return {}
        if refresh:
            client.indices.refresh(index=stream)
        counts[topic] = int(client.count(index=stream)["count"])
    return counts
