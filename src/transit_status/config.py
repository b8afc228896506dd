"""One frozen, validated settings object for every process of transit-status.

Values come from (highest first) explicit overrides (CLI flags), environment variables prefixed
``TRANSIT_`` (e.g. ``TRANSIT_KAFKA_PORT=19092``), a settings file (a profile: ``--profile NAME`` or
``--settings FILE``, TOML, the same names in lower case), then the defaults below. The platform
supervisor hands its settings to the services it starts through the same environment variables, so a
child process reads exactly what its parent was given.

Every service's address is derived from ``host`` and its port (the embedded platform) unless the
settings name it explicitly (``kafka_bootstrap_servers``, ``*_endpoint``, ``*_dsn``: an existing
platform, ``run --pipeline-only``). Secrets are ``SecretStr``: printing the settings shows ``**********``;
:meth:`Settings.redact` scrubs them from any text that may hold one (errors from a server, log lines).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "TRANSIT_"
GENERATED = "password (default: generated once per state directory, kept in <state>/secrets, mode 0600)."
GENERATED_PASSWORDS = ("postgres_password", "mariadb_password", "mariadb_connector_password")
KAFKA_BROKER_COUNTS = (1, 3)
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
# The CTA's Train Tracker Locations API. Its documentation (v1.45, rev. 15-May-2018: "The default daily
# transaction limit for this API is 100,000 transactions") sets the budget: one request asks for all 8
# lines (rt takes up to 8), so 86,400 s / 15 s = 5,760 requests a day, 5.8 % of it, and even a poll that
# uses all FEED_RETRY_ATTEMPTS tries (17,280) stays far inside. The floor is 86,400 / 100,000 s per try a
# poll may make: 2.6 s with the default 3 tries, 8.64 s with the most, 10 (min_train_tracker_poll_s).
CTA_TRAIN_TRACKER_URL = "https://lapi.transitchicago.com/api/1.0/ttpositions.aspx"
CTA_TRAIN_TRACKER_DAILY_LIMIT = 100_000
FEED_RETRY_ATTEMPTS = 3
CTA_TRAIN_TRACKER_POLL_S = 15.0


def min_train_tracker_poll_s(attempts: int) -> float:
    """The shortest Train Tracker poll interval that stays inside the daily limit even when every poll
    uses all ``attempts`` tries."""
    return 86_400 / CTA_TRAIN_TRACKER_DAILY_LIMIT * attempts


CTA_TRAIN_TRACKER_MIN_POLL_S = min_train_tracker_poll_s(FEED_RETRY_ATTEMPTS)
SOURCES = ("simulation", "cta-train-tracker", "gtfs-rt")
SIMULATION_BREAKDOWN = re.compile(r"(?P<route>[A-Za-z0-9_-]+)@(?P<after>\d+(\.\d+)?)\+(?P<hold>\d+(\.\d+)?)")
"""``simulation_breakdown``: ROUTE@MINUTES+HOLD_MINUTES."""
REPLAY_PREFIX = "replay:"
# TaskManagers on one machine: each is a JVM of its own; more than a few only compete for the same cores.
MAX_TASKMANAGERS = 8
SQL_JOBS_PER_NETWORK = {"cta": 3, "london": 2}
"""How many Flink SQL jobs each network's pipeline runs (pipeline/sql_jobs.py's CTA_JOBS and LONDON_JOBS; a
test keeps the two in step): each takes a slot per parallel instance, and the slots must hold them all."""


class Settings(BaseSettings):
    """Ports, paths and credentials of the embedded platform and the pipeline."""

    # hide_input_in_errors: a rejected value may be a password (or a DSN holding one).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore", hide_input_in_errors=True)

    host: str = Field(
        "127.0.0.1",
        description="Address the platform's services listen on (Kafka, Connect, Flink, the databases, OpenSearch, "
        "registry, REST Proxy): loopback unless named here. The dashboard has its own, dashboard_host.",
    )
    dashboard_host: str = Field(
        "127.0.0.1", description="Address the dashboard listens on (e.g. 0.0.0.0 to show it to other machines)."
    )
    dashboard_allowed_origins: str = Field(
        "",
        description="Comma-separated origins (scheme://host[:port]) whose pages may open the dashboard's "
        "WebSockets besides its own, e.g. a proxy's https://status.example.org.",
    )
    state_dir: Path = Field(PROJECT_ROOT / ".transit", description="Data, logs and pid files.")
    jars_dir: Path = Field(PROJECT_ROOT / ".cache" / "jars", description="Maven-resolved jars.")
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Reference data (one folder per network).")
    flink_dir: Path = Field(
        PROJECT_ROOT / ".cache" / "flink", description="The apache-flink wheel's distribution, installed apart."
    )
    network: str = Field("cta", description="Which transit network's data to load.")
    system_data_dir: Path = Field(
        Path("/var/lib/transit-status"),
        description="Run as root: where PostgreSQL's and MariaDB's files go when their system user cannot reach "
        "the state directory (e.g. under /root); never a home's permissions are widened instead.",
    )

    kafka_brokers: int | None = Field(
        None,
        description="Kafka nodes of the embedded platform, each a KRaft broker and controller: 1, or 3 (topics "
        "then get 3 replicas, min.insync.replicas 2). Default: as many as the state directory's Kafka was "
        "created with, else 1.",
    )
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # The second and third nodes of a three-broker cluster (`--brokers 3`).
    kafka_node2_port: int = 9192
    kafka_node2_controller_port: int = 9193
    kafka_node3_port: int = 9292
    kafka_node3_controller_port: int = 9293
    connect_port: int = 8083
    schema_registry_port: int = 8081
    rest_proxy_port: int = 8082
    postgres_port: int = 5432
    dashboard_port: int = 8888
    # Flink's own defaults collide with the platform: REST 8081 is the registry's, the gateway's 8083 Connect's.
    sql_gateway_port: int = Field(8088, description="Flink SQL Gateway REST (ksqlDB's port in the original design).")
    flink_rest_port: int = Field(8089, description="Flink JobManager REST API and web UI.")
    flink_rpc_port: int = Field(6123, description="Flink JobManager RPC (the TaskManager registers there).")
    mariadb_port: int = 3306
    opensearch_port: int = 9200
    opensearch_transport_port: int = 9300

    # Passwords: empty means one generated for this state directory, kept in <state>/secrets/<name> (0600).
    postgres_db: str = "cta"
    postgres_user: str = "cta_admin"
    postgres_password: SecretStr = Field(SecretStr(""), description=f"PostgreSQL's {GENERATED}")
    mariadb_db: str = "tfl"
    mariadb_user: str = "tfl_admin"
    mariadb_password: SecretStr = Field(SecretStr(""), description=f"MariaDB's {GENERATED}")
    mariadb_connector_user: str = Field("debezium", description="MariaDB user Debezium reads the binlog as.")
    mariadb_connector_password: SecretStr = Field(SecretStr(""), description=f"Debezium's MariaDB {GENERATED}")

    # ---- an existing platform's endpoints (`run --pipeline-only`); unset: the embedded one's ------
    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap list, host:port[,host:port...] (default: <host>:<kafka_port>)."
    )
    schema_registry_endpoint: str | None = Field(None, description="Schema Registry URL (default: from host, port).")
    rest_proxy_endpoint: str | None = Field(None, description="REST Proxy (v2) URL (default: from host, port).")
    connect_endpoint: str | None = Field(None, description="Kafka Connect REST URL (default: from host, port).")
    sql_gateway_endpoint: str | None = Field(None, description="Flink SQL Gateway URL (default: from host, port).")
    flink_rest_endpoint: str | None = Field(None, description="Flink JobManager REST URL (default: from host, port).")
    opensearch_endpoint: str | None = Field(None, description="OpenSearch URL, http(s) (default: from host, port).")
    postgres_dsn: SecretStr | None = Field(
        None,
        description="postgresql://user[:password]@host[:port]/db[?sslmode=...]; parts left out come from "
        "host, postgres_port, postgres_db, postgres_user, postgres_password.",
    )
    mariadb_dsn: SecretStr | None = Field(
        None,
        description="mariadb://user[:password]@host[:port]/db; parts left out come from host, mariadb_port, "
        "mariadb_db, mariadb_user, mariadb_password.",
    )
    connect_postgres_address: str | None = Field(
        None, description="host:port of PostgreSQL as Kafka Connect's workers reach it (default: the DSN's)."
    )
    connect_mariadb_address: str | None = Field(
        None, description="host:port of MariaDB as Kafka Connect's workers reach it (default: the DSN's)."
    )
    connect_kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka as Kafka Connect's workers reach it, for Debezium's schema history (default: ours)."
    )
    flink_checkpoints_endpoint: str | None = Field(
        None,
        description="Where the SQL jobs checkpoint, as the Flink cluster sees it (file://, s3://, hdfs://); "
        "default: the state directory. Only a file:// one is searched to resume a job from its last checkpoint.",
    )

    # ---- security, passed through to every client ---------------------------------------------------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str = Field("", description="SASL user (Confluent Cloud: the cluster API key).")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (Cloud: the API secret).")
    kafka_ssl_ca_location: Path | None = Field(
        None, description="PEM file of the CAs the brokers' certificates are checked against (default: the system's)."
    )
    kafka_ssl_verify_hostname: bool = Field(True, description="Check that a broker's certificate names its host.")
    connect_client_overrides: bool = Field(
        False,
        description="Give connectors our Kafka security as consumer.override.*/producer.override.* (the worker "
        "must allow it: connector.client.config.override.policy=All); off: the worker's own.",
    )
    schema_registry_username: str = Field("", description="Registry basic auth user (Cloud: the registry API key).")
    schema_registry_password: SecretStr = Field(SecretStr(""), description="Registry basic auth password.")
    opensearch_username: str = Field("", description="OpenSearch basic auth user.")
    opensearch_password: SecretStr = Field(SecretStr(""), description="OpenSearch basic auth password.")
    opensearch_ca_location: Path | None = Field(
        None, description="PEM file of OpenSearch's CA (default: the system's)."
    )
    opensearch_verify_certs: bool = Field(True, description="Check OpenSearch's certificate over HTTPS.")

    kafka_heap: str = Field("512m", description="JVM max heap of the Kafka broker.")
    connect_heap: str = Field("384m", description="JVM max heap of the Kafka Connect worker.")
    flink_jobmanager_memory: str = Field("768m", description="Flink JobManager total process memory.")
    flink_taskmanager_memory: str = Field("1024m", description="Flink TaskManager total process memory.")
    sql_gateway_heap: str = Field("320m", description="JVM max heap of the Flink SQL Gateway.")
    flink_taskmanagers: int = Field(
        1,
        ge=1,
        le=MAX_TASKMANAGERS,
        description="Flink TaskManagers of the embedded cluster (flink-taskmanager, flink-taskmanager-2, ...), each "
        "a JVM of flink_taskmanager_memory with flink_task_slots slots.",
    )
    flink_parallelism: int | None = Field(
        None, ge=1, description="Parallelism of the pipeline's SQL jobs (default: one per TaskManager)."
    )
    flink_task_slots: int = Field(
        10,
        ge=1,
        description="Slots per TaskManager. Each SQL job takes as many slots as its parallelism (its operators "
        "share them); 10 hold all five jobs (Chicago's three, London's two) at parallelism 2 on one TaskManager "
        "while another restarts.",
    )
    flink_checkpoint_interval_s: float = Field(
        2.0, gt=0, description="Seconds between Flink checkpoints: also how late exactly-once output appears."
    )
    opensearch_heap: str = Field("512m", description="JVM heap (min = max) of the OpenSearch node.")
    ready_timeout_s: float = Field(120.0, gt=0, description="How long `platform up` waits for health.")
    stop_timeout_s: float = Field(20.0, gt=0, description="Grace period before a child is killed.")
    service_stop_grace_s: float = Field(
        5.0, gt=0, description="How long a Python service lets in-flight requests finish when told to stop."
    )

    schemas_topic: str = Field("_schemas", description="Compacted topic holding the registry's schemas.")
    stations_topic_prefix: str = Field(
        "org.chicago.cta.", description="Kafka Connect topic prefix; the stations table lands on <prefix>stations."
    )

    # ---- topics: one place for every name (the cluster profile may rename them by env) ----------
    topic_london_entries: str = Field("entries", description="London's barrier entries (the original design's name).")
    topic_london_exits: str = Field("exits", description="London's barrier exits (the original design's name).")
    topic_stations: str = "org.chicago.cta.stations.table.v1"
    topic_arrivals: str = "org.chicago.cta.station.arrivals.v1"
    topic_turnstiles: str = "org.chicago.cta.turnstiles.v1"
    topic_turnstile_summary: str = "org.chicago.cta.turnstile.summary.v1"
    topic_weather: str = "org.chicago.cta.weather.v1"
    topic_run_times: str = Field(
        "org.chicago.cta.run.times.v1",
        description="Typical run time between consecutive stations per line and direction, learned by Flink SQL.",
    )
    topic_dead_letters: str = "org.chicago.cta.dead-letters.v1"
    # Service health (Flink SQL job cta-service-health, docs/ARCHITECTURE.md "Service health").
    topic_cta_schedule: str = Field(
        "org.chicago.cta.schedule.v1",
        description="Compacted reference: scheduled headway and run time per line, station and direction.",
    )
    topic_cta_headways: str = Field(
        "org.chicago.cta.headways.v1", description="Measured headway at every arrival (line, station, direction)."
    )
    topic_cta_dwells: str = Field("org.chicago.cta.dwells.v1", description="Measured dwell time per station stop.")
    topic_cta_service_alerts: str = Field(
        "org.chicago.cta.service.alerts.v1", description="Held trains, gaps and bunching: open and clear records."
    )
    topic_london_station_rows: str = Field(
        "uk.london.tfl.stations.by-nlc",
        description="Compacted topic of London's stations (MariaDB via Connect), keyed by nlc.",
    )
    topic_london_stations: str = Field(
        "uk.london.tfl.stations",
        description="Compacted topic of London's stations keyed by current name (Flink SQL, from the nlc topic).",
    )
    # London's derived topics (Flink SQL): the original design's enriched streams, then live state.
    topic_london_station_entries: str = Field("station_entries", description="Entries joined with their station.")
    topic_london_station_exits: str = Field("station_exits", description="Exits joined with their station.")
    topic_london_station_activity: str = Field(
        "uk.london.tfl.station.activity.v1", description="Live entries/exits/inside per station (upsert)."
    )
    topic_london_line_activity: str = Field(
        "uk.london.tfl.line.activity.v1", description="Live entries/exits/inside per line (upsert)."
    )
    topic_london_station_windows: str = Field(
        "uk.london.tfl.station.windows.v1", description="Entries/exits per station in 1- and 15-minute windows."
    )
    topic_london_crowding_alerts: str = Field(
        "uk.london.tfl.crowding.alerts.v1",
        description="Stations far above their typical entries for the time of day: open and clear records.",
    )
    topic_london_calendar: str = Field(
        "uk.london.tfl.calendar.v1", description="Compacted reference: London's day type of each local date."
    )
    topic_london_typical_entries: str = Field(
        "uk.london.tfl.typical.entries.v1",
        description="Compacted reference: typical entries per station, day type and local hour.",
    )
    # The original design's names: its index template (index_patterns station_entries, station_exits) and
    # Kibana data views expect them.
    opensearch_entries_stream: str = Field("station_entries", description="OpenSearch data stream of London's entries.")
    opensearch_exits_stream: str = Field("station_exits", description="OpenSearch data stream of London's exits.")
    london_opensearch_sink_group: str = Field(
        "transit-status-opensearch-sink", description="Consumer group of the OpenSearch sink (its committed offsets)."
    )
    london_postgres_sink_connector: str = Field(
        "london-postgres-sink", description="Kafka Connect name of the JDBC sink into PostgreSQL (its consumer group)."
    )
    partitions: int = Field(6, ge=1, description="Partitions of the arrivals and turnstile topics.")
    replication_factor: int | None = Field(
        None, ge=1, description="Replicas of every topic (default: the embedded brokers' count; 3 on a real cluster)."
    )

    # ---- pipeline ---------------------------------------------------------------------------------
    run_networks: Literal["all", "cta", "london"] = Field(
        "all", description="Which networks' pipelines `run` starts: Chicago's, London's, or both."
    )
    london_barrier_format: Literal["json", "avro"] = Field(
        "json", description="London's barrier events: the original design's JSON, or Avro through the registry."
    )
    london_station_format: Literal["avro", "json"] = Field(
        "avro",
        description="London's station rows from MariaDB: Avro through the registry (the original design's"
        " stations_tb), or JSON.",
    )
    london_barrier_scale: float = Field(1.0, gt=0, description="Share of TfL's typical-day travellers simulated.")
    london_barrier_start: str = Field(
        "",
        description="London time the barriers' simulated clock starts at (ISO, e.g. 2023-06-07T08:00); empty: now.",
    )
    delivery_counts_tag: str = Field(
        "", description="Names this stack's delivery-count files (private stacks set their own: delivery_counts_dir)."
    )
    simulation_speed: float = Field(10.0, gt=0, description="Simulated seconds per real second.")
    simulation_seed: int = Field(2024, description="Seed of the simulation: same seed, same run.")
    simulation_run_variation: float = Field(
        0.05,
        ge=0,
        le=0.3,
        description="Each simulated train's ride between two stations varies by up to this share either way "
        "(seeded); 0: every run as scheduled.",
    )
    simulation_dwell_variation_s: float = Field(
        5.0, ge=0, le=30, description="Each simulated dwell at a station varies by up to this many seconds either way."
    )
    simulation_breakdown: str = Field(
        "",
        description="A known breakdown, for demos: ROUTE@MINUTES+HOLD, e.g. red@10+15 holds the first Red train to "
        "arrive at a station 10 simulated minutes or more into the run for 15 minutes; empty: only random ones.",
    )
    service_held_margin_s: int = Field(
        120,
        gt=0,
        description="A train is held when not seen this many (event-time) seconds past its scheduled next report.",
    )
    service_tick_s: int = Field(
        10, gt=0, le=60, description="How often (event-time seconds) the service-health job looks for absent trains."
    )
    london_crowding_ratio: float = Field(
        2.0, gt=1, description="A London station is crowded when a 15-minute window has this many times its typical."
    )
    london_crowding_min_entries: int = Field(
        20, ge=1, description="...and at least this many entries (quiet stations' noise raises no alert)."
    )
    faust_app_id: str = Field("transit-status", description="Faust application id (consumer group).")
    sql_job_prefix: str = Field("transit-status", description="Prefix of the Flink SQL jobs' names on the cluster.")
    watchdog_interval_s: float = Field(
        3.0, gt=0, description="Seconds between the watchdog's checks of the SQL jobs, connectors and groups."
    )
    watchdog_stall_after_s: float = Field(
        60.0, gt=0, description="A consumer group whose offsets stand still this long while records wait is stalled."
    )
    dashboard_replay_s: float = Field(
        900.0, gt=0, description="How far back (real seconds) the dashboard replays arrivals on start."
    )
    health_start_grace_s: float = Field(
        180.0,
        gt=0,
        description="How long after the dashboard starts a feed with no record yet is 'starting', not stale.",
    )
    health_stale_factor: float = Field(
        3.0, gt=1, description="A feed is stale once its newest record is older than this many expected intervals."
    )

    # ---- where the trains come from (feeds/): the simulation, or a real agency's feed ----------------
    source: str = Field(
        "simulation",
        description="Where arrivals come from: simulation (no key, no network), cta-train-tracker (the CTA's "
        "Train Tracker Locations API: needs cta_train_tracker_key), gtfs-rt (any agency: gtfs_static and a "
        "GTFS-realtime URL), or replay:DIR (a `transit-status record` directory, at replay_speed).",
    )
    replay_speed: float = Field(1.0, gt=0, description="replay:DIR plays the recording this many times faster.")
    cta_train_tracker_key: SecretStr = Field(
        SecretStr(""), description="The CTA Train Tracker API key (apply at transitchicago.com/developers)."
    )
    cta_train_tracker_url: str = Field(
        CTA_TRAIN_TRACKER_URL, description="The Train Tracker Locations API (ttpositions.aspx)."
    )
    cta_train_tracker_poll_s: float = Field(
        CTA_TRAIN_TRACKER_POLL_S,
        gt=0,
        description="Seconds between Train Tracker polls (one request for all 8 lines). The key's documented "
        f"limit is {CTA_TRAIN_TRACKER_DAILY_LIMIT:,} requests a day; at least 0.864 s per try of "
        f"feed_retry_attempts ({CTA_TRAIN_TRACKER_MIN_POLL_S:.1f} s with {FEED_RETRY_ATTEMPTS}) keeps even a poll "
        "that uses every try inside it.",
    )
    gtfs_static: str | None = Field(None, description="The agency's static GTFS zip: a path or an http(s) URL.")
    gtfs_rt_vehicle_positions_url: str | None = Field(None, description="GTFS-realtime VehiclePositions URL.")
    gtfs_rt_trip_updates_url: str | None = Field(None, description="GTFS-realtime TripUpdates URL.")
    gtfs_rt_alerts_url: str | None = Field(None, description="GTFS-realtime Alerts URL (optional).")
    gtfs_rt_poll_s: float = Field(
        15.0, ge=1.0, description="Seconds between GTFS-realtime polls (agencies publish every 10-30 s)."
    )
    feed_timeout_s: float = Field(
        10.0, gt=0, description="HTTP timeout of one feed request (and of the feed's start-up check of Kafka)."
    )
    feed_start_backoff_s: float = Field(
        2.0,
        gt=0,
        description="First wait before a failed feed start-up step (static GTFS URL, Kafka) is tried again; "
        "doubles up to 5 minutes. The feed never exits for them: it reports itself degraded meanwhile.",
    )
    feed_retry_attempts: int = Field(
        FEED_RETRY_ATTEMPTS, ge=1, le=10, description="Tries per poll (with backoff) before a feed counts as degraded."
    )
    feed_stale_polls: int = Field(
        3, ge=1, description="A feed whose own timestamp does not advance for this many polls is degraded (stale)."
    )

    @field_validator("simulation_breakdown")
    @classmethod
    def _breakdown(cls, value: str) -> str:
        if value and not SIMULATION_BREAKDOWN.fullmatch(value):
            raise ValueError(f"{value!r} is not ROUTE@MINUTES+HOLD_MINUTES, e.g. red@10+15")
        return value

    @field_validator("london_barrier_start")
    @classmethod
    def _iso_time(cls, value: str) -> str:
        if value:
            datetime.fromisoformat(value)  # a ValueError names the bad value
        return value

    @field_validator("dashboard_allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in split_origins(value):
            parts = urlsplit(origin)
            bare = parts.path in ("", "/") and not parts.query and not parts.fragment
            if parts.scheme not in ("http", "https") or not parts.hostname or not bare:
                raise ValueError(f"{origin!r} is not an origin like https://host or http://host:port")
        return value

    @field_validator("state_dir", "jars_dir", "data_dir", "flink_dir", "system_data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("kafka_ssl_ca_location", "opensearch_ca_location")
    @classmethod
    def _optional_absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("kafka_bootstrap_servers", "connect_kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_list(cls, value: str | None) -> str | None:
        if value is None:
            return None
        servers = [server.strip() for server in value.split(",") if server.strip()]
        if not servers or not all(_HOST_PORT.fullmatch(server) for server in servers):
            raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return ",".join(servers)

    @field_validator("connect_postgres_address", "connect_mariadb_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _HOST_PORT.fullmatch(value.strip()):
            raise ValueError(f"expected host:port, got {value!r}")
        return value.strip() if value is not None else None

    @field_validator(
        "schema_registry_endpoint",
        "rest_proxy_endpoint",
        "connect_endpoint",
        "sql_gateway_endpoint",
        "flink_rest_endpoint",
        "opensearch_endpoint",
    )
    @classmethod
    def _http_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        if parts.password is not None:  # credentials go in *_username/*_password, which are kept secret
            raise ValueError("put the credentials in the *_username and *_password settings, not in the URL")
        return value.strip().rstrip("/")

    @field_validator("postgres_dsn", "mariadb_dsn")
    @classmethod
    def _dsn(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is not None:
            schemes = DSN_SCHEMES[info.field_name]
            # The message never quotes the DSN: it may hold a password.
            try:
                parse_dsn(value.get_secret_value(), schemes)
            except ValueError as problem:
                raise ValueError(f"{problem}; expected {schemes[0]}://user[:password]@host[:port]/database") from None
        return value

    @field_validator("kafka_brokers")
    @classmethod
    def _broker_count(cls, value: int | None) -> int | None:
        # One node, or a quorum that survives one loss with min.insync.replicas 2: nothing in between.
        if value is not None and value not in KAFKA_BROKER_COUNTS:
            raise ValueError(f"the embedded Kafka runs 1 or 3 brokers, not {value}")
        return value

    @model_validator(mode="after")
    def _recorded_broker_count(self) -> Settings:
        # `platform status`, `down` and `run` find a three-broker cluster without being told again.
        if self.kafka_brokers is None:
            recorded = self.kafka_cluster_size_file
            try:
                count = int(recorded.read_text().strip()) if recorded.is_file() else 1
            except (OSError, ValueError):
                raise ValueError(
                    f"{recorded} should hold the Kafka cluster's size (1 or 3); fix or remove it"
                ) from None
            if count not in KAFKA_BROKER_COUNTS:
                raise ValueError(f"{recorded} says {count} brokers; the embedded Kafka runs 1 or 3")
            object.__setattr__(self, "kafka_brokers", count)
        return self

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        value = value.strip()
        if value in SOURCES:
            return value
        if value.startswith(REPLAY_PREFIX) and value[len(REPLAY_PREFIX) :].strip():
            return value
        raise ValueError(f"expected one of {', '.join(SOURCES)} or {REPLAY_PREFIX}DIR, got {value!r}")

    @field_validator(
        "cta_train_tracker_url", "gtfs_rt_vehicle_positions_url", "gtfs_rt_trip_updates_url", "gtfs_rt_alerts_url"
    )
    @classmethod
    def _feed_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Not quoted: a feed URL may carry an API key in its query.
            raise ValueError("expected an http:// or https:// URL")
        return value.strip()

    @model_validator(mode="after")
    def _train_tracker_inside_its_daily_limit(self) -> Settings:
        # Checked whatever the source: a profile that switches to cta-train-tracker later is already safe.
        floor = min_train_tracker_poll_s(self.feed_retry_attempts)
        if self.cta_train_tracker_poll_s < floor:
            worst = 86_400 / self.cta_train_tracker_poll_s * self.feed_retry_attempts
            raise ValueError(
                f"cta_train_tracker_poll_s {self.cta_train_tracker_poll_s:g} s with feed_retry_attempts "
                f"{self.feed_retry_attempts} may make {worst:,.0f} Train Tracker requests a day, over its "
                f"{CTA_TRAIN_TRACKER_DAILY_LIMIT:,} limit: poll every {floor:g} s or more, or allow fewer tries"
            )
        return self

    @model_validator(mode="after")
    def _source_has_its_settings(self) -> Settings:
        # Checked here, once: `record`, the pipeline process and a profile all fail the same way, before
        # anything starts, naming what is missing (never a key's value).
        if self.source == "cta-train-tracker" and not self.cta_train_tracker_key.get_secret_value():
            raise ValueError(
                "source cta-train-tracker needs cta_train_tracker_key (e.g. TRANSIT_CTA_TRAIN_TRACKER_KEY)"
            )
        if self.source == "gtfs-rt":
            if not self.gtfs_static:
                raise ValueError("source gtfs-rt needs gtfs_static (the agency's GTFS zip: a path or URL)")
            if not (self.gtfs_rt_vehicle_positions_url or self.gtfs_rt_trip_updates_url):
                raise ValueError(
                    "source gtfs-rt needs gtfs_rt_vehicle_positions_url or gtfs_rt_trip_updates_url (or both)"
                )
            if not self.gtfs_static.startswith(("http://", "https://")) and not Path(self.gtfs_static).is_file():
                raise ValueError(f"gtfs_static {self.gtfs_static!r} is no file here (and no http(s) URL)")
        if self.replay_dir is not None and not (self.replay_dir / "index.jsonl").is_file():
            raise ValueError(f"{self.source}: {self.replay_dir} holds no recording (no index.jsonl)")
        return self

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"kafka_security_protocol {self.kafka_security_protocol} needs kafka_sasl_username and "
                "kafka_sasl_password"
            )
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        ports = self.ports
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if not 0 < port < 65536:
                raise ValueError(f"{name} port {port} is not between 1 and 65535")
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} both use port {port}")
            seen[port] = name
        return self

    @model_validator(mode="after")
    def _passwords(self) -> Settings:
        # Every process of a stack reads the same file (children get the value itself through TRANSIT_*
        # variables), so a server and all its clients agree without the password living in the code.
        for name in GENERATED_PASSWORDS:
            if not getattr(self, name).get_secret_value():
                object.__setattr__(self, name, SecretStr(stored_secret(self.secrets_dir / name)))
        return self

    @model_validator(mode="after")
    def _slots_hold_the_jobs(self) -> Settings:
        # A job runs only once it has a slot for each parallel instance, and jobs share no slots: with
        # fewer, a job waits for ever. Each network that runs has SQL_JOBS_PER_NETWORK jobs. An external
        # Flink (flink_rest_endpoint) has slots of its own, which the embedded cluster's numbers do not describe.
        if self.flink_rest_endpoint is not None:
            return self
        slots = self.flink_task_slots * self.flink_taskmanagers
        jobs = sum(SQL_JOBS_PER_NETWORK[network] for network in self.networks_run)
        needed = self.flink_job_parallelism * jobs
        if slots < needed:
            raise ValueError(
                f"{jobs} SQL job(s) at flink_parallelism {self.flink_job_parallelism} need "
                f"{needed} task slots; {self.flink_taskmanagers} TaskManager(s) of {self.flink_task_slots} have {slots}"
            )
        return self

    # ---- derived values: computed here so nothing is spelt twice -------------------------------
    @property
    def replay_dir(self) -> Path | None:
        """The recording ``source`` replays (``replay:DIR``), or None."""
        if not self.source.startswith(REPLAY_PREFIX):
            return None
        return Path(self.source[len(REPLAY_PREFIX) :].strip()).expanduser().resolve()

    @property
    def simulated_source(self) -> bool:
        """The arrivals come from the simulation (which also makes turnstile entries and weather)."""
        return self.source == "simulation"

    @property
    def feed_health_file(self) -> Path:
        """Where the running feed adapter keeps its health (state, reason, since) for the dashboard."""
        return self.state_dir / "feeds" / "health.json"

    @property
    def static_gtfs_dir(self) -> Path:
        """Where the feed saves the static GTFS it read and its stop-id map, for the dashboard and the
        stream worker (``networks/saved_gtfs.py``): one fetcher, one numbering."""
        return self.state_dir / "feeds" / "static-gtfs"

    @property
    def flink_job_parallelism(self) -> int:
        """The SQL jobs' parallelism: ``flink_parallelism`` when set, else one per TaskManager."""
        return self.flink_parallelism or self.flink_taskmanagers

    @property
    def networks_run(self) -> tuple[str, ...]:
        """The networks whose pipelines `run` starts (``run_networks``)."""
        return ("cta", "london") if self.run_networks == "all" else (self.run_networks,)

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def dashboard_origins(self) -> frozenset[str]:
        """The origins configured in ``dashboard_allowed_origins``, normalised (lower case, no slash)."""
        return frozenset(normalise_origin(origin) for origin in split_origins(self.dashboard_allowed_origins))

    @property
    def ports(self) -> dict[str, int]:
        return {
            # Only the nodes that run: one broker leaves nodes 2 and 3's ports free for anything else.
            **{node.service: node.port for node in self.kafka_nodes},
            **{f"{node.service}-controller": node.controller_port for node in self.kafka_nodes},
            "connect": self.connect_port,
            "schema-registry": self.schema_registry_port,
            "rest-proxy": self.rest_proxy_port,
            "postgres": self.postgres_port,
            "dashboard": self.dashboard_port,
            "sql-gateway": self.sql_gateway_port,
            "flink-rest": self.flink_rest_port,
            "flink-rpc": self.flink_rpc_port,
            "mariadb": self.mariadb_port,
            "opensearch": self.opensearch_port,
            "opensearch-transport": self.opensearch_transport_port,
        }

    @property
    def kafka_cluster_size_file(self) -> Path:
        """Where the embedded Kafka records how many nodes its storage was formatted for."""
        return self.state_dir / "kafka" / "brokers"

    @property
    def broker_count(self) -> int:
        return self.kafka_brokers or 1  # resolved by _recorded_broker_count; typed apart for the checker

    @property
    def kafka_nodes(self) -> tuple[KafkaNode, ...]:
        """The embedded Kafka's nodes (``kafka_brokers`` of them), each a broker and a KRaft controller."""
        nodes = (
            KafkaNode(1, "kafka", self.kafka_port, self.kafka_controller_port),
            KafkaNode(2, "kafka-2", self.kafka_node2_port, self.kafka_node2_controller_port),
            KafkaNode(3, "kafka-3", self.kafka_node3_port, self.kafka_node3_controller_port),
        )
        return nodes[: self.broker_count]

    @property
    def kafka_services(self) -> tuple[str, ...]:
        """The platform services of the embedded Kafka: what a Kafka client starts after."""
        return tuple(node.service for node in self.kafka_nodes)

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or ",".join(f"{self.host}:{node.port}" for node in self.kafka_nodes)

    @property
    def topic_replicas(self) -> int:
        """Replicas of every topic this project creates: ``replication_factor``, else one per embedded broker."""
        return self.replication_factor or self.broker_count

    @property
    def min_insync_replicas(self) -> int:
        """Replicas that must have a write before it is acknowledged: 2 of 3 (one may be lost), 1 of 1."""
        return min(2, max(1, self.topic_replicas - 1))

    def _http_url(self, port: int, endpoint: str | None = None) -> str:
        return endpoint or f"http://{self.host}:{port}"

    # One property per service, so each URL is a checked attribute; the rule itself is _http_url.
    @property
    def schema_registry_url(self) -> str:
        return self._http_url(self.schema_registry_port, self.schema_registry_endpoint)

    @property
    def rest_proxy_url(self) -> str:
        return self._http_url(self.rest_proxy_port, self.rest_proxy_endpoint)

    @property
    def connect_url(self) -> str:
        return self._http_url(self.connect_port, self.connect_endpoint)

    @property
    def sql_gateway_url(self) -> str:
        return self._http_url(self.sql_gateway_port, self.sql_gateway_endpoint)

    @property
    def flink_rest_url(self) -> str:
        return self._http_url(self.flink_rest_port, self.flink_rest_endpoint)

    @property
    def opensearch_url(self) -> str:
        return self._http_url(self.opensearch_port, self.opensearch_endpoint)

    @property
    def postgres(self) -> Database:
        """PostgreSQL as the pipeline reaches it: ``postgres_dsn``, its gaps filled from the other settings."""
        return self._database(
            "postgres_dsn", self.postgres_port, self.postgres_db, self.postgres_user, self.postgres_password
        )

    @property
    def mariadb(self) -> Database:
        """MariaDB as the pipeline reaches it: ``mariadb_dsn``, its gaps filled from the other settings."""
        return self._database(
            "mariadb_dsn", self.mariadb_port, self.mariadb_db, self.mariadb_user, self.mariadb_password
        )

    def _database(self, dsn_field: str, port: int, name: str, user: str, password: SecretStr) -> Database:
        dsn: SecretStr | None = getattr(self, dsn_field)
        scheme = DSN_SCHEMES[dsn_field][0]
        if dsn is None:
            return Database(scheme, self.host, port, name, user, password)
        parsed = parse_dsn(dsn.get_secret_value(), DSN_SCHEMES[dsn_field])
        return Database(
            scheme,
            parsed.hostname or self.host,
            parsed.port or port,
            unquote(parsed.path.lstrip("/")) or name,
            unquote(parsed.username) if parsed.username else user,
            SecretStr(unquote(parsed.password)) if parsed.password is not None else password,
            dict(parse_qsl(parsed.query)),
        )

    @property
    def postgres_address_for_connect(self) -> str:
        """PostgreSQL's host:port as Kafka Connect's workers reach it (Debezium source, JDBC sink)."""
        return self.connect_postgres_address or self.postgres.address

    @property
    def mariadb_address_for_connect(self) -> str:
        """MariaDB's host:port as Kafka Connect's workers reach it (Debezium's MariaDB connector)."""
        return self.connect_mariadb_address or self.mariadb.address

    @property
    def bootstrap_servers_for_connect(self) -> str:
        return self.connect_kafka_bootstrap_servers or self.bootstrap_servers

    # ---- security: built once here, used by every client ------------------------------------------------
    def kafka_client_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka properties of every Python Kafka client (bootstrap list and security), plus ``extra``."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        protocol = self.kafka_security_protocol
        if protocol != "PLAINTEXT":
            config["security.protocol"] = protocol.lower()
        if protocol.startswith("SASL_"):
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if protocol.endswith("SSL"):
            if self.kafka_ssl_ca_location is not None:
                config["ssl.ca.location"] = str(self.kafka_ssl_ca_location)
            if not self.kafka_ssl_verify_hostname:
                config["ssl.endpoint.identification.algorithm"] = "none"
        return {**config, **extra}

    def kafka_java_security(self) -> dict[str, str]:
        """The same security as Java Kafka client properties (Flink's Kafka connector, Connect's connectors)."""
        protocol = self.kafka_security_protocol
        properties = {"security.protocol": protocol}
        if protocol.startswith("SASL_"):
            module = "plain.PlainLoginModule" if self.kafka_sasl_mechanism == "PLAIN" else "scram.ScramLoginModule"
            properties["sasl.mechanism"] = self.kafka_sasl_mechanism
            properties["sasl.jaas.config"] = (
                f"org.apache.kafka.common.security.{module} required "
                f'username="{_jaas_escape(self.kafka_sasl_username)}" '
                f'password="{_jaas_escape(self.kafka_sasl_password.get_secret_value())}";'
            )
        if protocol.endswith("SSL"):
            if self.kafka_ssl_ca_location is not None:
                # Kafka's Java clients read a PEM trust store since 2.7 (KIP-651).
                properties["ssl.truststore.type"] = "PEM"
                properties["ssl.truststore.location"] = str(self.kafka_ssl_ca_location)
            if not self.kafka_ssl_verify_hostname:
                properties["ssl.endpoint.identification.algorithm"] = ""
        return properties

    def schema_registry_client_config(self, **extra: Any) -> dict[str, Any]:
        """confluent-kafka's SchemaRegistryClient configuration: the URL and, when set, basic auth."""
        config: dict[str, Any] = {"url": self.schema_registry_url}
        if self.schema_registry_username:
            password = self.schema_registry_password.get_secret_value()
            config["basic.auth.user.info"] = f"{self.schema_registry_username}:{password}"
        return {**config, **extra}

    @property
    def schema_registry_auth(self) -> tuple[str, str] | None:
        """Basic auth for a plain HTTP call to the registry (httpx ``auth=``), or None."""
        if not self.schema_registry_username:
            return None
        return (self.schema_registry_username, self.schema_registry_password.get_secret_value())

    @property
    def opensearch_auth(self) -> tuple[str, str] | None:
        if not self.opensearch_username:
            return None
        return (self.opensearch_username, self.opensearch_password.get_secret_value())

    def opensearch_client_options(self) -> dict[str, Any]:
        """opensearch-py's connection options: the URL, basic auth, and how HTTPS is checked."""
        options: dict[str, Any] = {"hosts": [self.opensearch_url]}
        if self.opensearch_auth is not None:
            options["http_auth"] = self.opensearch_auth
        if self.opensearch_url.startswith("https:"):
            options["verify_certs"] = self.opensearch_verify_certs
            options["ssl_show_warn"] = self.opensearch_verify_certs
            if self.opensearch_ca_location is not None:
                options["ca_certs"] = str(self.opensearch_ca_location)
        return options

    def httpx_verify(self, ca_location: Path | None, verify: bool = True) -> bool | str:
        """httpx's ``verify=`` for a service: off, its own CA file, or the system's CAs."""
        if not verify:
            return False
        return str(ca_location) if ca_location is not None else True

    def secrets(self) -> list[str]:
        """Every secret value these settings hold (what :meth:`redact` hides)."""
        fields = type(self).model_fields
        # The embedded platform's default passwords are in this file for all to read, and "chicago" is
        # also part of every topic name: hiding them would protect nothing and garble the logs.
        public = {field.default.get_secret_value() for field in fields.values() if isinstance(field.default, SecretStr)}
        values = [value.get_secret_value() for value in self.__dict__.values() if isinstance(value, SecretStr)]
        values += [self.postgres.password.get_secret_value(), self.mariadb.password.get_secret_value()]
        values = [value for value in values if value not in public]
        # A JAAS line escapes quotes and backslashes: the escaped form is a secret too.
        values += [_jaas_escape(value) for value in values]
        # Short values (a 1-character password) would blank out ordinary text; they are still never printed.
        return sorted({value for value in values if len(value) >= MIN_REDACTED_LENGTH}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret of these settings replaced by ``***``."""
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return text

    @property
    def dashboard_url(self) -> str:
        """Where this machine reaches the dashboard (a wildcard bind address is reached on loopback)."""
        host = WILDCARD_HOSTS.get(self.dashboard_host, self.dashboard_host)
        return f"http://{url_host(host)}:{self.dashboard_port}"

    @property
    def network_data_dir(self) -> Path:
        return self.data_dir / self.network

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def simulation_clock_file(self) -> Path:
        """Where the simulation keeps the network time it has produced up to, so a restart resumes its
        clock there (``producers/resume.py``); per arrivals topic, as the event-time jobs reading it are."""
        return self.state_dir / "simulation" / f"clock.{self.topic_arrivals}.json"

    def delivery_counts_dir(self, service: str) -> Path:
        """Where producer ``service`` writes one JSON file of what it generated, what the broker acknowledged
        and what failed, per run (``producers/kafka.py``: DeliveryStats)."""
        return self.state_dir / "counts" / (self.delivery_counts_tag or "default") / service

    @property
    def stations_topic(self) -> str:
        return f"{self.stations_topic_prefix}stations"

    def as_env(self) -> dict[str, str]:
        """These settings as ``TRANSIT_*`` environment variables, for a child process (secrets included:
        the child needs them; unset endpoints left out, so the child derives them as we do)."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[ENV_PREFIX + name.upper()] = str(value)
        return env

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A settings file (a profile) ranks below the environment: `TRANSIT_X=... --profile p` wins.
        return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=dict(cls._file_values)))

    _file_values: ClassVar[dict[str, Any]] = {}

    def with_overrides(self, **overrides: Any) -> Settings:
        """A new validated settings object with some values replaced (e.g. from CLI flags)."""
        values = self.model_dump()
        values.update({key: value for key, value in overrides.items() if value is not None})
        return type(self)(**values)


