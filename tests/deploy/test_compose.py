"""deploy/compose.yaml and deploy/profiles/compose.toml, checked without Docker (pure).

No Docker runs here, so nothing starts: what can be checked is checked. The file is a valid Compose
file; its published ports are distinct and are where the profile points the pipeline; the secrets are
the pipeline's own ``TRANSIT_*`` settings, required; the three Kafka nodes form one quorum; Kafka's,
Connect's and the registry's internal topics are replicated three times with two in sync; the images
are the releases the embedded platform's jars are built for, and the jars they need are mounted.

``compose-spec.json`` beside this file is the Compose Specification's JSON schema, copied unchanged
from github.com/compose-spec/compose-spec (``schema/compose-spec.json`` at commit 170098ba07d9),
Apache License 2.0 (README.md here).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from transit_status.config import ENV_PREFIX, PROJECT_ROOT, Settings, load_settings, read_settings_file
from transit_status.platform.jvm import AVRO_CONVERTER_PLUGIN, plugin_path
from transit_status.platform.services import flink

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
PROFILE = DEPLOY / "profiles" / "compose.toml"
SCHEMA = Path(__file__).with_name("compose-spec.json")
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
FLINK_SERVICES = ("jobmanager", "taskmanager", "sql-gateway")
# ${NAME:?message}: required, no default. Any other form of interpolation may hide a default password.
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?[^}]+\}$")
INTERPOLATION = re.compile(r"(?<!\$)\$\{?(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The profile as `run --pipeline-only` reads it, with no TRANSIT_* variable of the caller's shell."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return load_settings(PROFILE, state_dir=tmp_path)  # generated passwords go to tmp_path


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port, short or long syntax."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        ports.append((host_ip, int(parts[-2]), int(parts[-1].split("/")[0])))
    return ports


def host_port(compose: dict[str, Any], name: str) -> int:
    (port,) = published(services(compose)[name])
    return port[1]


def binds(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of each bind mount (a source that is a path, not a named volume)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith(("/", ".")):
            mounts[target] = source
    return mounts


def flink_properties(service: dict[str, Any]) -> dict[str, str]:
    lines = environment(service)["FLINK_PROPERTIES"].splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines if line.strip())}


def address(url_or_address: str) -> tuple[str, int]:
    parts = urlsplit(url_or_address if "//" in url_or_address else f"//{url_or_address}")
    assert parts.hostname is not None and parts.port is not None, f"{url_or_address} names no host:port"
    return parts.hostname, parts.port


def listener(listeners: str, name: str) -> tuple[str, int]:
    """host, port of listener ``name`` in a Kafka listener list like PLAINTEXT://kafka-1:19092,CONTROLLER://:9093."""
    for entry in listeners.split(","):
        scheme, _, rest = entry.partition("://")
        if scheme == name:
            host, _, port = rest.rpartition(":")
            return host, int(port)
    raise AssertionError(f"no {name} listener in {listeners}")


