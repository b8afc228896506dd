"""The one settings object: endpoints of an existing platform over the embedded defaults, profiles
(settings files) and their precedence, security for every client, and secrets that are never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from transit_status.config import PROJECT_ROOT, SettingsFileError, load_settings
from transit_status.pipeline.connectors import (
    london_postgres_sink_config,
    london_stations_connector_config,
    stations_connector_config,
)
from transit_status.pipeline.sql_jobs import TABLES_FILE, render, split_statements, sql_text
from transit_status.serve import RedactingFormatter

SASL_SECRET = "kafka-Secr3t-'quote\"d"
REGISTRY_SECRET = "registry-Secr3t-5150"
PG_SECRET = "pg-Secr3t-4711"
CLOUD = f"""
kafka_bootstrap_servers = "b1.example.net:9092, b2.example.net:9092"
kafka_security_protocol = "SASL_SSL"
kafka_sasl_mechanism = "PLAIN"
kafka_sasl_username = "CLUSTERKEY"
kafka_sasl_password = '''{SASL_SECRET}'''
schema_registry_endpoint = "https://registry.example.net/"
schema_registry_username = "REGISTRYKEY"
schema_registry_password = "{REGISTRY_SECRET}"
connect_endpoint = "http://connect.example.net:8083"
sql_gateway_endpoint = "http://flink.example.net:8083"
flink_rest_endpoint = "http://flink.example.net:8081"
opensearch_endpoint = "https://search.example.net:9200"
opensearch_username = "admin"
opensearch_password = "os-Secr3t-99"
postgres_dsn = "postgresql://pipeline:{PG_SECRET}@db.example.net:6432/transit?sslmode=require"
connect_postgres_address = "db.internal:5432"
"""
SECRETS = (SASL_SECRET, REGISTRY_SECRET, PG_SECRET, "os-Secr3t-99")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRANSIT_* variable from the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("TRANSIT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cloud_profile(tmp_path: Path, clean_env: None) -> Path:
    path = tmp_path / "cloud.toml"
    path.write_text(CLOUD)
    return path


def test_the_embedded_platforms_addresses_come_from_host_and_ports_unless_named(clean_env: None) -> None:
    embedded = load_settings(host="10.0.0.5", kafka_port=19092, schema_registry_port=18081)
    assert embedded.bootstrap_servers == "10.0.0.5:19092"
    assert embedded.schema_registry_url == "http://10.0.0.5:18081"
    assert embedded.postgres.address == "10.0.0.5:5432"
    assert embedded.postgres_address_for_connect == "10.0.0.5:5432"

    named = embedded.with_overrides(kafka_bootstrap_servers="k1:9092,k2:9092", connect_endpoint="https://c.example/")
    assert named.bootstrap_servers == "k1:9092,k2:9092"
    assert named.connect_url == "https://c.example"  # the trailing slash would double in every path
    assert named.with_overrides(kafka_port=29092).bootstrap_servers == "k1:9092,k2:9092"  # the named one wins
    assert named.schema_registry_url == "http://10.0.0.5:18081"  # what is not named is still derived


def test_a_profile_sets_every_endpoint_and_the_environment_and_options_override_it(
    cloud_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(cloud_profile)
    assert settings.bootstrap_servers == "b1.example.net:9092,b2.example.net:9092"
    assert settings.schema_registry_url == "https://registry.example.net"
    assert (settings.sql_gateway_url, settings.flink_rest_url) == (
        "http://flink.example.net:8083",
        "http://flink.example.net:8081",
    )
    database = settings.postgres
    assert (database.host, database.port, database.name, database.user) == (
        "db.example.net",
        6432,
        "transit",
        "pipeline",
    )
    assert database.password.get_secret_value() == PG_SECRET
    assert database.options == {"sslmode": "require"}
    assert settings.postgres_address_for_connect == "db.internal:5432"

    monkeypatch.setenv("TRANSIT_KAFKA_SASL_USERNAME", "FROM-ENV")
    assert load_settings(cloud_profile).kafka_sasl_username == "FROM-ENV"
    assert load_settings(cloud_profile, kafka_sasl_username="FROM-CLI").kafka_sasl_username == "FROM-CLI"
    # A child process gets the merged settings as TRANSIT_* variables, secrets included, and no file.
    monkeypatch.delenv("TRANSIT_KAFKA_SASL_USERNAME")
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    assert child.kafka_client_config() == settings.kafka_client_config()
    assert child.postgres == settings.postgres


def test_a_mistyped_or_broken_profile_is_a_clear_error(tmp_path: Path, clean_env: None) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text('kafka_sasl_pasword = "x"\n')
    with pytest.raises(
        SettingsFileError, match=r"unknown setting 'kafka_sasl_pasword'.*did you mean 'kafka_sasl_password'"
    ):
        load_settings(typo)
    broken = tmp_path / "broken.toml"
    broken.write_text("kafka_bootstrap_servers = \n")
    with pytest.raises(SettingsFileError, match="not valid TOML"):
        load_settings(broken)
    with pytest.raises(SettingsFileError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_sasl_without_credentials_and_a_malformed_dsn_are_refused_without_quoting_the_secret(clean_env: None) -> None:
    with pytest.raises(ValidationError, match="needs kafka_sasl_username and kafka_sasl_password"):
        load_settings(kafka_security_protocol="SASL_SSL")
    with pytest.raises(ValidationError) as invalid:
        load_settings(postgres_dsn=f"http://u:{PG_SECRET}@db/x")
    assert "postgres_dsn" in str(invalid.value) and PG_SECRET not in str(invalid.value)
    with pytest.raises(ValidationError, match="not in the URL"):
        load_settings(schema_registry_endpoint=f"https://key:{REGISTRY_SECRET}@registry.example.net")


def test_kafka_security_reaches_librdkafka_flink_and_connect(cloud_profile: Path) -> None:
    settings = load_settings(cloud_profile)
    assert settings.kafka_client_config(**{"client.id": "x"}) == {
        "bootstrap.servers": "b1.example.net:9092,b2.example.net:9092",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "CLUSTERKEY",
        "sasl.password": SASL_SECRET,
        "client.id": "x",
    }
    jaas = settings.kafka_java_security()["sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.plain.PlainLoginModule required")
    assert 'password="kafka-Secr3t-\'quote\\"d";' in jaas  # the quote escaped for JAAS

    # Flink: every Kafka table copies the security options from its template; the SQL still parses.
    rendered = render(sql_text(TABLES_FILE), settings)
    assert rendered.count("'properties.security.protocol' = 'SASL_SSL',") == 2
    assert "password=\"kafka-Secr3t-''quote" in rendered  # the single quote doubled for SQL
    assert all("${" not in statement for statement in split_statements(rendered))
    plain = render(sql_text(TABLES_FILE), load_settings())
    assert "'properties.security.protocol' = 'PLAINTEXT'," in plain and "jaas" not in plain

    # Connect: the databases as the workers see them; Debezium's own schema-history clients get the security.
    source = stations_connector_config(settings)
    assert (source["database.hostname"], source["database.port"], source["database.dbname"]) == (
        "db.internal",
        "5432",
        "transit",
    )
    assert source["database.password"] == PG_SECRET and source["database.sslmode"] == "require"
    sink = london_postgres_sink_config(settings)
    assert sink["connection.url"] == "jdbc:postgresql://db.internal:5432/transit?sslmode=require"
    mariadb = london_stations_connector_config(settings)
    assert mariadb["schema.history.internal.producer.sasl.jaas.config"] == jaas
    assert mariadb["schema.history.internal.kafka.bootstrap.servers"] == settings.bootstrap_servers
    # The connectors' own clients take the worker's security unless asked to take ours.
    assert not any(".override.sasl" in key for key in {**source, **sink})
    overridden = london_postgres_sink_config(settings.with_overrides(connect_client_overrides=True))
    assert overridden["consumer.override.sasl.jaas.config"] == jaas
    assert overridden["producer.override.security.protocol"] == "SASL_SSL"


def test_registry_and_opensearch_credentials_go_to_their_clients(cloud_profile: Path) -> None:
    settings = load_settings(cloud_profile)
    assert settings.schema_registry_client_config()["basic.auth.user.info"] == f"REGISTRYKEY:{REGISTRY_SECRET}"
    assert settings.schema_registry_auth == ("REGISTRYKEY", REGISTRY_SECRET)
    options = settings.opensearch_client_options()
    assert options["hosts"] == ["https://search.example.net:9200"]
    assert options["http_auth"] == ("admin", "os-Secr3t-99") and options["verify_certs"] is True
    assert "basic.auth.user.info" not in load_settings().schema_registry_client_config()


def test_secrets_are_hidden_when_settings_are_printed_logged_or_quoted_in_an_error(cloud_profile: Path) -> None:
    settings = load_settings(cloud_profile)
    shown = repr(settings) + str(settings.model_dump()) + settings.postgres.redacted + repr(settings.postgres)
    assert not any(secret in shown for secret in SECRETS)
    # A server's error may quote what it was sent: redact() hides each secret, raw or JAAS-escaped.
    quoted = (
        f"refused {settings.kafka_java_security()['sasl.jaas.config']} and {settings.postgres_dsn.get_secret_value()}"  # type: ignore[union-attr]
    )
    assert not any(secret in settings.redact(quoted) for secret in SECRETS)
    assert "***" in settings.redact(quoted)
    # Every log line of a service goes through the redacting formatter.
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "auth failed with %s", (REGISTRY_SECRET,), None)
    line = RedactingFormatter(logging.Formatter("%(message)s"), settings).format(record)
    assert line == "auth failed with ***"
    # The embedded defaults are public (and "chicago" is in every topic name): left alone.
    assert load_settings().redact("org.chicago.cta.stations") == "org.chicago.cta.stations"


CLI = [sys.executable, "-m", "transit_status"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRANSIT_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False)


def test_help_status_and_errors_never_show_a_secret_of_the_profile(tmp_path: Path, cloud_profile: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cloud.toml").write_text(CLOUD)
    state = ["--state-dir", str(tmp_path / "state")]
    outputs = {
        "help": run_cli("--profile", "cloud", "--help", cwd=tmp_path),
        "run help": run_cli("--profile", "cloud", "run", "--help", cwd=tmp_path),
        "status": run_cli("--profile", "cloud", *state, "platform", "status", cwd=tmp_path),
        "bad setting": run_cli(
            "--settings", str(cloud_profile), "--kafka-port", "0", "platform", "status", cwd=tmp_path
        ),
    }
    for what, result in outputs.items():
        text = result.stdout + result.stderr
        assert "Traceback" not in text, what
        assert not any(secret in text for secret in SECRETS), f"a secret in the output of {what}:\n{text}"
    assert outputs["help"].returncode == 0 and "--profile" in outputs["help"].stdout
    assert "--pipeline-only" in outputs["run help"].stdout
    assert "kafka port 0 is not between" in outputs["bad setting"].stderr

    missing = run_cli("--profile", "nowhere", "platform", "status", cwd=tmp_path)
    assert missing.returncode == 1 and "no profile 'nowhere'" in missing.stderr and "Traceback" not in missing.stderr


def test_pipeline_only_names_each_endpoint_that_does_not_answer_without_a_secret(
    tmp_path: Path, clean_env: None
) -> None:
    """Nothing listens at the profile's addresses (closed local ports): every endpoint the CTA pipeline
    needs is named with why, the command fails before starting anything, and no secret is shown."""
    from transit_status.platform.ports import free_ports

    kafka, registry, connect, proxy, flink, gateway, postgres = free_ports(7)
    profile = tmp_path / "closed.toml"
    profile.write_text(
        f"""
