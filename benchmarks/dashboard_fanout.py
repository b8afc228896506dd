"""Benchmark: the dashboard's WebSocket fan-out to 1,000 clients, with hostile clients on top.

Starts the whole stack on free ports in a temporary state directory (as `dashboard_latency.py`
does), then connects the clients from separate load processes (default 4 x 250, asyncio +
`websockets`), so the load generator's CPU is not the dashboard's event loop. Two phases:

1. **baseline** (`--seconds`): every client reads every frame; one client in `--probe-every` also
   parses each frame and records produce → client latency for every train update
   (`received - produced_at`, both wall clock on this machine);
2. **hostile** (`--hostile-seconds`): the same, plus one client that sends 1,000 `{"type":"resync"}`
   as fast as it can and one that never reads. Others' p99 should not change.

Throughout: the dashboard's RSS every few seconds (flat over a run is the goal) and its CPU, and
`GET /api/state` timed once a second (it must not stall for others). Then every client leaves, and
the RSS is read for `--after-seconds` more: what the dashboard gives back once they are gone. Results:
`benchmarks/results/dashboard_fanout.json`, with the machine (cores, RAM, load, commit). A run that
did not measure what it says (clients not all connected, a probe phase without a latency sample, the
hostile clients' report missing) ends with exit 1 ("WRONG RESULT").

    .venv/bin/python benchmarks/dashboard_fanout.py [--clients 1000] [--processes 4] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from stack import machine, require_correct, running_stack, write_results

RSS_EVERY_S = 2.0
HANDSHAKES_AT_ONCE = 50
"""Per load process: a browser-like ramp, not a SYN flood."""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_summary(latencies: list[float]) -> dict[str, float | int]:
    if not latencies:
        return {"samples": 0}
    return {
        "samples": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
    }


# ---- load processes ---------------------------------------------------------------------------------
def run_load(url: str, clients: int, probe_every: int, first: int, stop: Any, out: str, ready: Any) -> None:
    """One load process: ``clients`` WebSocket clients until ``stop`` is set; results to ``out``."""
    asyncio.run(_load(url, clients, probe_every, first, stop, Path(out), ready))


async def _load(url: str, clients: int, probe_every: int, first: int, stop: Any, out: Path, ready: Any) -> None:
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    samples: list[tuple[float, float]] = []  # (received at, latency ms) of train updates, probes only
    frames = [0] * clients
    snapshots = [0] * clients
    failed: list[str] = []
    sockets: list[Any] = []

    async def client(index: int) -> None:
        probe = (first + index) % probe_every == 0
        try:
            async with handshakes:
                socket = await websockets.connect(url, max_size=None, open_timeout=60)
        except Exception as exc:
            failed.append(f"{type(exc).__name__}: {exc}")
            return
        sockets.append(socket)
        async for frame in socket:
            received_ms = time.time() * 1000
            frames[index] += 1
            if isinstance(frame, str) and frame.startswith('{"type":"snapshot"'):
                snapshots[index] += 1
            elif probe:
                message = json.loads(frame)
                for update in message.get("updates", []) if message.get("type") == "updates" else []:
                    if update["type"] == "train":
                        samples.append((received_ms / 1000, received_ms - update["train"]["produced_at"]))

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    while len(sockets) + len(failed) < clients and not stop.is_set():
        await asyncio.sleep(0.2)
    ready.put(len(sockets))
    while not stop.is_set():
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    out.write_text(
        json.dumps(
            {
                "connected": len(sockets),
                "failed": failed[:5],
                "failed_count": len(failed),
                "samples": samples,
                "frames": frames,
                "snapshots": snapshots,
            }
        )
    )


def run_hostile(url: str, resyncs: int, stop_at: float, out: str) -> None:
    asyncio.run(_hostile(url, resyncs, stop_at, Path(out)))


async def _hostile(url: str, resyncs: int, stop_at: float, out: Path) -> None:
    # Never reads: a small incoming queue makes the library stop reading the TCP socket at once.
    silent = await websockets.connect(url, max_size=None, max_queue=1, open_timeout=60)
    flooder = await websockets.connect(url, max_size=None, open_timeout=60)
    snapshots, frames, received_bytes = 0, 0, 0
    started = time.monotonic()
    for _ in range(resyncs):
        await flooder.send('{"type":"resync"}')
    flood_s = time.monotonic() - started
    try:
        while (left := stop_at - time.time()) > 0:
            frame = await asyncio.wait_for(flooder.recv(), timeout=left)
            frames += 1
            received_bytes += len(frame)
            snapshots += frame.startswith('{"type":"snapshot"')
    except (TimeoutError, websockets.ConnectionClosed):
        pass
    for socket in (flooder, silent):
        # The silent one may already be closed by the server's ping timeout.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.close(), 5)
    result = {"resyncs_sent": resyncs, "flood_s": round(flood_s, 3), "snapshots_received": snapshots}
    result |= {"frames_received": frames, "mb_received": round(received_bytes / 1e6, 2)}
    out.write_text(json.dumps(result))


# ---- the run -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="load processes the clients are spread over")
    parser.add_argument("--probe-every", type=int, default=20, help="one client in N parses every frame")
    parser.add_argument("--seconds", type=float, default=60.0, help="baseline phase")
    parser.add_argument("--hostile-seconds", type=float, default=30.0, help="phase with the hostile clients")
    parser.add_argument("--resyncs", type=int, default=1000, help="resync messages the hostile client sends")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds to let the pipeline settle")
    parser.add_argument("--after-seconds", type=float, default=20.0, help="RSS readings once every client left")
    args = parser.parse_args()
    facts = machine()

    with running_stack("transit-fanout-") as (settings, stack):
        dashboard = stack.running()["dashboard"].process()
        assert dashboard is not None, "the dashboard is not running"
        time.sleep(args.warmup)
        with tempfile.TemporaryDirectory(prefix="transit-fanout-load-") as workdir:
            result = measure(args, settings.dashboard_url, dashboard, Path(workdir))
        result["settings"] = {"simulation_speed": settings.simulation_speed, **vars(args)}
    result = {"benchmark": "dashboard_fanout", "machine": facts, **result}
    result["problems"] = wrong_results(result)
    write_results("dashboard_fanout", result)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb_series"}, indent=2))
    require_correct(result["problems"])


def wrong_results(result: dict[str, Any]) -> list[str]:
    """What makes the run's figures wrong: fewer clients than said, a phase without samples, no hostile report."""
    clients = result["clients"]
    problems = []
    if clients["connected"] != clients["wanted"] or clients["handshake_failures"]:
        problems.append(
            f"{clients['connected']} of {clients['wanted']} clients connected "
            f"({clients['handshake_failures']} handshakes failed: {clients['failure_examples']})"
        )
    for phase in ("baseline", "hostile"):
        if not result[phase]["latency"]["samples"]:
            problems.append(f"{phase}: no train update reached a probe client")
    if result["hostile"]["hostile_clients"] is None:
        problems.append("the hostile clients wrote no report")
    return problems


