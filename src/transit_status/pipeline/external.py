"""The pipeline on a platform that already runs (``run --pipeline-only``): what it needs there, and
whether each of those endpoints answers before anything starts.

Which platform services the chosen networks need is what ``whole_stack`` derives from each pipeline
process's dependencies; here each of them is an endpoint from the settings (``kafka_bootstrap_servers``,
``*_endpoint``, ``*_dsn``) with a check that says, in a line, why it does not answer. Kafka Connect's
check also asks for the connector plugins the pipeline registers: Confluent Platform's Connect has no
Debezium unless it was installed there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient

from transit_status.config import Settings
from transit_status.pipeline import pipeline_services, whole_stack
from transit_status.platform.services.flink import taskmanager_names

CHECK_TIMEOUT_S = 5.0

# librdkafka logs every refused connection; the check reports its own one line instead.
_quiet = logging.getLogger("transit_status.pipeline.external.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False

# The connector classes each network's pipeline registers (pipeline/connectors.py).
POSTGRES_SOURCE = "io.debezium.connector.postgresql.PostgresConnector"
MARIADB_SOURCE = "io.debezium.connector.mariadb.MariaDbConnector"
JDBC_SINK = "io.debezium.connector.jdbc.JdbcSinkConnector"


@dataclass(frozen=True)
class Endpoint:
    """One platform service of an existing platform: what it is, where (printable: no secret), and its check."""

    service: str
    what: str
    where: str
    check: Callable[[], str | None]
    """None when it answers as the pipeline needs; otherwise why not, in a line."""

    def problem(self, settings: Settings) -> str | None:
        try:
            reason = self.check()
        except Exception as error:  # an unexpected answer is a reason too, never a traceback
            reason = f"{type(error).__name__}: {error}"
        return settings.redact(f"{self.what} at {self.where}: {reason}") if reason else None


def required_services(settings: Settings) -> list[str]:
    """The platform services the chosen networks' pipeline processes depend on (``settings.run_networks``)."""
    pipeline = {spec.name for spec in pipeline_services(settings)}
    return [spec.name for spec in whole_stack(settings) if spec.name not in pipeline]


def endpoints(settings: Settings) -> dict[str, Endpoint]:
    """Every platform service the pipeline may use, as an endpoint of the settings, by service name."""
    registry, connect, gateway = settings.schema_registry_url, settings.connect_url, settings.sql_gateway_url
    flink_rest, opensearch = settings.flink_rest_url, settings.opensearch_url
    listed = [
        Endpoint("kafka", "Kafka", settings.bootstrap_servers, lambda: kafka_problem(settings)),
        Endpoint(
            "schema-registry",
            "the Schema Registry",
            registry,
            lambda: http_problem(f"{registry}/subjects", auth=settings.schema_registry_auth),
        ),
        Endpoint("rest-proxy", "the REST Proxy", settings.rest_proxy_url, lambda: rest_proxy_problem(settings)),
        Endpoint("connect", "Kafka Connect", connect, lambda: connect_problem(settings)),
        Endpoint("flink-jobmanager", "Flink's JobManager", flink_rest, lambda: http_problem(f"{flink_rest}/overview")),
        # One per TaskManager the settings name (flink_taskmanagers): the n-th answers once n are registered.
        *(
            Endpoint(
                name,
                "Flink's TaskManagers" if n == 1 else f"Flink's TaskManager {n}",
                flink_rest,
                lambda n=n: taskmanager_problem(settings, n),
            )  # type: ignore[misc]
            for n, name in enumerate(taskmanager_names(settings), start=1)
        ),
        Endpoint("sql-gateway", "Flink's SQL Gateway", gateway, lambda: http_problem(f"{gateway}/v1/info")),
        Endpoint(
            "opensearch",
            "OpenSearch",
            opensearch,
            lambda: http_problem(
                opensearch,
                auth=settings.opensearch_auth,
                verify=settings.httpx_verify(settings.opensearch_ca_location, settings.opensearch_verify_certs),
            ),
        ),
        Endpoint("postgres", "PostgreSQL", settings.postgres.redacted, lambda: postgres_problem(settings)),
        Endpoint("mariadb", "MariaDB", settings.mariadb.redacted, lambda: mariadb_problem(settings)),
    ]
    return {endpoint.service: endpoint for endpoint in listed}


