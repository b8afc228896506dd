"""Kafka Connect, distributed mode, one worker, with the connector plugins from Maven Central."""

from __future__ import annotations

from pathlib import Path

from transit_status.config import Settings
from transit_status.platform.jvm import java_command, kafka_classpath, plugin_path, write_properties
from transit_status.platform.service import Launch, ServiceSpec, http_ok


def connect_properties(settings: Settings) -> dict[str, str]:
    json_converter = "org.apache.kafka.connect.json.JsonConverter"
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": "transit-status-connect",
        "config.storage.topic": "_connect-configs",
        "offset.storage.topic": "_connect-offsets",
        "status.storage.topic": "_connect-status",
        "config.storage.replication.factor": str(settings.topic_replicas),
        "offset.storage.replication.factor": str(settings.topic_replicas),
        "status.storage.replication.factor": str(settings.topic_replicas),
        "offset.storage.partitions": "5",
        "status.storage.partitions": "1",
        "key.converter": json_converter,
        "value.converter": json_converter,
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "listeners": f"http://{settings.host}:{settings.connect_port}",
        "rest.advertised.host.name": settings.host,
        "rest.advertised.port": str(settings.connect_port),
        "plugin.path": str(plugin_path(settings)),
        "offset.flush.interval.ms": "1000",
        "scheduled.rebalance.max.delay.ms": "0",
        # Plugins are found from their service manifests; the reflective scan costs ~6 s per start.
        "plugin.discovery": "service_load",
        # Lets a sink connector read committed records only (consumer.override.isolation.level).
        "connector.client.config.override.policy": "All",
    }


def prepare_connect(settings: Settings) -> Path:
    return write_properties(
        settings.state_dir / "connect" / "connect-distributed.properties", connect_properties(settings)
    )


def connect_command(settings: Settings, config: Path) -> list[str]:
    return java_command(
        settings.connect_heap,
        settings.logs_dir,
        kafka_classpath(settings),
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(config),
    )


def specs(settings: Settings) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name="connect",
            port=settings.connect_port,
            after=settings.kafka_services,  # a database is needed only once a connector is registered
            uses=("postgres", "mariadb", "schema-registry"),  # its connectors' databases, the Avro converter
            prepare=lambda: Launch(command=connect_command(settings, prepare_connect(settings))),
            is_ready=lambda: http_ok(f"{settings.connect_url}/connectors"),
        )
    ]
