"""Benchmark: latency from produce to a dashboard client receiving the train update, p50/p99.

Starts the whole stack (`transit-status run` minus the terminal) on free ports in a temporary state
directory, connects to the dashboard's WebSocket like the page does, and for every pushed train
update records `received - produced_at` (both wall clock on this one machine). Measures at the
default simulation speed, then restarts only the simulation at a stress speed and measures again.
A phase in which the client received no train update at all ends the run with exit 1 ("WRONG RESULT").
Results: benchmarks/results/dashboard_latency.json, with the machine (cores, RAM, load, commit).

    .venv/bin/python benchmarks/dashboard_latency.py [--seconds 60] [--stress-speed 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import psutil
import websockets

from stack import machine, require_correct, running_stack, stack_of, write_results
from transit_status.config import Settings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def collect(settings: Settings, seconds: float) -> list[float]:
    url = settings.dashboard_url.replace("http://", "ws://", 1) + "/ws"
    latencies: list[float] = []
    async with websockets.connect(url, max_size=None) as socket:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = await asyncio.wait_for(socket.recv(), timeout=left)
            except TimeoutError:
                break
            received_ms = time.time() * 1000
            message = json.loads(frame)
            for update in message.get("updates", []) if message.get("type") == "updates" else []:
                if update["type"] == "train":
                    latencies.append(received_ms - update["train"]["produced_at"])
    return latencies


def summarise(name: str, speed: float, seconds: float, latencies: list[float]) -> dict[str, float | int | str]:
    if not latencies:
        return {"phase": name, "speed": speed, "updates": 0}
    result = {
        "phase": name,
        "speed": speed,
        "updates": len(latencies),
        "updates_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
    }
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring time per phase")
    parser.add_argument("--stress-speed", type=float, default=200.0, help="simulation speed of the stress phase")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds to let the pipeline settle")
    args = parser.parse_args()

    facts = machine()
    results = []
    with running_stack("transit-bench-") as (settings, stack):
        time.sleep(args.warmup)
        latencies = asyncio.run(collect(settings, args.seconds))
        results.append(summarise("default", settings.simulation_speed, args.seconds, latencies))

        # Restart only the simulation, faster; everything else keeps running.
        simulation = stack.running()["simulation"].process()
        if simulation:
            simulation.terminate()
            psutil.wait_procs([simulation], timeout=20)
        stressed = settings.with_overrides(simulation_speed=args.stress_speed)
        stack_of(stressed).up()
        time.sleep(args.warmup)
        latencies = asyncio.run(collect(settings, args.seconds))
        results.append(summarise("stress", args.stress_speed, args.seconds, latencies))
    write_results("dashboard_latency", {"benchmark": "dashboard_latency", "machine": facts, "phases": results})
    empty = [phase["phase"] for phase in results if not phase["updates"]]
    require_correct([f"{phase}: no train update reached the client" for phase in empty])


if __name__ == "__main__":
    main()