def pom_jars(pom: Path) -> dict[str, str]:
    """artifactId -> version of the dependencies of a pom, its ${properties} filled in."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ElementTree.parse(pom).getroot()
    properties = {child.tag.split("}")[1]: child.text or "" for child in root.find("m:properties", ns) or []}

    def fill(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda match: properties[match.group(1)], text)

    return {
        fill(dependency.findtext("m:artifactId", "", ns)): fill(dependency.findtext("m:version", "", ns))
        for dependency in root.iterfind("m:dependencies/m:dependency", ns)
    }


# ---- (a) a Compose file -------------------------------------------------------------------------------


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors)
    assert set(KAFKA_NODES) | set(FLINK_SERVICES) <= set(services(compose))
    for name, service in services(compose).items():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name}: pin the image's tag"


# ---- (b) ports, and the profile's endpoints -------------------------------------------------------------


def test_published_ports_are_distinct_on_loopback_and_leave_the_dashboard_its_own(
    compose: dict[str, Any], settings: Settings
) -> None:
    ports = [(name, port) for name, service in services(compose).items() for port in published(service)]
    host_ports = [port[1] for _, port in ports]
    assert len(host_ports) == len(set(host_ports)), f"a host port is published twice: {sorted(host_ports)}"
    # Plaintext Kafka and unauthenticated REST APIs: this machine only.
    assert all(port[0] == "127.0.0.1" for _, port in ports), ports
    assert settings.dashboard_port not in host_ports  # the dashboard runs here, beside the containers


def test_the_profile_points_the_pipeline_at_the_published_ports(compose: dict[str, Any], settings: Settings) -> None:
    endpoints = {
        "schema-registry": settings.schema_registry_url,
        "rest-proxy": settings.rest_proxy_url,
        "connect": settings.connect_url,
        "sql-gateway": settings.sql_gateway_url,
        "jobmanager": settings.flink_rest_url,
        "opensearch": settings.opensearch_url,
        "postgres": settings.postgres.address,
        "mariadb": settings.mariadb.address,
    }
    for service, endpoint in endpoints.items():
        host, port = address(endpoint)
        assert port == host_port(compose, service), f"{endpoint} is not where {service} is published"
        # Loopback, or the container's own name at the same port (the hosts file maps it here).
        assert host == "127.0.0.1" or (host == service and published(services(compose)[service])[0][2] == port)
    # Flink's jobs and Connect's converter use the registry's URL from inside: it must be the container's.
    assert address(settings.schema_registry_url) == ("schema-registry", 8081)
    assert settings.opensearch_url.startswith("https://")  # the security plugin's demo configuration


def test_connect_reaches_the_databases_by_their_container_names(compose: dict[str, Any], settings: Settings) -> None:
    for service, reached in (
        ("postgres", settings.postgres_address_for_connect),
        ("mariadb", settings.mariadb_address_for_connect),
    ):
        host, port = address(reached)
        assert host == service and port == published(services(compose)[service])[0][2], reached


def test_the_databases_users_and_names_are_the_profiles(compose: dict[str, Any], settings: Settings) -> None:
    postgres = environment(services(compose)["postgres"])
    mariadb = environment(services(compose)["mariadb"])
    assert (postgres["POSTGRES_DB"], postgres["POSTGRES_USER"]) == (settings.postgres.name, settings.postgres.user)
    assert (mariadb["MARIADB_DATABASE"], mariadb["MARIADB_USER"]) == (settings.mariadb.name, settings.mariadb.user)
    assert mariadb["MARIADB_CONNECTOR_USER"] == settings.mariadb_connector_user


def test_flink_checkpoints_where_the_pipeline_looks_for_them(compose: dict[str, Any], settings: Settings) -> None:
    """A resubmitted job resumes from its newest checkpoint only if this machine sees the folder."""
    endpoint = urlsplit(settings.flink_checkpoints_endpoint or "")
    assert endpoint.scheme == "file", settings.flink_checkpoints_endpoint
    for name in ("jobmanager", "taskmanager"):
        service = services(compose)[name]
        assert binds(service).get(endpoint.path) == endpoint.path, f"{name} must mount {endpoint.path} as itself"
        assert flink_properties(service)["execution.checkpointing.dir"] == settings.flink_checkpoints_endpoint


def test_the_sql_jobs_parallelism_fits_the_task_managers(compose: dict[str, Any], settings: Settings) -> None:
    taskmanager = services(compose)["taskmanager"]
    properties = flink_properties(taskmanager)
    replicas = taskmanager.get("deploy", {}).get("replicas", 1)
    assert int(properties["parallelism.default"]) == settings.flink_parallelism == replicas == 2
    assert settings.flink_parallelism <= replicas * int(properties["taskmanager.numberOfTaskSlots"])
    assert address(f"//{properties['rest.address']}:{properties['rest.port']}") == (
        "jobmanager",
        host_port(compose, "jobmanager"),
    )


# ---- (c) settings and secrets --------------------------------------------------------------------------


def test_every_transit_variable_named_is_a_setting() -> None:
    named = set(re.findall(rf"\b{ENV_PREFIX}[A-Z0-9_]+", COMPOSE_FILE.read_text() + PROFILE.read_text()))
    assert named, "the compose file passes the pipeline's secrets as TRANSIT_* variables"
    unknown = sorted(name for name in named if name.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields)
    assert not unknown, f"no setting reads {unknown}"


def test_secrets_are_required_variables_shared_with_the_pipeline(compose: dict[str, Any]) -> None:
    # Every interpolation is ${TRANSIT_<SETTING>:?message}: no default value, nothing but the settings.
    for name in INTERPOLATION.findall(COMPOSE_FILE.read_text()):
        assert name.startswith(ENV_PREFIX), f"${name}: pass secrets as the pipeline's own TRANSIT_* variables"
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            if "$" in value.replace("$$", ""):
                assert REQUIRED_VARIABLE.match(value), f"{name}.{key}: use ${{VAR:?message}}, no default"
            if "PASSWORD" in key and key != "MARIADB_RANDOM_ROOT_PASSWORD":
                assert REQUIRED_VARIABLE.match(value), f"{name}.{key} is written in the file"
    # The server and the pipeline read the same variable, so they agree.
    expected = {
        ("postgres", "POSTGRES_PASSWORD"): "postgres_password",
        ("mariadb", "MARIADB_PASSWORD"): "mariadb_password",
        ("mariadb", "MARIADB_CONNECTOR_PASSWORD"): "mariadb_connector_password",
        ("opensearch", "OPENSEARCH_INITIAL_ADMIN_PASSWORD"): "opensearch_password",
    }
    for (service, key), setting in expected.items():
        match = REQUIRED_VARIABLE.match(environment(services(compose)[service])[key])
        assert match and match["name"] == ENV_PREFIX + setting.upper(), f"{service}.{key}"


def test_the_profile_holds_no_secret() -> None:
    values = read_settings_file(PROFILE)
    assert not [name for name in values if "password" in name]
    for dsn in ("postgres_dsn", "mariadb_dsn"):
        assert urlsplit(values[dsn]).password is None, f"{dsn} holds a password"


# ---- (d) one Kafka cluster -----------------------------------------------------------------------------


def test_the_three_kafka_nodes_form_one_quorum_and_advertise_distinct_listeners(
    compose: dict[str, Any], settings: Settings
) -> None:
    nodes = {name: environment(services(compose)[name]) for name in KAFKA_NODES}
    assert len({env["CLUSTER_ID"] for env in nodes.values()}) == 1
    assert len({env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in nodes.values()}) == 1, "the nodes disagree on voters"
    voter_list = nodes["kafka-1"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    voters = {int(node_id): address(where) for node_id, _, where in (voter.partition("@") for voter in voter_list)}
    advertised = {}
    for name, env in nodes.items():
        node_id = int(env["KAFKA_NODE_ID"])
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        # Each voter is this node, at its own controller listener's port.
        assert voters[node_id] == (name, listener(env["KAFKA_LISTENERS"], controller)[1]), name
        host, port = listener(env["KAFKA_ADVERTISED_LISTENERS"], env["KAFKA_INTER_BROKER_LISTENER_NAME"])
        # Its own name and the port it listens on and is published at: the same address inside and out.
        assert host == name and port == listener(env["KAFKA_LISTENERS"], "PLAINTEXT")[1] == host_port(compose, name)
        advertised[name] = (host, port)
    assert set(voters) == {int(env["KAFKA_NODE_ID"]) for env in nodes.values()}
    assert len(set(advertised.values())) == len(KAFKA_NODES), advertised
    bootstrap = [address(server) for server in settings.bootstrap_servers.split(",")]
    assert sorted(bootstrap) == sorted(advertised.values()), "the profile's bootstrap list is not the brokers"
    for name in ("schema-registry", "rest-proxy", "connect"):
        env = environment(services(compose)[name])
        servers = next(value for key, value in env.items() if key.endswith("BOOTSTRAP_SERVERS"))
        assert sorted(address(server) for server in servers.split(",")) == sorted(advertised.values()), name


# ---- (e) replication -----------------------------------------------------------------------------------


def test_internal_topics_are_replicated_three_times_with_two_in_sync(
    compose: dict[str, Any], settings: Settings
) -> None:
    for name in KAFKA_NODES:
        env = environment(services(compose)[name])
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name  # every topic's, unless it sets its own
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2", name
    connect = environment(services(compose)["connect"])
    for topic in ("CONFIG", "OFFSET", "STATUS"):
        assert connect[f"CONNECT_{topic}_STORAGE_REPLICATION_FACTOR"] == "3", topic
    registry = environment(services(compose)["schema-registry"])
    assert registry["SCHEMA_REGISTRY_KAFKASTORE_TOPIC"] == settings.schemas_topic
    assert registry["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] == "3"
    assert settings.replication_factor == 3  # the pipeline's own topics


# ---- the images and jars of the embedded platform --------------------------------------------------------


def test_the_images_are_the_releases_the_jars_are_built_for(compose: dict[str, Any]) -> None:
    kafka_version = pom_jars(PROJECT_ROOT / "jars" / "kafka" / "pom.xml")["kafka_2.13"]
    for name in KAFKA_NODES:
        assert services(compose)[name]["image"] == f"apache/kafka:{kafka_version}", name
    for name in FLINK_SERVICES:
        assert services(compose)[name]["image"].startswith(f"flink:{flink.FLINK_VERSION}-"), name


def test_flink_and_connect_mount_the_jars_make_setup_builds(compose: dict[str, Any], tmp_path: Path) -> None:
    """The embedded Flink's extra jars (platform/services/flink.py) on every Flink process's classpath, less
    the SQL Gateway's own (the image has it), and our Avro converter in Connect's plugin path."""
    embedded = load_settings(state_dir=tmp_path)
    wanted = {
        flink.jars_dir(embedded) / f"{artifact}-{version}.jar"
        for artifact, version in pom_jars(PROJECT_ROOT / "jars" / "flink" / "pom.xml").items()
        if not artifact.startswith(flink.GATEWAY_JAR_PREFIX)
    } | {flink.functions_jar(embedded)}
    for name in FLINK_SERVICES:
        mounted = {
            (DEPLOY / source).resolve(): target
            for target, source in binds(services(compose)[name]).items()
            if target.startswith("/opt/flink/lib/")
        }
        assert set(mounted) == wanted, name
        assert all(target == f"/opt/flink/lib/{source.name}" for source, target in mounted.items()), name
    converter = {(DEPLOY / source).resolve() for source in binds(services(compose)["connect"]).values()}
    assert plugin_path(embedded) / AVRO_CONVERTER_PLUGIN in converter
