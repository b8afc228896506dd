"""The pipeline on a three-broker Kafka (`--brokers 3`), and a broker lost mid-run.

A stack of its own (the session's platform has one broker): both networks' pipelines on three KRaft
nodes. First what three brokers promise: every topic, Kafka's own and the registry's and Connect's
included, has three replicas and acknowledges a write at two, and `platform status` shows each
broker, the controller and the partitions short of replicas. Then `kill -9` of the broker that leads
most of the turnstile topic's partitions, kept down for a while and started again. Nothing
acknowledged is lost, counted from the producers' side; the turnstile counts are exact against the
topic; London's taps are exactly once in every output; the dashboard's trains pause a few seconds at most; and the
restarted broker catches up until no partition is under-replicated.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from opensearchpy import OpenSearch

from tests.fault_checks import (
    SupervisedStack,
    connectors_not_running,
    final_simulation_counts,
    jobs_not_running,
    summary_counts,
    summary_diagnosis,
    train_positions,
    turnstile_entries_by_station,
)
from tests.helpers import acknowledged, end_offsets
from tests.london_checks import event_time_moving, input_taps, london_differences, until_none_differ
from tests.processes import wait_until
from transit_status.config import Settings
from transit_status.pipeline import pipeline_services, whole_stack
from transit_status.platform.ports import isolated_settings
from transit_status.platform.services.kafka import ClusterView, cluster_view
from transit_status.platform.supervisor import Platform

pytestmark = [pytest.mark.platform]

LONDON_START = "2023-06-07T08:00"  # a weekday morning, London time: taps whatever the hour of the run
OUTAGE_S = 20.0  # how long the killed broker stays down: past its fencing, so leadership really moves
# "A pause of a few seconds at most": fencing takes 6 s (broker.session.timeout.ms), then clients
# refresh their metadata; a loaded 2-core machine adds its share.
MAX_TRAIN_PAUSE_S = 15.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[SupervisedStack]:
    # Not pytest's tmp_path: it is private to root (0700), and PostgreSQL runs as 'postgres'.
    state_dir = Path(tempfile.mkdtemp(prefix="transit-cluster-"))
    os.chmod(state_dir, 0o755)
    settings = isolated_settings(
        state_dir,
        kafka_brokers=3,
        # One TaskManager: at parallelism 2 (two), London's last taps stay held in the joins after a job
        # failover, which a broker's loss causes too (docs/OPERATIONS.md, "More TaskManagers").
        ready_timeout_s=300.0,
        simulation_speed=30.0,
        london_barrier_scale=0.01,  # about 35 taps a second: London's checks need taps, not load
        london_barrier_start=LONDON_START,
    )
    reports: list[str] = []

    def report(line: str) -> None:
        reports.append(line)
        print(line, flush=True)

    platform = Platform(settings, report=report, services=whole_stack(settings))
    stack = SupervisedStack(settings, platform, tuple(spec.name for spec in pipeline_services(settings)), reports)
    stop = threading.Event()
    watcher = threading.Thread(target=platform.supervise, args=(stop.is_set, 0.5), daemon=True)
    try:
        platform.up()
        watcher.start()
        yield stack
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(10)
        platform.down()
        if os.environ.get("KEEP_TEST_STATE") != "1":
            shutil.rmtree(state_dir, ignore_errors=True)


def settled(settings: Settings) -> ClusterView | None:
    """The cluster view once all three brokers are alive, a controller leads and every replica is in sync."""
    view = cluster_view(settings)
    if view and len(view.alive) == 3 and view.quorum_leader is not None and not view.under_replicated:
        return view
    return None


def test_every_topic_has_three_replicas_and_status_shows_the_cluster(cluster: SupervisedStack) -> None:
    settings = cluster.settings
    wait_until(lambda: train_positions(cluster), 120, "the dashboard to show trains")
    wait_until(lambda: settled(settings), 120, "three brokers alive, a quorum leader, every replica in sync")
    admin = AdminClient(settings.kafka_client_config())
    topics = [
        # The pipeline's, Kafka's own, the registry's, Connect's.
        settings.topic_turnstiles,
        settings.topic_arrivals,
        settings.topic_turnstile_summary,
        settings.topic_london_station_entries,
        "__consumer_offsets",
        "__transaction_state",
        settings.schemas_topic,
        "_connect-configs",
        "_connect-offsets",
        "_connect-status",
    ]
    metadata = admin.list_topics(timeout=10).topics
    for topic in topics:
        assert topic in metadata, f"{topic} does not exist"
        replicas = {len(partition.replicas) for partition in metadata[topic].partitions.values()}
        assert replicas == {3}, f"{topic}: replicas per partition {replicas}"
    resources = [ConfigResource(ConfigResource.Type.TOPIC, topic) for topic in topics]
    for resource, future in admin.describe_configs(resources).items():
        assert future.result(timeout=10)["min.insync.replicas"].value == "2", resource.name

    status = subprocess.run(
        [sys.executable, "-m", "transit_status.cli", "--state-dir", str(settings.state_dir), "platform", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **settings.as_env()},
    )
    lines = status.stdout.splitlines()
    for node in settings.kafka_nodes:
        assert any(line.startswith(f"node {node.node_id}") and " alive " in line for line in lines), status.stdout
    assert any(line.startswith("controller") and "quorum leader: node " in line for line in lines), status.stdout
    assert any(re.match(r"partitions\s+0 under-replicated", line) for line in lines), status.stdout


class TrainWatch:
    """Samples the dashboard's trains and keeps the times they changed: the longest pause between two."""

    def __init__(self, stack: SupervisedStack) -> None:
        self.stack = stack
        self.changes: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TrainWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last: object = None
        while not self._stop.is_set():
            trains = train_positions(self.stack)
            if trains is not None and trains != last:
                self.changes.append(time.monotonic())
                last = trains
            time.sleep(0.25)

    def longest_pause(self, since: float, until: float) -> float:
        moments = [since, *(moment for moment in self.changes if since < moment < until), until]
        return max(later - earlier for earlier, later in pairwise(moments))


