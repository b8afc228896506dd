"""Benchmark: time from `platform up` to all-healthy, and the stack's resident memory.

Runs the real embedded platform on free ports in a temporary state directory (jars already cached):
a first start (fresh state: initdb, storage format) and then several restarts (existing data, cold
processes). After each start it sums the RSS of every service process and its children, and notes
when each service became ready (seconds since `up` began, from the supervisor's own report).

    .venv/bin/python benchmarks/platform_startup.py [--restarts 3] [--settle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from stack import WrongResult, machine, stack_rss_mib, write_results
from transit_status.platform.ports import isolated_settings
from transit_status.platform.supervisor import Platform

READY_LINE = re.compile(r"ready\s+(?P<name>\S+) \((?P<seconds>[\d.]+) s\)")


class ReadyTimes:
    """Collects the supervisor's `ready <service> (<s> s)` lines of one `up`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def report(self, line: str) -> None:
        if match := READY_LINE.search(line):
            self.seconds[match["name"]] = float(match["seconds"])


def timed_up(supervisor: Platform, settle_s: float, ready: ReadyTimes) -> tuple[float, dict[str, float]]:
    ready.seconds.clear()
    began = time.monotonic()
    supervisor.up()
    ready_s = time.monotonic() - began
    time.sleep(settle_s)  # RSS after start-up's transient work has settled
    return ready_s, stack_rss_mib(supervisor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=3, help="warm-data restarts to time (default 3)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait before reading RSS")
    args = parser.parse_args()
    facts = machine()

    with tempfile.TemporaryDirectory(prefix="transit-bench-") as state:
        os.chmod(state, 0o755)
        ready = ReadyTimes()
        supervisor = Platform(isolated_settings(Path(state)), report=ready.report)
        services = [spec.name for spec in supervisor.specs]
        try:
            first_s, first_rss = timed_up(supervisor, args.settle, ready)
            first_ready = dict(ready.seconds)
            print(f"first start (fresh state): ready in {first_s:.1f} s, RSS {sum(first_rss.values()):.0f} MiB")
            restarts: list[float] = []
            rss_totals: list[float] = [sum(first_rss.values())]
            last_rss = first_rss
            for number in range(args.restarts):
                supervisor.down()
                ready_s, last_rss = timed_up(supervisor, args.settle, ready)
                restarts.append(ready_s)
                rss_totals.append(sum(last_rss.values()))
                print(f"restart {number + 1}: ready in {ready_s:.1f} s, RSS {rss_totals[-1]:.0f} MiB")
        finally:
            supervisor.down()

    # `up` raises when a service is not ready; a service missing from its report would be a wrong figure.
    unreported = sorted(set(services) - set(first_ready)) or sorted(set(services) - set(ready.seconds))
    if unreported:
        raise WrongResult(f"no ready time reported for {', '.join(unreported)}")
    result = {
        "benchmark": "platform_startup",
        "machine": facts,
        "first_start_ready_s": round(first_s, 2),
        "restart_ready_s": [round(value, 2) for value in restarts],
        "restart_ready_median_s": round(statistics.median(restarts), 2) if restarts else None,
        "first_start_ready_s_per_service": first_ready,
        "restart_ready_s_per_service_last": dict(ready.seconds),
        "rss_total_mib_max": round(max(rss_totals), 1),
        "rss_per_service_mib_last": {name: round(value, 1) for name, value in sorted(last_rss.items())},
    }
    write_results("platform_startup", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