def unanswered(settings: Settings, services: Iterable[str], report: Callable[[str], None] = print) -> list[str]:
    """Check each of ``services``' endpoints, reporting each; return what does not answer, one line each."""
    known = endpoints(settings)
    problems = []
    for service in services:
        endpoint = known[service]
        problem = endpoint.problem(settings)
        report(f"  {'answers ' if problem is None else 'FAILS   '} {endpoint.what:<22} {endpoint.where}")
        if problem is not None:
            problems.append(problem)
    return problems


def prepare_reference_data(settings: Settings, services: Iterable[str]) -> list[str]:
    """What the embedded databases get when they start, on the existing ones: the stations tables
    (idempotent). Returns what was done, one line each."""
    from transit_status.platform.services import mariadb, postgres

    done = []
    services = set(services)
    if "postgres" in services:
        done.append(f"PostgreSQL: {postgres.load_stations(settings)} stops in table stations")
    if "mariadb" in services:
        stations, users = mariadb.load_tables(settings)
        done.append(f"MariaDB: {stations} stations, {users} card holders in db {settings.mariadb.name}")
    return done


# ---- the checks -------------------------------------------------------------------------------------


def http_problem(
    url: str,
    auth: tuple[str, str] | None = None,
    verify: bool | str = True,
    expect: Callable[[Any], str | None] | None = None,
) -> str | None:
    try:
        response = httpx.get(url, auth=auth, verify=verify, timeout=CHECK_TIMEOUT_S)
    except httpx.HTTPError as error:
        return f"no answer ({type(error).__name__}: {error})"
    if response.status_code in (401, 403):
        return f"HTTP {response.status_code}: the credentials in the settings are not accepted"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    if expect is not None:
        try:
            return expect(response.json())
        except ValueError:
            return "the answer is not JSON (is it the right service?)"
    return None


def kafka_problem(settings: Settings) -> str | None:
    errors: list[str] = []
    admin = AdminClient(
        settings.kafka_client_config(
            logger=_quiet, error_cb=lambda error: errors.append(error.str()), **{"socket.timeout.ms": 3000}
        )
    )
    try:
        metadata = admin.list_topics(timeout=CHECK_TIMEOUT_S)
    except Exception as error:
        reason = error.args[0].str() if error.args and hasattr(error.args[0], "str") else str(error)
        # librdkafka's error callback says why (refused, TLS, authentication); the call only "timed out".
        return errors[-1] if errors else reason
    return None if metadata.brokers else "no broker in the cluster's metadata"


def rest_proxy_problem(settings: Settings) -> str | None:
    return http_problem(f"{settings.rest_proxy_url}/topics")


def connect_problem(settings: Settings) -> str | None:
    needed = set()
    if "cta" in settings.networks_run:
        needed.add(POSTGRES_SOURCE)
    if "london" in settings.networks_run:
        needed |= {MARIADB_SOURCE, JDBC_SINK}

    def plugins(answer: Any) -> str | None:
        installed = {plugin.get("class") for plugin in answer} if isinstance(answer, list) else set()
        missing = sorted(needed - installed)
        if missing:
            return f"connector plugin(s) not installed on the workers: {', '.join(missing)} (see docs/CLUSTER.md)"
        return None

    return http_problem(f"{settings.connect_url}/connector-plugins", expect=plugins)


def taskmanager_problem(settings: Settings, at_least: int = 1) -> str | None:
    def registered(overview: Any) -> str | None:
        count = overview.get("taskmanagers", 0)
        if count >= at_least:
            return None
        return "no TaskManager is registered" if not count else f"only {count} TaskManager(s) registered"

    return http_problem(f"{settings.flink_rest_url}/overview", expect=registered)


def postgres_problem(settings: Settings) -> str | None:
    import psycopg

    from transit_status.platform.services.postgres import connect

    try:
        with connect(settings) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return _first_line(str(error))
    return None


def mariadb_problem(settings: Settings) -> str | None:
    import pymysql

    from transit_status.platform.services.mariadb import connect

    try:
        with connect(settings) as conn:
            conn.ping()
    except pymysql.Error as error:
        return _first_line(str(error))
    return None


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["(no detail)"])[0]