kafka_bootstrap_servers = "127.0.0.1:{kafka}"
kafka_security_protocol = "SASL_PLAINTEXT"
kafka_sasl_username = "KEY"
kafka_sasl_password = "{SASL_SECRET.replace('"', "")}"
schema_registry_endpoint = "http://127.0.0.1:{registry}"
schema_registry_username = "REGISTRYKEY"
schema_registry_password = "{REGISTRY_SECRET}"
connect_endpoint = "http://127.0.0.1:{connect}"
rest_proxy_endpoint = "http://127.0.0.1:{proxy}"
flink_rest_endpoint = "http://127.0.0.1:{flink}"
sql_gateway_endpoint = "http://127.0.0.1:{gateway}"
postgres_dsn = "postgresql://pipeline:{PG_SECRET}@127.0.0.1:{postgres}/cta"
"""
    )
    state = tmp_path / "state"
    result = run_cli(
        "--settings",
        str(profile),
        "--state-dir",
        str(state),
        "run",
        "--pipeline-only",
        "--network",
        "cta",
        cwd=tmp_path,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "Traceback" not in text
    for named in (
        f"Kafka at 127.0.0.1:{kafka}",
        f"the Schema Registry at http://127.0.0.1:{registry}",
        f"Kafka Connect at http://127.0.0.1:{connect}",
        f"the REST Proxy at http://127.0.0.1:{proxy}",
        f"Flink's SQL Gateway at http://127.0.0.1:{gateway}",
        f"PostgreSQL at postgresql://pipeline@127.0.0.1:{postgres}/cta",
    ):
        assert named in result.stderr, text
    assert "MariaDB" not in text and "OpenSearch" not in text  # the CTA needs neither
    assert not any(secret.replace('"', "") in text for secret in SECRETS)
    assert not (state / "run").exists() or not list((state / "run").glob("*.json"))  # nothing started


@pytest.mark.parametrize("name", ["confluent-platform", "confluent-cloud"])
def test_the_example_profiles_are_valid_settings(name: str, clean_env: None) -> None:
    settings = load_settings(PROJECT_ROOT / "deploy" / "profiles" / f"{name}.toml")
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.schema_registry_url.startswith("https://") and settings.schema_registry_auth is not None
    assert settings.replication_factor == 3


# The embedded platform's own Java worker config and our embedded registry's log: they only ever talk
# to the embedded broker, in plaintext.
EMBEDDED_ONLY = {"config.py", "platform/services/connect.py", "platform/schema_registry/kafka_log.py"}


def test_every_python_kafka_client_takes_its_config_from_the_settings() -> None:
    """One place builds the bootstrap list and security (Settings.kafka_client_config): a client that
    spelt "bootstrap.servers" itself would miss a cluster's TLS and SASL."""
    source = PROJECT_ROOT / "src" / "transit_status"
    own = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if '"bootstrap.servers"' in path.read_text() and str(path.relative_to(source)) not in EMBEDDED_ONLY
    ]
    assert not own, f"Kafka clients configured outside Settings.kafka_client_config: {own}"