def turnstile_leaders(settings: Settings) -> Counter[int]:
    admin = AdminClient(settings.kafka_client_config())
    partitions = admin.list_topics(settings.topic_turnstiles, timeout=10).topics[settings.topic_turnstiles].partitions
    return Counter(partition.leader for partition in partitions.values())


def records_in(settings: Settings, topic: str) -> int:
    return sum(end_offsets(settings, topic, "read_uncommitted").values())


@pytest.mark.timeout(1500)
def test_a_broker_killed_mid_run_loses_nothing_acknowledged(cluster: SupervisedStack) -> None:
    settings, platform = cluster.settings, cluster.platform
    wait_until(lambda: train_positions(cluster), 120, "the dashboard to show trains")
    wait_until(lambda: settled(settings), 120, "three brokers alive and every replica in sync")
    leader, led = turnstile_leaders(settings).most_common(1)[0]
    victim = next(node for node in settings.kafka_nodes if node.node_id == leader)
    print(f"killing {victim.service} (node {leader}), leader of {led} of the turnstile topic's partitions")

    with TrainWatch(cluster) as trains:
        time.sleep(10)  # the trains' usual pace, before the fault
        record = platform.running()[victim.service]
        platform.hold([victim.service])  # down for OUTAGE_S: a broker lost, not one restarted at once
        before = sum(end_offsets(settings, settings.topic_turnstiles).values())
        killed_at = time.monotonic()
        os.killpg(record.pid, signal.SIGKILL)
        wait_until(
            lambda: (view := cluster_view(settings)) is not None and leader not in view.alive,
            60,
            f"node {leader} to be fenced",
        )
        wait_until(lambda: leader not in turnstile_leaders(settings), 60, "the turnstile partitions' new leaders")
        # Two replicas of three are enough: the pipeline writes on while the broker is away.
        wait_until(
            lambda: sum(end_offsets(settings, settings.topic_turnstiles).values()) > before,
            60,
            "turnstile entries written with one broker down",
        )
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - killed_at)))
        platform.release([victim.service])  # the supervisor starts it again
        wait_until(lambda: settled(settings), 180, f"node {leader} back, caught up, nothing under-replicated")
        time.sleep(10)  # the trains' pace once it is back
        pause = trains.longest_pause(killed_at - 10, time.monotonic())
    print(f"longest pause of the dashboard's trains around the kill: {pause:.1f} s")
    assert f"{victim.service} is not running; restarting it" in "\n".join(cluster.reports)
    assert pause <= MAX_TRAIN_PAUSE_S, f"the trains stood still for {pause:.1f} s"

    # The producers stop and flush: everything they handed over is acknowledged (nothing failed).
    platform.stop(["simulation", "barriers"])
    until_none_differ(lambda: jobs_not_running(settings), 180, "every SQL job RUNNING")
    simulation = final_simulation_counts(settings)
    # Nothing acknowledged is lost. A record in flight to the killed leader may be in a topic twice:
    # librdkafka's idempotent producer starts a new epoch after a request whose outcome it cannot know
    # (seen once for two barrier taps), and only transactions would rule that out. So the topics hold at
    # least what was acknowledged, and from the topics on everything is exactly once.
    assert records_in(settings, settings.topic_arrivals) >= simulation["delivered"][settings.topic_arrivals]
    assert records_in(settings, settings.topic_weather) >= simulation["delivered"].get(settings.topic_weather, 0)
    acknowledged_entries = Counter(simulation["delivered_by_key"][settings.topic_turnstiles])
    expected = turnstile_entries_by_station(settings)
    assert not acknowledged_entries - expected, (
        f"acknowledged turnstile entries lost: {acknowledged_entries - expected}"
    )
    print(f"turnstile entries in the topic beyond those acknowledged: {dict(expected - acknowledged_entries)}")
    wait_until(
        lambda: summary_counts(settings) == expected,
        120,
        "the summary to equal the turnstile topic's entries",
        log=lambda: summary_diagnosis(settings, expected),
    )
    wait_until(
        lambda: cluster.api("/api/turnstiles") == {station: count for station, count in sorted(expected.items())},
        60,
        "the dashboard's counts to equal the turnstile topic's entries",
    )

    # London: the barrier topics hold at least the acknowledged taps, and each tap is once in every output.
    barriers = acknowledged(settings, "barriers")
    taps = {
        topic: input_taps(settings, topic) for topic in (settings.topic_london_entries, settings.topic_london_exits)
    }
    for topic, held in taps.items():
        in_topic, acked = Counter(tap.station for tap in held.elements()), Counter(barriers["delivered_by_key"][topic])
        assert not acked - in_topic, f"{topic}: acknowledged taps lost: {acked - in_topic}"
        print(f"{topic}: taps in the topic beyond those acknowledged: {dict(in_topic - acked)}")
    search = OpenSearch(hosts=[settings.opensearch_url], timeout=30)
    with event_time_moving(settings, next(iter(taps[settings.topic_london_entries])).station):
        until_none_differ(
            lambda: london_differences(settings, search, taps),
            180,
            "every tap once in station_entries/exits, OpenSearch and PostgreSQL, nothing of an aborted transaction",
        )
    until_none_differ(lambda: connectors_not_running(settings), 120, "every connector and task RUNNING")
    view = cluster_view(settings)
    assert view is not None and not view.under_replicated and not view.leaderless, view
