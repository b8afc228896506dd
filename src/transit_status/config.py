"""One frozen, validated settings object for every process of transit-status.

Values come from (highest first) explicit overrides (CLI flags), environment variables prefixed
``TRANSIT_`` (e.g. ``TRANSIT_KAFKA_PORT=19092``), then the defaults below. The platform supervisor
hands its settings to the services it starts through the same environment variables, so a child
process reads exactly what its parent was given.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "TRANSIT_"


class Settings(BaseSettings):
    """Ports, paths and credentials of the embedded platform and the pipeline."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Address every service listens on.")
    state_dir: Path = Field(PROJECT_ROOT / ".transit", description="Data, logs and pid files.")
    jars_dir: Path = Field(PROJECT_ROOT / ".cache" / "jars", description="Maven-resolved jars.")
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Reference data (one folder per network).")
    flink_dir: Path = Field(
        PROJECT_ROOT / ".cache" / "flink", description="The apache-flink wheel's distribution, installed apart."
    )
    network: str = Field("cta", description="Which transit network's data to load.")

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
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

    postgres_db: str = "cta"
    postgres_user: str = "cta_admin"
    postgres_password: str = "chicago"
    mariadb_db: str = "tfl"
    mariadb_user: str = "tfl_admin"
    mariadb_password: str = "london"
    mariadb_connector_user: str = Field("debezium", description="MariaDB user Debezium reads the binlog as.")
    mariadb_connector_password: str = "dbz-london"

    kafka_heap: str = Field("512m", description="JVM max heap of the Kafka broker.")
    connect_heap: str = Field("384m", description="JVM max heap of the Kafka Connect worker.")
    flink_jobmanager_memory: str = Field("768m", description="Flink JobManager total process memory.")
    flink_taskmanager_memory: str = Field("1024m", description="Flink TaskManager total process memory.")
    sql_gateway_heap: str = Field("320m", description="JVM max heap of the Flink SQL Gateway.")
    flink_parallelism: int = Field(1, ge=1, description="Parallelism of the pipeline's SQL jobs.")
    flink_task_slots: int = Field(
        4, ge=1, description="TaskManager slots: one per running job at parallelism 1, the rest for shell queries."
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
    topic_dead_letters: str = "org.chicago.cta.dead-letters.v1"
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
    replication_factor: int = Field(1, ge=1, description="1 embedded; 3 on a three-broker cluster.")

    # ---- pipeline ---------------------------------------------------------------------------------
    run_networks: Literal["all", "cta", "london"] = Field(
        "all", description="Which networks' pipelines `run` starts: Chicago's, London's, or both."
    )
    london_barrier_format: Literal["json", "avro"] = Field(
        "json", description="London's barrier events: the original design's JSON, or Avro through the registry."
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

    @field_validator("london_barrier_start")
    @classmethod
    def _iso_time(cls, value: str) -> str:
        if value:
            datetime.fromisoformat(value)  # a ValueError names the bad value
        return value

    @field_validator("state_dir", "jars_dir", "data_dir", "flink_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

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

    # ---- derived values: computed here so nothing is spelt twice -------------------------------
    @property
    def ports(self) -> dict[str, int]:
        return {
            "kafka": self.kafka_port,
            "kafka-controller": self.kafka_controller_port,
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
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    def _http_url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    # One property per service, so each URL is a checked attribute; the rule itself is _http_url.
    @property
    def schema_registry_url(self) -> str:
        return self._http_url(self.schema_registry_port)

    @property
    def rest_proxy_url(self) -> str:
        return self._http_url(self.rest_proxy_port)

    @property
    def connect_url(self) -> str:
        return self._http_url(self.connect_port)

    @property
    def sql_gateway_url(self) -> str:
        return self._http_url(self.sql_gateway_port)

    @property
    def flink_rest_url(self) -> str:
        return self._http_url(self.flink_rest_port)

    @property
    def opensearch_url(self) -> str:
        return self._http_url(self.opensearch_port)

    @property
    def dashboard_url(self) -> str:
        return self._http_url(self.dashboard_port)

    @property
    def network_data_dir(self) -> Path:
        return self.data_dir / self.network

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def delivery_counts_dir(self, service: str) -> Path:
        """Where producer ``service`` writes one JSON file of what it generated, what the broker acknowledged
        and what failed, per run (``producers/kafka.py``: DeliveryStats)."""
        return self.state_dir / "counts" / (self.delivery_counts_tag or "default") / service

    @property
    def stations_topic(self) -> str:
        return f"{self.stations_topic_prefix}stations"

    def as_env(self) -> dict[str, str]:
        """These settings as ``TRANSIT_*`` environment variables, for a child process."""
        return {ENV_PREFIX + name.upper(): str(value) for name, value in self.model_dump().items()}

    def with_overrides(self, **overrides: Any) -> Settings:
        """A new validated settings object with some values replaced (e.g. from CLI flags)."""
        values = self.model_dump()
        values.update({key: value for key, value in overrides.items() if value is not None})
        return type(self)(**values)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (None means 'not given') on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
