"""Benchmark: how long London's page takes to be live again after a dashboard restart, after a run of
``--minutes`` (issue 14: within 30 s, whatever the run's length).

Starts the whole stack as ``transit-status run`` does (platform and pipeline on free ports in a
temporary state directory, both networks unless ``--networks``, London at full scale, the default
speed), supervised in a thread as ``run`` supervises it, and lets it run for ``--minutes``. Then:

1. For each topic the London page replays on start (station and line activity), the records a
   ``read_committed`` reader from the beginning finds (what compaction left), the end offset (every
   record ever written, transaction markers included) and the latest value of every key.
2. ``kill -9`` of the dashboard's process group; the supervisor restarts it (1 s backoff, as under
   ``run``). Timed from the kill: until the new dashboard answers, until its ``/healthz`` says London
   is loaded (every London topic live, no ``reason`` left), until every station of the run is on the
   page as well (the figure the goal is about), and until London's status is "ok".
3. Correctness (exit 1 if missed): every station and line the topics held before the kill is on
   the page, and no count on it is below the topic's (counts only grow: a lower one is a lost or
   stale update). How many of the network's stations had taps by then is reported too (a short run
   in the simulated night may not reach them all). The goal (≤ 30 s to London live with every
   station) is reported as met or missed, as the other benchmarks report theirs.
4. The same topic figures again after the restart, and how many records the new dashboard read.

    PYTHONPATH=. .venv/bin/python benchmarks/london_recovery.py [--minutes 60] [--networks all|london]

Results: printed, and written to benchmarks/results/london_recovery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid
from typing import Any

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from stack import WrongResult, machine, running_stack, timed_until, write_results
from transit_status.config import Settings
from transit_status.networks.london import load_london_network
from transit_status.platform.supervisor import Platform

GOAL_S = 30.0
TIMEOUT_S = 600.0
OK_TIMEOUT_S = 120.0


def topic_figures(settings: Settings, topic: str, key_field: str) -> dict[str, Any]:
    """Records a reader from the beginning finds (read_committed), end offsets, and each key's latest value."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"bench-recovery-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        end_offsets = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        latest: dict[str, dict[str, Any]] = {}
        found = 0
        at_end: set[int] = set()
        began = time.monotonic()
        while len(at_end) < len(partitions):
            if time.monotonic() - began > TIMEOUT_S:
                raise SystemExit(f"could not read {topic} to its end in {TIMEOUT_S:.0f} s")
            for message in consumer.consume(10_000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    continue
                at_end.discard(message.partition())
                found += 1
                value = message.value()
                if value is not None:
                    record = json.loads(value)
                    latest[record[key_field]] = record
        return {
            "topic": topic,
            "records_found": found,
            "end_offsets_total": sum(end_offsets.values()),
            "read_s": round(time.monotonic() - began, 2),
            "keys": len(latest),
            "latest": latest,
        }
    finally:
        consumer.close()


def replayed_topics(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "station_activity": topic_figures(settings, settings.topic_london_station_activity, "station"),
        "line_activity": topic_figures(settings, settings.topic_london_line_activity, "line"),
    }


def london_health(settings: Settings) -> dict[str, Any] | None:
    try:
        return httpx.get(f"{settings.dashboard_url}/healthz", timeout=2).json()["london"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def page(settings: Settings, path: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{settings.dashboard_url}{path}", timeout=5)
    response.raise_for_status()
    return response.json()


def lower_counts(before: dict[str, dict[str, Any]], shown: list[dict[str, Any]], key: str) -> list[str]:
    """Keys whose count on the page is below the topic's before the kill (or missing from the page)."""
    on_page = {row[key]: row for row in shown}
    lower = []
    for name, record in before.items():
        row = on_page.get(name)
        if row is None or row["entries"] < record["entries"] or row["exits"] < record["exits"]:
            lower.append(name)
    return lower


def restart_dashboard(settings: Settings, stack: Platform, station_names: set[str]) -> dict[str, Any]:
    """Kill the dashboard; time until the supervisor's new one has London loaded, and ``station_names`` shown."""
    record = stack.running()["dashboard"]
    os.killpg(record.pid, signal.SIGKILL)
    killed = time.monotonic()

    def restarted() -> bool:
        now = stack.running().get("dashboard")
        return now is not None and now.pid != record.pid

    restarted_s = timed_until(restarted, "the dashboard's restart", every_s=0.05, timeout_s=TIMEOUT_S)
    answering_s = timed_until(
        lambda: london_health(settings) is not None, "the new dashboard", every_s=0.05, timeout_s=TIMEOUT_S
    )

    def loaded() -> bool:
        health = london_health(settings)
        return (
            health is not None
            and health["reason"] is None
            and all(topic["state"] == "live" for topic in health["topics"].values())
        )

    timed_until(loaded, "London loaded", every_s=0.05, timeout_s=TIMEOUT_S)
    loaded_s = time.monotonic() - killed

    def every_station() -> bool:
        shown = {row["station"] for row in page(settings, "/api/london/stations")}
        return station_names <= shown

    timed_until(every_station, "every station on the page", every_s=0.1, timeout_s=TIMEOUT_S)
    every_station_s = time.monotonic() - killed

    def ok() -> bool:
        health = london_health(settings)
        return health is not None and health["status"] == "ok"

    try:  # reported, not required: "ok" also needs OpenSearch's series and fresh records on every feed
        timed_until(ok, 'London "ok"', every_s=0.1, timeout_s=OK_TIMEOUT_S)
        ok_s: float | None = round(time.monotonic() - killed, 2)
    except SystemExit:
        ok_s = None
    health = london_health(settings) or {}
    return {
        "restarted_after_s": round(restarted_s, 2),
        "answering_after_s": round(restarted_s + answering_s, 2),
        "london_loaded_after_s": round(loaded_s, 2),
        "london_live_with_every_station_after_s": round(every_station_s, 2),
        "london_status_ok_after_s": ok_s,
        "records_read_on_start": {role: view["records"] for role, view in health.get("topics", {}).items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the stack runs before the restart")
    parser.add_argument("--networks", choices=("all", "london"), default="all", help="which networks run")
    args = parser.parse_args()

    result: dict[str, Any] = {"machine": machine(), "minutes": args.minutes, "networks": args.networks}
    failures: list[str] = []
    with running_stack("transit-bench-recovery-", run_networks=args.networks) as (settings, stack):
        stop = threading.Event()
        watcher = threading.Thread(target=stack.supervise, args=(stop.is_set, 0.2), daemon=True)
        watcher.start()
        began = time.monotonic()
        while (left := args.minutes * 60 - (time.monotonic() - began)) > 0:
            time.sleep(min(left, 60))
            print(f"running: {(time.monotonic() - began) / 60:.1f} of {args.minutes:g} min", flush=True)

        before = replayed_topics(settings)
        station_names = set(before["station_activity"]["latest"])
        restart = restart_dashboard(settings, stack, station_names)
        stations = page(settings, "/api/london/stations")
        lines = page(settings, "/api/london/lines")
        after = replayed_topics(settings)
        stop.set()
        watcher.join(10)

    network = load_london_network()
    network_stations = {station.name for station in network.stations.values()}
    if not station_names or not before["line_activity"]["latest"]:
        failures.append("no London activity in the topics before the restart: nothing was measured")
    for role, key, shown in (("station_activity", "station", stations), ("line_activity", "line", lines)):
        if lower := lower_counts(before[role]["latest"], shown, key):
            failures.append(f"{role}: {len(lower)} counts below the topic's before the restart: {lower[:5]}")

    for figures in (*before.values(), *after.values()):
        figures.pop("latest")
    result |= {
        "goal_s": GOAL_S,
        "goal_met": restart["london_live_with_every_station_after_s"] <= GOAL_S,
        "restart": restart,
        "topics_before": before,
        "topics_after": after,
        "stations_on_page": len(stations),
        "network_stations_with_taps": len(network_stations & station_names),
        "network_stations": len(network_stations),
        "lines_on_page": len(lines),
        "network_lines": len(network.lines),
        "failures": failures,
    }
    write_results("london_recovery", result)
    print(json.dumps(result, indent=2))
    if failures:
        raise WrongResult(failures)


if __name__ == "__main__":
    main()
