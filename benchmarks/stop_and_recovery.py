"""Benchmark: how fast the whole stack stops, and how fast a `kill -9` is healed: the process, the work
and the data on the page.

Starts platform + pipeline (`transit-status run` without the terminal: both networks, the watchdog)
on free ports in a temporary state directory, supervises it in a thread as `run` does, then for each
victim in turn kills its whole process group with SIGKILL and times, from the kill:

- `process_s`: until a new process of that service is healthy again;
- `work_s`: until every SQL job, connector and connector task runs again (pipeline/work.py);
- `page_s`: until, after that, the page's data moves again: Chicago's turnstile total and London's
  entries total (the dashboard's JSON API) both grow between two reads.

Goal: 30 s for each, per kill. Finally it stops everything the way `run` does on Ctrl-C and times
that (goal: 15 s), noting any service that had to be killed. A victim not healed within `--timeout`
ends the run with exit 1 ("WRONG RESULT"), after the results are written.

    .venv/bin/python benchmarks/stop_and_recovery.py [--victims kafka,postgres,...]
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Callable

import httpx

from stack import WrongResult, machine, running_stack, stack_rss_mib, write_results
from transit_status.config import Settings
from transit_status.pipeline.work import inspect_work
from transit_status.platform.supervisor import Platform

DEFAULT_VICTIMS = (
    "kafka",
    "schema-registry",
    "rest-proxy",
    "connect",
    "postgres",
    "mariadb",
    "opensearch",
    "flink-jobmanager",
    "flink-taskmanager",
    "sql-gateway",
    "streams",
    "barriers",
    "opensearch-sink",
    "dashboard",
    "watchdog",
)
GOAL_S = 30.0
STOP_GOAL_S = 15.0


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


def work_running(settings: Settings) -> bool:
    """Every SQL job and connector (with its tasks) of the run is running."""
    return all(item.ok for item in inspect_work(settings))


def page_totals(settings: Settings) -> tuple[int, int] | None:
    """(Chicago's turnstile entries, London's entries) as the page shows them; None if it cannot say."""
    try:
        turnstiles = httpx.get(f"{settings.dashboard_url}/api/turnstiles", timeout=2.0).json()
        london = httpx.get(f"{settings.dashboard_url}/api/london/stations", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    return sum(turnstiles.values()), sum(station["entries"] for station in london)


def seconds_until(check: Callable[[], bool], began: float, timeout_s: float, every_s: float = 0.2) -> float | None:
    while time.monotonic() - began < timeout_s:
        if check():
            return time.monotonic() - began
        time.sleep(every_s)
    return None


def page_moving(settings: Settings, began: float, timeout_s: float) -> float | None:
    """Seconds from ``began`` until both totals grew between two successive reads of the page."""
    grown = [False, False]
    last = page_totals(settings)
    while time.monotonic() - began < timeout_s:
        time.sleep(0.5)
        now = page_totals(settings)
        if now is not None and last is not None:
            grown = [was or new > old for was, new, old in zip(grown, now, last, strict=True)]
            if all(grown):
                return time.monotonic() - began
        last = now if now is not None else last
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--victims", default=",".join(DEFAULT_VICTIMS), help="services to kill, in order")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on one recovery after this long")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds of running before RSS is read")
    args = parser.parse_args()
    victims = [name for name in args.victims.split(",") if name]
    facts = machine()

    recovery: dict[str, dict[str, float | None]] = {}
    with running_stack("transit-bench-faults-") as (settings, stack):
        time.sleep(args.settle)  # both simulations running, every job and sink busy
        rss = stack_rss_mib(stack)
        print(f"whole stack RSS {sum(rss.values()):.0f} MiB: " + ", ".join(f"{n} {m:.0f}" for n, m in rss.items()))
        reports: list[str] = []
        stack.report = reports.append
        stop = threading.Event()
        watcher = threading.Thread(target=stack.supervise, args=(stop.is_set, 0.2), daemon=True)
        watcher.start()
        if seconds_until(lambda: work_running(settings), time.monotonic(), args.timeout) is None:
            raise SystemExit("the work was not running before the first kill")
        for victim in victims:
            record = stack.running()[victim]
            began = time.monotonic()
            os.killpg(record.pid, signal.SIGKILL)
            process_s = healthy_again(stack, victim, record.pid, args.timeout)
            work_s = seconds_until(lambda: work_running(settings), began, args.timeout, every_s=0.5)
            page_s = page_moving(settings, began, args.timeout)
            recovery[victim] = {"process_s": process_s, "work_s": work_s, "page_s": page_s}
            shown = ", ".join(f"{k} {'not back' if v is None else f'{v:.1f}'}" for k, v in recovery[victim].items())
            print(f"{victim}: {shown}", flush=True)
            time.sleep(5)  # let dependents settle before the next fault
        stop.set()
        watcher.join(10)
        began = time.monotonic()
        stack.down()
        stop_s = time.monotonic() - began
        killed = [line for line in reports if "killing" in line]
    print(f"whole stack stopped in {stop_s:.1f} s; forced kills: {killed or 'none'}")

    missed = sorted(
        victim for victim, times in recovery.items() if any(t is None or t > GOAL_S for t in times.values())
    )
    result = {
        "benchmark": "stop_and_recovery",
        "machine": facts,
        "settle_s": args.settle,
        "goal_s": GOAL_S,
        "stop_goal_s": STOP_GOAL_S,
        "over_goal": missed,
        "rss_mib": rss,
        "rss_total_mib": sum(rss.values()),
        "recovery_s": recovery,
        "stack_stop_s": stop_s,
        "forced_kills": killed,
    }
    not_back = [victim for victim, times in recovery.items() if None in times.values()]
    result["not_healed"] = not_back
    write_results("stop_and_recovery", result)
    if not_back:
        # Work that never came back is a wrong result, not a slow one.
        raise WrongResult(f"not healed within {args.timeout:.0f} s: {', '.join(not_back)}")
    if missed:
        print(f"over the {GOAL_S:.0f} s goal: {', '.join(missed)}")


if __name__ == "__main__":
    main()
