"""Apache Kafka in KRaft mode from Maven Central jars on the machine's JDK: one node, or three (``--brokers 3``).

Every node is a broker and a controller at once (``process.roles=broker,controller``). On one
machine, a separate controller quorum would add three JVMs (about 1 GiB) and protect against
nothing more: the nodes share the machine's fate anyway. Three combined nodes still form a real
quorum, so a killed node is a real failover: another controller leads, and partition leadership
moves to the in-sync replicas. A production cluster should run dedicated controllers
(``deploy/compose.yaml`` shows the services; docs/CLUSTER.md says why).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from transit_status.config import KafkaNode, Settings
from transit_status.platform.errors import PlatformError
from transit_status.platform.jvm import LOG4J_CONFIG, java_command, java_executable, kafka_classpath, write_properties
from transit_status.platform.service import Launch, ServiceSpec, quiet_kafka_logger, registered_brokers


def kafka_dir(settings: Settings) -> Path:
    return settings.state_dir / "kafka"


def node_dir(settings: Settings, node: KafkaNode) -> Path:
    # The first node keeps the one-broker layout (kafka/data), so an existing state directory still works.
    return kafka_dir(settings) if node.node_id == 1 else kafka_dir(settings) / f"node-{node.node_id}"


def broker_properties(settings: Settings, node: KafkaNode) -> dict[str, str]:
    host = settings.host
    # Kafka's own topics and the broker defaults follow the topics' replication (never more than the nodes).
    replicas = min(settings.topic_replicas, settings.broker_count)
    min_insync = min(2, max(1, replicas - 1))
    voters = ",".join(f"{other.node_id}@{host}:{other.controller_port}" for other in settings.kafka_nodes)
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node_dir(settings, node) / "data"),
        "num.partitions": "1",
        # Topics are created on purpose (with their partitions and cleanup policy), never by a typo.
        "auto.create.topics.enable": "false",
        # Kafka's own topics and those others create with the broker's defaults (Connect's config,
        # offset and status topics, Debezium's schema history, Faust's changelogs): one replica per
        # node, and with three, a write is acknowledged once two have it, so one node may be lost.
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_insync),
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_insync),
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_insync),
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
        # The cleaner looks for cleanable logs every 2 s instead of 15 s when it found none, so a
        # replayed table's rolled segment (topics.replayed_table_config) is compacted within seconds.
        "log.cleaner.backoff.ms": "2000",
        # A dead node is fenced after 6 s without a heartbeat (default 9 s): its partitions get new
        # leaders from the in-sync replicas, and producers and consumers move on to them.
        **(
            {"broker.session.timeout.ms": "6000", "broker.heartbeat.interval.ms": "1500"}
            if len(settings.kafka_nodes) > 1
            else {}
        ),
        # A restarted node's replicas catch up, then it leads its preferred partitions again soon
        # (default 300 s), so leadership spreads over the nodes after a failover.
        "leader.imbalance.check.interval.seconds": "30",
    }


def check_cluster_size(settings: Settings) -> None:
    """Refuse to start a cluster of another size on this state directory's Kafka data.

    A one-broker directory's topics have one replica each: three brokers would run them unreplicated
    while claiming replication factor 3, and the reverse would leave partitions without a leader.
    """
    if not (kafka_dir(settings) / "data" / "meta.properties").exists():
        return
    recorded = settings.kafka_cluster_size_file
    size = int(recorded.read_text().strip()) if recorded.exists() else 1  # written since --brokers exists
    if size != settings.broker_count:
        raise PlatformError(
            f"the Kafka data in {kafka_dir(settings)} belongs to a {size}-broker cluster, not "
            f"{settings.broker_count}: start with --brokers {size}, use another --state-dir for a "
            f"{settings.broker_count}-broker cluster, or `platform reset` to delete all data first"
        )


def prepare_broker(settings: Settings, node: KafkaNode) -> Path:
    """Write one node's config and format its storage the first time. Returns the config path."""
    check_cluster_size(settings)
    config = write_properties(node_dir(settings, node) / "server.properties", broker_properties(settings, node))
    if (node_dir(settings, node) / "data" / "meta.properties").exists():
        return config
    # Recorded before any node is formatted: a node starting beside this one must never find data
    # without its cluster size (and take it for an older one-broker directory).
    settings.kafka_cluster_size_file.write_text(f"{settings.broker_count}\n")
    result = subprocess.run(
        [
            java_executable(),
            "-cp",
            kafka_classpath(settings),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id(settings),
            "-c",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PlatformError(f"formatting Kafka's storage failed:\n{result.stdout}{result.stderr}")
    return config


def cluster_id(settings: Settings) -> str:
    """The cluster's id, made once: every node's storage is formatted with the same one."""
    path = kafka_dir(settings) / "cluster.id"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    made = _new_cluster_id()
    partial = path.with_name(f".cluster.id.{uuid.uuid4().hex}")
    partial.write_text(made)
    try:
        os.link(partial, path)  # the nodes start together: the first to write wins, the others read its id
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    return path.read_text().strip()


def _new_cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters). Like
    # Kafka's own Uuid.randomUuid(), never one that starts with "-": the storage tool would read it as
    # an option (one id in 64 did, and formatting failed).
    while True:
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not made.startswith("-"):
            return made


def broker_command(settings: Settings, config: Path) -> list[str]:
    return java_command(settings.kafka_heap, settings.logs_dir, kafka_classpath(settings), "kafka.Kafka", str(config))


def node_is_ready(settings: Settings, node: KafkaNode) -> bool:
    return node.node_id in (registered_brokers(settings) or set())


@dataclass(frozen=True)
class ClusterView:
    """What ``platform status`` shows of the embedded Kafka beside its processes."""

    alive: tuple[int, ...]
    """Node ids of the brokers the cluster lists (registered and not fenced)."""
    quorum_leader: int | None
    """The active KRaft controller's node id; None when the quorum has no leader or did not answer."""
    under_replicated: tuple[str, ...]
    """``topic/partition`` of every partition with fewer in-sync replicas than replicas."""
    leaderless: tuple[str, ...]
    """``topic/partition`` of every partition without a leader: unreadable and unwritable."""


def cluster_view(settings: Settings) -> ClusterView | None:
    """The brokers, the controller and the partitions' replication as Kafka reports them now (None:
    no broker answers)."""
    admin = AdminClient(settings.kafka_client_config(logger=quiet_kafka_logger, **{"socket.timeout.ms": 2000}))
    try:
        metadata = admin.list_topics(timeout=5.0)
    except Exception:
        return None
    under, leaderless = [], []
    for topic in metadata.topics.values():
        for partition in topic.partitions.values():
            where = f"{topic.topic}/{partition.id}"
            if partition.leader < 0:
                leaderless.append(where)
            if len(partition.isrs) < len(partition.replicas):
                under.append(where)
    return ClusterView(
        tuple(sorted(metadata.brokers)), quorum_leader(settings), tuple(sorted(under)), tuple(sorted(leaderless))
    )


_LEADER_LINE = re.compile(r"^LeaderId:\s+(-?\d+)", re.MULTILINE)


def quorum_leader(settings: Settings) -> int | None:
    """The KRaft quorum's leader, from Kafka's own ``kafka-metadata-quorum describe --status``.

    librdkafka has no DescribeQuorum, and a broker answers DescribeCluster with any live broker as
    the 'controller' under KRaft, so the Java tool asks the quorum itself (about two seconds).
    """
    try:
        result = subprocess.run(
            [
                java_executable(),
                "-cp",
                kafka_classpath(settings),
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                "org.apache.kafka.tools.MetadataQuorumCommand",
                "--bootstrap-server",
                settings.bootstrap_servers,
                "describe",
                "--status",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _LEADER_LINE.search(result.stdout)
    return int(found.group(1)) if result.returncode == 0 and found and int(found.group(1)) >= 0 else None


def specs(settings: Settings) -> list[ServiceSpec]:
    # A declaration, like every service module's specs(): the keywords repeat, each value is this service's own.
    # The nodes start together (no `after`): a quorum of three elects its controller only once two are up.
    # Kafka's clients start after all of them (``settings.kafka_services``) and stop before any.
    def node_spec(node: KafkaNode) -> ServiceSpec:
        return ServiceSpec(
            name=node.service,
            port=node.port,
            extra_ports=(node.controller_port,),
            after=(),
            prepare=lambda: Launch(command=broker_command(settings, prepare_broker(settings, node))),
            is_ready=lambda: node_is_ready(settings, node),
            preflight=lambda: check_cluster_size(settings),
        )

    return [node_spec(node) for node in settings.kafka_nodes]
