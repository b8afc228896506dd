"""Benchmark: what each network costs to start, and what three brokers and two TaskManagers cost.

In one run, on free ports and temporary state directories, with RSS per process:

1. start-up and memory per network: what `run --network cta`, `--network london` and both start
   (only the services those pipelines need), from `up` to every service ready, then the resident
   memory of every process after ``--settle`` seconds of data flowing. Goal: `--network cta` ready in
   25 s or less, in 2.0 GiB or less;
2. per cluster shape (1 broker and 1 TaskManager; 3 brokers; 2 TaskManagers): the whole stack, then
   - produce -> dashboard latency of the train updates, p50/p99, for ``--seconds``;
   - with the pipeline's processes stopped, the turnstile counts' throughput, exactly once, end to end
     (benchmarks/turnstile_throughput.py's phase, after a warm-up run), and plain confluent-kafka
     produce -> consume. Replication's cost is the three-broker rate against the one-broker rate
     (goal: at most 30 % lower).

A count that is not exact, or a phase in which the dashboard sent no train update, ends the run
with exit 1 ("WRONG RESULT").

    .venv/bin/python benchmarks/cluster_cost.py [--settle 20] [--seconds 45] [--events 200000]
        [--shapes 1x1,3x1,1x2]

Results: printed, and written to benchmarks/results/cluster_cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from dashboard_latency import collect, summarise
from stack import machine, require_correct, running_stack, stack_rss_mib, write_results
from transit_status.pipeline import pipeline_services
from turnstile_throughput import STATIONS, FlinkProcesses, measure_flink_end_to_end, measure_plain, serialized_records
from turnstile_throughput import station_ids as turnstile_station_ids

CTA_READY_GOAL_S = 25.0
CTA_RSS_GOAL_GIB = 2.0
REPLICATION_COST_GOAL = 0.30


def measure_network(network: str, settle_s: float) -> dict[str, Any]:
    """Start-up and resident memory of what `run --network <network>` starts."""
    began = time.monotonic()
    with running_stack(f"transit-bench-{network}-", run_networks=network) as (_settings, stack):
        ready_s = time.monotonic() - began
        time.sleep(settle_s)
        rss = stack_rss_mib(stack)
        services = sorted(stack.running())
    total_gib = sum(rss.values()) / 1024
    result = {
        "network": network,
        "services": services,
        "ready_s": round(ready_s, 1),
        "rss_mib": {name: round(mib) for name, mib in sorted(rss.items())},
        "rss_total_gib": round(total_gib, 2),
    }
    print(json.dumps(result), flush=True)
    return result


def measure_shape(brokers: int, taskmanagers: int, seconds: float, events: int) -> dict[str, Any]:
    """Dashboard latency and exactly-once turnstile throughput on one cluster shape."""
    shape = f"{brokers} broker(s), {taskmanagers} TaskManager(s)"
    print(f"\n== {shape}", flush=True)
    overrides = {"kafka_brokers": brokers, "flink_taskmanagers": taskmanagers}
    with running_stack(f"transit-bench-{brokers}x{taskmanagers}-", **overrides) as (settings, stack):
        time.sleep(10)  # the pipeline settles
        latency = summarise(shape, settings.simulation_speed, seconds, asyncio.run(collect(settings, seconds)))
        rss_running = stack_rss_mib(stack)
        # The throughput phases measure the cluster, not the simulation competing for the 2 cores.
        stack.stop([spec.name for spec in pipeline_services(settings)])
        flink = FlinkProcesses(stack)
        ids = turnstile_station_ids(events, STATIONS)
        plain = measure_plain(settings, serialized_records(settings, ids, "bench-plain"))
        measure_flink_end_to_end(settings, turnstile_station_ids(events // 2, STATIONS, seed=5), flink)  # warm-up
        flink_run = measure_flink_end_to_end(settings, ids, flink)
    result = {
        "brokers": brokers,
        "taskmanagers": taskmanagers,
        "flink_parallelism": settings.flink_job_parallelism,
        "dashboard_latency": latency,
        "plain_events_per_s": plain["end_to_end_events_per_s"],
        "flink_events_per_s": flink_run["end_to_end_events_per_s"],
        "flink_counts_exact": flink_run["counts_exact"],
        "problems": flink_run["problems"],
        "rss_mib_running": {name: round(mib) for name, mib in sorted(rss_running.items())},
        "rss_total_gib_running": round(sum(rss_running.values()) / 1024, 2),
    }
    print(json.dumps({key: value for key, value in result.items() if key != "rss_mib_running"}), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of data flowing before RSS is read")
    parser.add_argument("--seconds", type=float, default=45.0, help="seconds of dashboard latency per shape")
    parser.add_argument("--events", type=int, default=200_000, help="turnstile events of each throughput run")
    parser.add_argument("--shapes", default="1x1,3x1,1x2", help="BROKERSxTASKMANAGERS, comma-separated")
    parser.add_argument("--networks", default="cta,london,all", help="networks whose start-up is measured")
    args = parser.parse_args()
    shapes = [tuple(int(part) for part in shape.split("x")) for shape in args.shapes.split(",") if shape]

    results: dict[str, Any] = {"benchmark": "cluster_cost", "machine": machine()}
    results["networks"] = [measure_network(network, args.settle) for network in args.networks.split(",") if network]
    results["shapes"] = [measure_shape(brokers, tms, args.seconds, args.events) for brokers, tms in shapes]

    by_shape = {(shape["brokers"], shape["taskmanagers"]): shape for shape in results["shapes"]}
    goals: dict[str, bool] = {}
    cta = next((run for run in results["networks"] if run["network"] == "cta"), None)
    if cta:
        goals["cta_ready_within_25_s"] = cta["ready_s"] <= CTA_READY_GOAL_S
        goals["cta_within_2_gib"] = cta["rss_total_gib"] <= CTA_RSS_GOAL_GIB
    if (1, 1) in by_shape and (3, 1) in by_shape:
        one, three = by_shape[(1, 1)]["flink_events_per_s"], by_shape[(3, 1)]["flink_events_per_s"]
        results["replication_cost"] = round(1 - three / one, 3)
        goals["three_brokers_cost_at_most_30_percent"] = results["replication_cost"] <= REPLICATION_COST_GOAL
    results["goals"] = goals
    problems = [problem for shape in results["shapes"] for problem in shape["problems"]]
    problems += [
        f"{shape['brokers']}x{shape['taskmanagers']}: no train update reached the dashboard's client"
        for shape in results["shapes"]
        if not shape["dashboard_latency"].get("updates")
    ]
    results["correct"] = not problems
    output = write_results("cluster_cost", results)

    print(f"\nmachine: {results['machine']}")
    for run in results["networks"]:
        print(
            f"--network {run['network']}: ready in {run['ready_s']} s, {run['rss_total_gib']} GiB "
            f"({len(run['services'])} processes)"
        )
    for shape in results["shapes"]:
        latency = shape["dashboard_latency"]
        print(
            f"{shape['brokers']} broker(s), {shape['taskmanagers']} TaskManager(s) (parallelism "
            f"{shape['flink_parallelism']}): exactly-once {shape['flink_events_per_s']} events/s, plain "
            f"{shape['plain_events_per_s']} events/s, dashboard p99 {latency.get('p99_ms')} ms, "
            f"{shape['rss_total_gib_running']} GiB running"
        )
    if "replication_cost" in results:
        print(f"three brokers' cost in exactly-once throughput: {results['replication_cost']:.1%}")
    print(f"goals: {goals}\nwritten to {output}")
    require_correct(problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
