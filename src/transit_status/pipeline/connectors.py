"""The pipeline's Kafka Connect connectors, registered through Connect's REST API (never twice).

Debezium's PostgreSQL connector streams the ``stations`` table (initial snapshot, then every change
through logical decoding). Its new-record-state transform flattens each change event to the row
itself, and a RegexRouter renames Debezium's ``<prefix>.public.stations`` topic to the seed's
``<topic.prefix>stations``, so the topic carries one flat JSON row per stop.
"""

from __future__ import annotations

import httpx

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.topics import raw_stations_topic

STATIONS_CONNECTOR = "stations"
CONNECT_HINT = "start it with `transit-status platform up`"


def stations_connector_config(settings: Settings, table: str = "stations") -> dict[str, str]:
    logical_name = settings.stations_topic_prefix.rstrip(".") or "transit"
    # If Connect creates the topic, it creates it as topics.py specifies (ensure_topics may be first).
    topic = raw_stations_topic(settings)
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": settings.host,
        "database.port": str(settings.postgres_port),
        "database.user": settings.postgres_user,
        "database.password": settings.postgres_password,
        "database.dbname": settings.postgres_db,
        "topic.prefix": logical_name,
        "table.include.list": f"public.{table}",
        "publication.name": f"transit_{table}",
        "publication.autocreate.mode": "filtered",
        "slot.name": f"transit_{table}",
        "snapshot.mode": "initial",
        "decimal.handling.mode": "double",
        "topic.creation.default.replication.factor": str(settings.replication_factor),
        "topic.creation.default.partitions": str(topic.partitions),
        # One row per stop_id: a compacted topic keeps the latest version of every stop forever.
        **{f"topic.creation.default.{name}": value for name, value in topic.config.items()},
        "transforms": "unwrap,route",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.delete.tombstone.handling.mode": "tombstone",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": rf"{_regex_escape(logical_name)}\.public\.(.*)",
        "transforms.route.replacement": rf"{settings.stations_topic_prefix}$1",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }


def _regex_escape(text: str) -> str:
    return "".join("\\" + char if char in r".^$*+?()[]{}|\\" else char for char in text)


def ensure_connector(settings: Settings, name: str, config: dict[str, str], timeout_s: float = 10.0) -> bool:
    """Create the connector, or update it in place if it exists: never a duplicate.

    ``PUT /connectors/{name}/config`` is Connect's idempotent create-or-update. Returns True when
    the connector was created, False when it existed already.
    """
    try:
        response = httpx.put(f"{settings.connect_url}/connectors/{name}/config", json=config, timeout=timeout_s)
    except httpx.HTTPError as error:
        message = f"Kafka Connect is not reachable at {settings.connect_url} ({error}); {CONNECT_HINT}"
        raise TransitError(message) from error
    if response.status_code not in (200, 201):
        raise TransitError(f"Kafka Connect refused connector {name!r}: {response.status_code} {response.text}")
    return response.status_code == 201


def ensure_stations_connector(settings: Settings) -> bool:
    return ensure_connector(settings, STATIONS_CONNECTOR, stations_connector_config(settings))
