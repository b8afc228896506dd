"""Apache Kafka, KRaft single node (broker + controller), from Maven Central jars on the machine's JDK."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from transit_status.config import Settings
from transit_status.platform.errors import PlatformError
from transit_status.platform.jvm import LOG4J_CONFIG, java_command, java_executable, kafka_classpath, write_properties
from transit_status.platform.service import Launch, ServiceSpec, kafka_is_ready


def kafka_dir(settings: Settings) -> Path:
    return settings.state_dir / "kafka"


def broker_properties(settings: Settings) -> dict[str, str]:
    host = settings.host
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{settings.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{host}:{settings.kafka_port},CONTROLLER://{host}:{settings.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{settings.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(kafka_dir(settings) / "data"),
        "num.partitions": "1",
        # Topics are created on purpose (with their partitions and cleanup policy), never by a typo.
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
        # The cleaner looks for cleanable logs every 2 s instead of 15 s when it found none, so a
        # replayed table's rolled segment (topics.replayed_table_config) is compacted within seconds.
        "log.cleaner.backoff.ms": "2000",
    }


def prepare_broker(settings: Settings) -> Path:
    """Write the broker's config and format its storage the first time. Returns the config path."""
    config = write_properties(kafka_dir(settings) / "server.properties", broker_properties(settings))
    if (kafka_dir(settings) / "data" / "meta.properties").exists():
        return config
    cluster_id = _cluster_id()
    result = subprocess.run(
        [
            java_executable(),
            "-cp",
            kafka_classpath(settings),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
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


def _cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters). Like
    # Kafka's own Uuid.randomUuid(), never one that starts with "-": the storage tool would read it as
    # an option (one id in 64 did, and formatting failed).
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def broker_command(settings: Settings, config: Path) -> list[str]:
    return java_command(settings.kafka_heap, settings.logs_dir, kafka_classpath(settings), "kafka.Kafka", str(config))


def specs(settings: Settings) -> list[ServiceSpec]:
    # A declaration, like every service module's specs(): the keywords repeat, each value is this service's own.
    return [
        ServiceSpec(
            name="kafka",
            port=settings.kafka_port,
            extra_ports=(settings.kafka_controller_port,),
            after=(),
            prepare=lambda: Launch(command=broker_command(settings, prepare_broker(settings))),
            is_ready=lambda: kafka_is_ready(settings),
        )
    ]
