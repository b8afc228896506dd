"""Benchmark: how fast the whole stack stops, and how fast the supervisor heals a `kill -9`.

Starts platform + pipeline (`transit-status run` without the terminal) on free ports in a temporary
state directory, supervises it in a thread as `run` does, then for each victim in turn kills its
whole process group with SIGKILL and times until a new process of that service is healthy again
(goal: 30 s). Finally it stops everything the way `run` does on Ctrl-C and times that (goal: 20 s),
noting any service that had to be killed.

    .venv/bin/python benchmarks/stop_and_recovery.py [--victims kafka,postgres,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host_platform
import signal
import threading
import time
from pathlib import Path

from stack import running_stack, stack_rss_mib
from transit_status.platform.supervisor import Platform

RESULTS = Path(__file__).with_name("results")
DEFAULT_VICTIMS = (
    "kafka",
    "schema-registry",
    "rest-proxy",
    "connect",
    "postgres",
    "mariadb",
    "opensearch",
    "flink-taskmanager",
    "streams",
    "dashboard",
)


def healthy_again(stack: Platform, name: str, old_pid: int, timeout_s: float) -> float | None:
    """Seconds until a new process of ``name`` is healthy, or None after ``timeout_s``."""
    spec = next(spec for spec in stack.specs if spec.name == name)
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        record = stack.running().get(name)
        if record is not None and record.pid != old_pid and spec.healthy():
            return time.monotonic() - began
        time.sleep(0.2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--victims", default=",".join(DEFAULT_VICTIMS), help="services to kill, in order")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on one recovery after this long")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds of running before RSS is read")
    args = parser.parse_args()
    victims = [name for name in args.victims.split(",") if name]

    recovery: dict[str, float | None] = {}
    with running_stack("transit-bench-faults-") as (_settings, stack):
        time.sleep(args.settle)  # both simulations running, every job and sink busy
        rss = stack_rss_mib(stack)
        print(f"whole stack RSS {sum(rss.values()):.0f} MiB: " + ", ".join(f"{n} {m:.0f}" for n, m in rss.items()))
        reports: list[str] = []
        stack.report = reports.append
        stop = threading.Event()
        watcher = threading.Thread(target=stack.supervise, args=(stop.is_set, 0.2), daemon=True)
        watcher.start()
        for victim in victims:
            record = stack.running()[victim]
            os.killpg(record.pid, signal.SIGKILL)
            recovery[victim] = healthy_again(stack, victim, record.pid, args.timeout)
            print(f"{victim}: {'not back' if recovery[victim] is None else f'{recovery[victim]:.1f} s'}", flush=True)
            time.sleep(5)  # let dependents settle before the next fault
        stop.set()
        watcher.join(10)
        began = time.monotonic()
        stack.down()
        stop_s = time.monotonic() - began
        killed = [line for line in reports if "killing" in line]
    print(f"whole stack stopped in {stop_s:.1f} s; forced kills: {killed or 'none'}")

    RESULTS.mkdir(exist_ok=True)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "system": host_platform.platform(),
            "python": host_platform.python_version(),
        },
        "rss_mib": rss,
        "rss_total_mib": sum(rss.values()),
        "recovery_s": recovery,
        "stack_stop_s": stop_s,
        "forced_kills": killed,
    }
    (RESULTS / "stop_and_recovery.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
