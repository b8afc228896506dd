"""The Faust application: the stations transform (at least once, idempotent upserts).

``create_app(settings)`` builds a configured ``faust.App`` with its agent. Tables live in memory
and are rebuilt from their changelog topics (``<app id>-<table>-changelog``) when a worker starts.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import faust
from faust.types.auth import CredentialsT

from transit_status.config import Settings
from transit_status.streams import stations
from transit_status.topics import ensure_topics

# A restarted worker (after a crash) waits for the dead one's session to expire before the
# group rebalances: keep that short. Heartbeats must be well inside it.
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 2.0


def create_app(settings: Settings, topic_partitions: Mapping[str, int] | None = None) -> faust.App:
    """A Faust app for ``settings``; ``topic_partitions`` (name → count) is looked up when not given.

    Looking up the input topics' partition counts creates the contract topics that are missing
    (see transit_status/topics.py): each table must have exactly as many partitions as the topic it
    is built from.
    """
    if topic_partitions is None:
        topic_partitions = ensure_topics(settings)
    faust_dir = settings.state_dir / "faust"
    faust_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.faust_app_id,
        # Faust takes one URL per broker; its clients are aiokafka's, so the security is translated.
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings),
        # At least once is enough: the stations transform only upserts and deletes by key (the
        # turnstile counts, which need exactly once, run on Flink: transit_status/sql/).
        processing_guarantee="at_least_once",
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.topic_replicas,
        datadir=str(faust_dir),
        # No web server: nothing here serves HTTP, and Faust's default port (6066) is never free
        # for two workers on one host.
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
    )
    stations.register(app, settings, topic_partitions[settings.stations_topic])
    return app


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The settings' Kafka security (``Settings.kafka_client_config``) as Faust's credentials."""
    protocol = settings.kafka_security_protocol
    context = None
    if protocol.endswith("SSL"):
        ca = settings.kafka_ssl_ca_location
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
        context.check_hostname = settings.kafka_ssl_verify_hostname
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None
