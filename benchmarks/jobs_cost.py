"""Benchmark: the CPU and memory the new jobs of issue 18 add (cta-run-times, cta-service-health, london-crowding).

Two runs of the whole stack (both networks, `transit-status run` minus the terminal), each on free ports
in a temporary state directory, under the simulations' normal load (default speeds):

- ``without``: the SQL jobs as before issue 18 (turnstile-summary, london-barriers);
- ``with``: every job, as `run` starts them.

The three jobs are left out by submitting only the others (the pipeline's job lists, patched in this
process, which is the one that submits them); the watchdog, which would submit them again, is left out of
both runs so the runs differ only in the jobs. The dashboard is the same in both: its consumers of the new
topics (alerts, headways, run times) run in both, and read nothing in ``without``, so its difference is
the cost of the jobs' output reaching it, not of the code that reads it.

Each run settles ``--settle`` seconds after every service is ready (the jobs submitted and running),
then for ``--seconds`` seconds: CPU (user + system seconds of every process, its children included,
from /proc through psutil, the difference over the window, also as % of one core), resident memory
(RSS sampled every 5 s: mean and last), and the TaskManager's JVM heap in use (Flink's own metric,
sampled likewise). Added = with - without, per service and in total. The JVMs' RSS grows as their heap
is touched and is rarely given back, so both runs are measured at the same age.

Results: benchmarks/results/jobs_cost.json, with the machine. Every job of a run not RUNNING at the end
ends the run with exit 1 ("WRONG RESULT").

    .venv/bin/python benchmarks/jobs_cost.py [--settle 60] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from unittest import mock

import httpx

from stack import machine, require_correct, running_stack, stack_cpu_s, stack_rss_mib, write_results
from transit_status.config import Settings
from transit_status.pipeline import services as pipeline_services
from transit_status.pipeline.sql_jobs import (
    CTA_JOBS,
    CTA_RUN_TIMES,
    CTA_SERVICE_HEALTH,
    LONDON_CROWDING,
    LONDON_JOBS,
    SqlJob,
    cluster_jobs,
)
from transit_status.platform.supervisor import Platform

NEW_JOBS: tuple[SqlJob, ...] = (CTA_RUN_TIMES, CTA_SERVICE_HEALTH, LONDON_CROWDING)
"""Issue 18's jobs: the difference between the two runs."""
SAMPLE_EVERY_S = 5.0
WATCHDOG = "watchdog"
MEASURES = ("cpu_s", "cpu_percent_of_a_core", "rss_mib_mean", "rss_mib_last", "taskmanager_heap_mib_mean")


def jobs_of(phase: str) -> tuple[tuple[SqlJob, ...], tuple[SqlJob, ...]]:
    """The Chicago and London jobs a run submits."""
    if phase == "with":
        return CTA_JOBS, LONDON_JOBS
    return (
        tuple(job for job in CTA_JOBS if job not in NEW_JOBS),
        tuple(job for job in LONDON_JOBS if job not in NEW_JOBS),
    )


@contextmanager
def submitting(cta: tuple[SqlJob, ...], london: tuple[SqlJob, ...]) -> Iterator[None]:
    """The pipeline's processes, prepared in this process, submit only these jobs."""
    with (
        mock.patch.object(pipeline_services, "CTA_JOBS", cta),
        mock.patch.object(pipeline_services, "LONDON_JOBS", london),
    ):
        yield


def taskmanager_heap_mib(settings: Settings) -> dict[str, float]:
    """Each TaskManager's JVM heap in use (Flink's Status.JVM.Memory.Heap.Used), MiB."""
    heap = {}
    base = settings.flink_rest_url
    for manager in httpx.get(f"{base}/taskmanagers", timeout=10).json()["taskmanagers"]:
        metrics = httpx.get(
            f"{base}/taskmanagers/{manager['id']}/metrics", params={"get": "Status.JVM.Memory.Heap.Used"}, timeout=10
        ).json()
        for metric in metrics:
            heap[manager["id"]] = float(metric["value"]) / 2**20
    return heap


def window(stack: Platform, settings: Settings, seconds: float) -> dict[str, Any]:
    """CPU seconds used over ``seconds``, RSS and TaskManager heap sampled every ``SAMPLE_EVERY_S``."""
    rss: dict[str, list[float]] = {}
    heap: dict[str, list[float]] = {}
    cpu_before, began = stack_cpu_s(stack), time.monotonic()
    while True:
        for name, mib in stack_rss_mib(stack).items():
            rss.setdefault(name, []).append(mib)
        for name, mib in taskmanager_heap_mib(settings).items():
            heap.setdefault(name, []).append(mib)
        left = seconds - (time.monotonic() - began)
        if left <= 0:
            break
        time.sleep(min(SAMPLE_EVERY_S, left))
    elapsed = time.monotonic() - began
    cpu_after = stack_cpu_s(stack)
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    return {
        "seconds": round(elapsed, 1),
        "cpu_s": {name: round(value, 2) for name, value in sorted(cpu.items())},
        "cpu_percent_of_a_core": {name: round(100 * value / elapsed, 1) for name, value in sorted(cpu.items())},
        "rss_mib_mean": {name: round(statistics.fmean(values)) for name, values in sorted(rss.items())},
        "rss_mib_last": {name: round(values[-1]) for name, values in sorted(rss.items())},
        "taskmanager_heap_mib_mean": {name: round(statistics.fmean(values)) for name, values in sorted(heap.items())},
    }


def measure(phase: str, settle_s: float, seconds: float) -> dict[str, Any]:
    cta, london = jobs_of(phase)
    print(f"\n== {phase}: {', '.join(job.name for job in cta + london)}", flush=True)
    with (
        submitting(cta, london),
        running_stack(f"transit-bench-jobs-{phase}-", leave_out=(WATCHDOG,)) as (
            settings,
            stack,
        ),
    ):
        time.sleep(settle_s)
        measured = window(stack, settings, seconds)
        expected = {job.job_name(settings) for job in cta + london}
        running = {job["name"] for job in cluster_jobs(settings) if job["state"] == "RUNNING"}
    result = {
        "phase": phase,
        "jobs": sorted(job.name for job in cta + london),
        "problems": [f"{phase}: {name} not running" for name in sorted(expected - running)]
        + [f"{phase}: {name} running, not asked for" for name in sorted(running - expected)],
        **measured,
    }
    print(json.dumps(result), flush=True)
    return result


def added(without: Mapping[str, float], with_: Mapping[str, float]) -> dict[str, float]:
    """with - without per service present in both, and the total over every service."""
    both = sorted(set(without) & set(with_))
    delta = {name: round(with_[name] - without[name], 2) for name in both}
    delta["total"] = round(sum(with_.values()) - sum(without.values()), 2)
    return delta


def compare(without: dict[str, Any], with_: dict[str, Any]) -> dict[str, Any]:
    return {name: added(without[name], with_[name]) for name in MEASURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after ready before measuring")
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring window per run")
    args = parser.parse_args()
    facts = machine()
    without = measure("without", args.settle, args.seconds)
    with_ = measure("with", args.settle, args.seconds)
    result = {
        "benchmark": "jobs_cost",
        "machine": facts,
        "new_jobs": [job.name for job in NEW_JOBS],
        "settle_s": args.settle,
        "runs": [without, with_],
        "added": compare(without, with_),
    }
    print(json.dumps(result["added"]))
    output = write_results("jobs_cost", result)
    print(f"results in {output}")
    require_correct(without["problems"] + with_["problems"])


if __name__ == "__main__":
    main()
