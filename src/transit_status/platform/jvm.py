"""Apache Kafka (KRaft broker + controller) and Kafka Connect on the machine's JDK.

The jars come from Maven Central through the poms under ``jars/`` (``make jars`` or
``transit-status platform fetch-jars``) into ``settings.jars_dir``; nothing is built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from transit_status.config import PROJECT_ROOT, Settings
from transit_status.platform.errors import MissingDependencyError, PlatformError

JDK_HINT = "install a JDK 17+ with `sudo apt-get install openjdk-17-jre-headless` or set JAVA_HOME"
MAVEN_HINT = "install Maven with `sudo apt-get install maven` (or run `make setup`)"
POMS_DIR = PROJECT_ROOT / "jars"
KAFKA_JARS = "kafka"
CONNECT_PLUGINS = "connect-plugins"
DEBEZIUM_PLUGIN = "debezium-postgres"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def java_executable(java_home: str | None = None, path: str | None = None) -> str:
    java_home = java_home if java_home is not None else os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate and candidate.exists():
        return str(candidate)
    found = shutil.which("java", path=path)
    if not found:
        raise MissingDependencyError(f"Java not found (Kafka and Kafka Connect run on it): {JDK_HINT}")
    return found


def kafka_classpath(settings: Settings) -> str:
    return str(settings.jars_dir / KAFKA_JARS / "*")


def plugin_path(settings: Settings) -> Path:
    return settings.jars_dir / CONNECT_PLUGINS


def _complete_marker(settings: Settings) -> Path:
    return settings.jars_dir / ".complete"


def jars_present(settings: Settings) -> bool:
    """True once a fetch has finished (an interrupted Maven copy leaves no marker)."""
    return _complete_marker(settings).exists()


def fetch_jars(settings: Settings, quiet: bool = True) -> None:
    """Resolve the Kafka, Connect and Debezium jars from Maven Central (once; cached afterwards)."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise MissingDependencyError(f"Maven not found (it fetches Kafka's jars once): {MAVEN_HINT}")
    targets = {
        POMS_DIR / "kafka" / "pom.xml": settings.jars_dir / KAFKA_JARS,
        POMS_DIR / DEBEZIUM_PLUGIN / "pom.xml": plugin_path(settings) / DEBEZIUM_PLUGIN,
    }
    for pom, output in targets.items():
        command = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={output}"]
        if quiet:
            command.insert(1, "-q")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PlatformError(f"Maven could not resolve {pom.relative_to(PROJECT_ROOT)}:\n{result.stdout[-3000:]}")
    _complete_marker(settings).write_text("fetched by transit-status platform fetch-jars\n")


def jvm_options(heap: str, log_dir: Path) -> list[str]:
    return [
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={log_dir}",
    ]


# ---- Kafka broker ---------------------------------------------------------------------------------


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
    }


def write_properties(path: Path, properties: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path


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
    # Kafka's cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def broker_command(settings: Settings, config: Path) -> list[str]:
    return [
        java_executable(),
        *jvm_options(settings.kafka_heap, settings.logs_dir),
        "-cp",
        kafka_classpath(settings),
        "kafka.Kafka",
        str(config),
    ]


# ---- Kafka Connect --------------------------------------------------------------------------------


def connect_properties(settings: Settings) -> dict[str, str]:
    json_converter = "org.apache.kafka.connect.json.JsonConverter"
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": "transit-status-connect",
        "config.storage.topic": "_connect-configs",
        "offset.storage.topic": "_connect-offsets",
        "status.storage.topic": "_connect-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
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
    }


def prepare_connect(settings: Settings) -> Path:
    return write_properties(
        settings.state_dir / "connect" / "connect-distributed.properties", connect_properties(settings)
    )


def connect_command(settings: Settings, config: Path) -> list[str]:
    return [
        java_executable(),
        *jvm_options(settings.connect_heap, settings.logs_dir),
        "-cp",
        kafka_classpath(settings),
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(config),
    ]