def load_settings(settings_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment over ``settings_file`` (a profile, TOML) over the defaults, with
    ``overrides`` (None means 'not given') on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if settings_file is None:
        return Settings(**given)
    values = read_settings_file(settings_file)
    # A subclass per file: the class's sources are fixed, and Settings itself stays file-free.
    profiled = type("ProfileSettings", (Settings,), {"_file_values": values, "__module__": __name__})
    return profiled(**given)


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file holds, flat (``kafka_bootstrap_servers = "..."``); an unknown name is an error."""
    try:
        values = tomllib.loads(path.read_text())
    except OSError as error:
        raise SettingsFileError(f"cannot read settings file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsFileError(f"settings file {path} is not valid TOML: {error}") from None
    known = Settings.model_fields
    for name, value in values.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsFileError(f"unknown setting {name!r} in {path}{hint}")
        if isinstance(value, dict):
            raise SettingsFileError(f"{path}: settings are flat names, [{name}] is a table")
    return values


class SettingsFileError(ValueError):
    """A settings file that cannot be used (missing, not TOML, an unknown name)."""


# ---- databases -------------------------------------------------------------------------------------

DSN_SCHEMES = {"postgres_dsn": ("postgresql", "postgres"), "mariadb_dsn": ("mariadb", "mysql")}
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}")
REDACTED = "***"
MIN_REDACTED_LENGTH = 3


def parse_dsn(dsn: str, schemes: tuple[str, ...]) -> Any:
    """``dsn`` split into its parts (``urllib``'s SplitResult); ValueError, never quoting it, when it is not one."""
    parsed = urlsplit(dsn)
    if parsed.scheme not in schemes:
        raise ValueError(f"the scheme must be one of {', '.join(schemes)}")
    try:
        parsed.port  # noqa: B018  # raises ValueError for a port that is no number
    except ValueError:
        raise ValueError("the port is not a number") from None
    return parsed


@dataclass(frozen=True)
class KafkaNode:
    """One node of the embedded Kafka: its KRaft node id, service name, broker and controller ports."""

    node_id: int
    service: str
    port: int
    controller_port: int


@dataclass(frozen=True)
class Database:
    """Where a database is and who the pipeline is there; ``redacted`` is what may be printed."""

    scheme: str
    host: str
    port: int
    name: str
    user: str
    password: SecretStr
    options: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def redacted(self) -> str:
        return f"{self.scheme}://{self.user}@{self.address}/{self.name}"


def _jaas_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def url_host(host: str) -> str:
    """``host`` as it goes into a URL: an IPv6 address in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host  # a name


def split_origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def stored_secret(path: Path) -> str:
    """The secret kept in ``path``; a new random one written there (0600, directory 0700) if none is.

    Written under another name and linked into place: two processes starting at once agree on one.
    """
    try:
        if existing := path.read_text().strip():
            return existing
        raise ValueError(f"{path} is empty: delete it to have a new password generated, or set one")
    except FileNotFoundError:
        pass
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from error
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        descriptor, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process was first: its secret holds
        finally:
            os.unlink(scratch)
        return path.read_text().strip()
    except OSError as error:
        raise ValueError(f"cannot keep a generated password in {path}: {error.strerror}") from error
