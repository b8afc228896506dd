"""A private stack (tests, benchmarks) that never disturbs a running one: free ports, own topic names."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

from transit_status.config import Settings, load_settings

PORT_SETTINGS = (
    "kafka_port",
    "kafka_controller_port",
    "kafka_node2_port",
    "kafka_node2_controller_port",
    "kafka_node3_port",
    "kafka_node3_controller_port",
    "connect_port",
    "schema_registry_port",
    "rest_proxy_port",
    "postgres_port",
    "dashboard_port",
    "sql_gateway_port",
    "flink_rest_port",
    "flink_rpc_port",
    "mariadb_port",
    "opensearch_port",
    "opensearch_transport_port",
)
# Defaults a user's own stack may be listening on.
DEFAULT_PORTS = frozenset(Settings.model_fields[name].default for name in PORT_SETTINGS)


# Every port this process has handed out. A port handed out for a service that never listens (a stack's
# MariaDB port in a dashboard-only test) still looks free to the OS, so a later call could hand it out
# again and two settings of one test would share it.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct ports the OS reports free right now, none of them a default service port, and none this
    process handed out before."""
    probes, ports = [], []
    with _handed_out_lock:
        try:
            while len(ports) < count:
                probe = socket.socket()
                probe.bind((host, 0))
                probes.append(probe)
                port = probe.getsockname()[1]
                if port not in DEFAULT_PORTS and port not in _handed_out:
                    ports.append(port)
        finally:
            for probe in probes:
                probe.close()
        _handed_out.update(ports)
    return ports


def isolated_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings for a stack of its own: its own state directory, every port free and non-default."""
    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    return load_settings(state_dir=state_dir, **{**ports, **overrides})


def private_topics(settings: Settings, suffix: str, *, shared_raw_stations: bool = False, **overrides: Any) -> Settings:
    """``settings`` with every topic name and the Faust app id made private by ``suffix``.

    Every ``topic_*`` setting, ``faust_app_id``, the SQL jobs' prefix, London's sink group, connector
    and data streams, the producers' delivery-count files, and the raw stations topic
    (``stations_topic_prefix``) are renamed.
    ``shared_raw_stations`` keeps Kafka Connect's raw stations topic instead, for a pipeline fed by
    the real connector. ``overrides`` are applied on top.
    """
    renamed: dict[str, Any] = {
        name: f"{value}.{suffix}" for name, value in settings.model_dump().items() if name.startswith("topic_")
    }
    renamed["faust_app_id"] = f"{settings.faust_app_id}-{suffix}"
    renamed["sql_job_prefix"] = f"{settings.sql_job_prefix}-{suffix}"
    # London's sinks: their consumer group, connector and data streams are named per stack too.
    renamed["london_opensearch_sink_group"] = f"{settings.london_opensearch_sink_group}-{suffix}"
    renamed["london_postgres_sink_connector"] = f"{settings.london_postgres_sink_connector}-{suffix}"
    renamed["opensearch_entries_stream"] = f"{settings.opensearch_entries_stream}-{suffix}".lower()
    renamed["opensearch_exits_stream"] = f"{settings.opensearch_exits_stream}-{suffix}".lower()
    # Producers' delivery counts (what a test compares outputs with) in files of this stack's own.
    renamed["delivery_counts_tag"] = suffix
    if not shared_raw_stations:
        renamed["stations_topic_prefix"] = f"{settings.stations_topic_prefix}{suffix}."
    return settings.with_overrides(**{**renamed, **overrides})