def clients_gone(url: str, timeout_s: float = 60.0) -> float:
    """When the dashboard counts no WebSocket client any more (epoch s)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if httpx.get(url + "/healthz", timeout=30).json()["websocket_clients"] == 0:
            return time.time()
        time.sleep(0.5)
    raise SystemExit(f"the dashboard still counted clients {timeout_s:.0f} s after they left")


def measure(args: argparse.Namespace, url: str, dashboard: psutil.Process, workdir: Path) -> dict[str, Any]:
    ws_url = url.replace("http", "ws", 1) + "/ws"
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Queue()
    stop = spawn.Event()
    connect_budget_s = 120.0
    rss: list[tuple[float, float]] = []
    api_ms: list[tuple[float, float]] = []

    def sample(until: float) -> None:
        """RSS every RSS_EVERY_S and /api/state once a second, until ``until`` (epoch s)."""
        next_rss = 0.0
        with httpx.Client(timeout=30) as http:
            while (now := time.time()) < until:
                if now >= next_rss:
                    rss.append((now, dashboard.memory_info().rss / 1e6))
                    next_rss = now + RSS_EVERY_S
                started = time.perf_counter()
                http.get(url + "/api/state").raise_for_status()
                api_ms.append((time.time(), (time.perf_counter() - started) * 1000))
                time.sleep(max(0.0, 1.0 - (time.time() - now)))

    rss.append((time.time(), dashboard.memory_info().rss / 1e6))
    per_process = [args.clients // args.processes + (i < args.clients % args.processes) for i in range(args.processes)]
    # Every load process stops at the same moment; the phases are cut by wall-clock time.
    workers, outputs, first = [], [], 0
    for n, clients in enumerate(per_process):
        out = workdir / f"load-{n}.json"
        worker = spawn.Process(target=run_load, args=(ws_url, clients, args.probe_every, first, stop, str(out), ready))
        worker.start()
        workers.append(worker)
        outputs.append(out)
        first += clients
    connected = sum(ready.get(timeout=connect_budget_s + 30) for _ in workers)
    connected_at = time.time()
    print(f"{connected} of {args.clients} clients connected in {connected_at - rss[0][0]:.1f} s")
    cpu_start = dashboard.cpu_times()

    baseline_end = connected_at + args.seconds
    sample(baseline_end)
    cpu_baseline = dashboard.cpu_times()
    hostile_out = workdir / "hostile.json"
    hostile_end = baseline_end + args.hostile_seconds
    hostile = spawn.Process(target=run_hostile, args=(ws_url, args.resyncs, hostile_end, str(hostile_out)))
    hostile.start()
    sample(hostile_end)
    cpu_hostile = dashboard.cpu_times()
    stop.set()
    hostile.join(30)
    for worker in workers:
        worker.join(60)
    left_at = clients_gone(url)
    after: list[float] = []
    while time.time() < left_at + args.after_seconds:
        time.sleep(RSS_EVERY_S)
        after.append(dashboard.memory_info().rss / 1e6)

    loads = [json.loads(out.read_text()) for out in outputs]
    samples = [tuple(s) for load in loads for s in load["samples"]]
    frames = [count for load in loads for count in load["frames"]]

    def phase(start: float, end: float) -> dict[str, Any]:
        return {
            "seconds": round(end - start, 1),
            "latency": latency_summary([lat for at, lat in samples if start <= at < end]),
            "api_state": latency_summary([ms for at, ms in api_ms if start <= at < end]),
        }

    def cpu_s(before: Any, after: Any) -> float:
        return round((after.user + after.system) - (before.user + before.system), 1)

    rss_values = [mb for _, mb in rss]
    after_connect = [mb for at, mb in rss if at >= connected_at]
    half = len(after_connect) // 2
    return {
        "clients": {
            "wanted": args.clients,
            "connected": connected,
            "handshake_failures": sum(load["failed_count"] for load in loads),
            "failure_examples": [f for load in loads for f in load["failed"]][:3],
            "load_processes": args.processes,
            "probes": sum(1 for i in range(args.clients) if i % args.probe_every == 0),
            "frames_per_client_min": min(frames, default=0),
            "frames_per_client_median": statistics.median(frames) if frames else 0,
            "snapshots_per_client_max": max((n for load in loads for n in load["snapshots"]), default=0),
        },
        "baseline": {**phase(connected_at, baseline_end), "dashboard_cpu_s": cpu_s(cpu_start, cpu_baseline)},
        "hostile": {
            **phase(baseline_end, hostile_end),
            "dashboard_cpu_s": cpu_s(cpu_baseline, cpu_hostile),
            "hostile_clients": json.loads(hostile_out.read_text()) if hostile_out.exists() else None,
        },
        "rss_mb": {
            "before_clients": round(rss_values[0], 1),
            "after_connect_first_half_mean": round(statistics.mean(after_connect[:half]), 1) if half else None,
            "after_connect_second_half_mean": round(statistics.mean(after_connect[half:]), 1) if half else None,
            "max": round(max(rss_values), 1),
            "end": round(rss_values[-1], 1),
            # Once every client has left (the dashboard's /healthz counts none): first and last reading.
            "after_clients_left_first": round(after[0], 1) if after else None,
            "after_clients_left_last": round(after[-1], 1) if after else None,
        },
        "rss_mb_series": [[round(at - rss[0][0], 1), round(mb, 1)] for at, mb in rss],
    }


if __name__ == "__main__":
    main()
