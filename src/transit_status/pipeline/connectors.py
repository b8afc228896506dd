"""The pipeline's Kafka Connect connectors, registered through Connect's REST API (never twice).

Debezium's PostgreSQL connector streams the ``stations`` table (initial snapshot, then every change
through logical decoding). Its new-record-state transform flattens each change event to the row
itself, and a RegexRouter renames Debezium's ``<prefix>.public.stations`` topic to the seed's
``<topic.prefix>stations``, so the topic carries one flat JSON row per stop.

London's stations come from MariaDB through Debezium's MariaDB connector (its binlog), keyed by the
table's primary key, TfL's nlc: the station's stable id, which a rename keeps; the rows are Avro through
the Schema Registry (our own converter), or JSON (``london_station_format``). Flink SQL derives the
original TfL design's name-keyed topic from it (``sql/london_barriers.sql``): keyed by the name, a
rename would leave the old name's row behind for ever, since no record ever comes for that key again.

London's enriched events (``station_entries``, ``station_exits``) go into PostgreSQL tables of the
same names through Debezium's JDBC sink connector, for offline analysis (the original design's To-Do).
"""

from __future__ import annotations

import json
import zlib
from urllib.parse import urlencode

import httpx

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.platform.jvm import AVRO_CONVERTER_CLASS
from transit_status.topics import TopicSpec, london_station_rows_topic, raw_stations_topic

STATIONS_CONNECTOR = "stations"
LONDON_STATIONS_CONNECTOR = "london-station-rows"
# Until issue 14 the connector wrote name-keyed rows straight into the name topic, which Flink now
# writes: left running, it would put renamed stations' old names back.
LEGACY_LONDON_STATIONS_CONNECTOR = "london-stations"
CONNECT_HINT = "start it with `transit-status platform up`"
CONVERTER_RETRY_TIMEOUT_MS = 120_000


def stations_connector_config(settings: Settings, table: str = "stations") -> dict[str, str]:
    logical_name = settings.stations_topic_prefix.rstrip(".") or "transit"
    # If Connect creates the topic, it creates it as topics.py specifies (ensure_topics may be first).
    topic = raw_stations_topic(settings)
    database = settings.postgres
    host, port = settings.postgres_address_for_connect.rsplit(":", 1)  # as Connect's workers reach it
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": host.strip("[]"),
        "database.port": port,
        "database.user": database.user,
        "database.password": database.password.get_secret_value(),
        "database.dbname": database.name,
        **({"database.sslmode": database.options["sslmode"]} if "sslmode" in database.options else {}),
        "topic.prefix": logical_name,
        "table.include.list": f"public.{table}",
        "publication.name": f"transit_{table}",
        "publication.autocreate.mode": "filtered",
        "slot.name": f"transit_{table}",
        "snapshot.mode": "initial",
        "decimal.handling.mode": "double",
        # One row per stop_id: a compacted topic keeps the latest version of every stop forever.
        **topic_creation(settings, topic),
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
        **client_overrides(settings, "producer", "admin"),
    }


def london_stations_connector_config(settings: Settings, table: str = "stations") -> dict[str, str]:
    topic = london_station_rows_topic(settings)
    # Debezium's own topic name for the table is <topic.prefix>.<database>.<table>; the router renames it.
    logical_name = f"tfl-{zlib.crc32(topic.name.encode()):08x}"
    database = settings.mariadb
    host, port = settings.mariadb_address_for_connect.rsplit(":", 1)  # as Connect's workers reach it
    return {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "tasks.max": "1",
        "database.hostname": host.strip("[]"),
        "database.port": port,
        "database.user": settings.mariadb_connector_user,
        "database.password": settings.mariadb_connector_password.get_secret_value(),
        "database.ssl.mode": "disable",
        # The connector reads the binlog as a replica: its id must differ from the server's and from
        # any other connector's on this server, so it follows the topic (tests use private topics).
        "database.server.id": str(5400 + zlib.crc32(topic.name.encode()) % 100_000),
        "topic.prefix": logical_name,
        "database.include.list": database.name,
        "table.include.list": f"{database.name}.{table}",
        "snapshot.mode": "initial",
        "decimal.handling.mode": "double",
        # Without this the connector also writes DDL events to <topic.prefix>, keyed by database name.
        "include.schema.changes": "false",
        # The schema history has Kafka clients of Debezium's own: the worker's security does not reach them.
        "schema.history.internal.kafka.bootstrap.servers": settings.bootstrap_servers_for_connect,
        **{
            f"schema.history.internal.{client}.{name}": value
            for client in ("producer", "consumer")
            for name, value in settings.kafka_java_security().items()
        },
        "schema.history.internal.kafka.topic": f"_schema-history.{topic.name}",
        "schema.history.internal.store.only.captured.tables.ddl": "true",
        **topic_creation(settings, topic),
        "transforms": "unwrap,route",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        # Keyed by nlc, a deleted row can be a tombstone for its station: the station is gone, and Flink
        # turns it into a tombstone for its name too.
        "transforms.unwrap.delete.tombstone.handling.mode": "tombstone",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": rf"{_regex_escape(logical_name)}\.{_regex_escape(database.name)}\.{table}",
        "transforms.route.replacement": topic.name,
        # Debezium's key: the primary key as JSON, {"nlc": 513}, in both formats (the original design's
        # stations_tb has an Avro value only; a JSON key also keeps a tombstone's station readable).
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        **london_station_value_converter(settings),
        **client_overrides(settings, "producer", "admin"),
    }


def london_station_value_converter(settings: Settings) -> dict[str, str]:
    """The station rows' value converter: Avro in Confluent's wire format through the registry (the original
    design's ``value_format = 'AVRO'``), or plain JSON.

    Confluent's AvroConverter is not on Maven Central, and Apicurio's (which is) speaks Apicurio's own
    registry API, not Confluent's, the only one our registry serves: the converter is our own
    (``jars/connect-avro-converter``), registering each schema under ``<topic>-value``.
    """
    if settings.london_station_format == "json":
        return {
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        }
    auth = {}
    if settings.schema_registry_username:  # a registry with basic auth (Confluent Cloud's: its API key)
        secret = settings.schema_registry_password.get_secret_value()
        auth = {"value.converter.basic.auth.user.info": f"{settings.schema_registry_username}:{secret}"}
    return {
        "value.converter": AVRO_CONVERTER_CLASS,
        "value.converter.schema.registry.url": settings.schema_registry_url,
        **auth,
        # A registry that cannot be reached is retried (the converter's RetriableException) for this long,
        # then the task fails and the watchdog restarts it; a schema the registry refuses fails it at once.
        "errors.retry.timeout": str(CONVERTER_RETRY_TIMEOUT_MS),
        "errors.retry.delay.max.ms": "5000",
    }


# The contract's value (docs/ARCHITECTURE.md, "London") as a Kafka Connect schema. The JDBC sink
# builds its table and its INSERTs from a record's schema, and Flink writes plain JSON without one;
# Kafka's own JsonConverter (4.x, KIP-1054 `schema.content`) applies this schema to every payload.
STATION_EVENT_CONNECT_SCHEMA = {
    "type": "struct",
    "name": "uk.london.tfl.StationEvent",
    "optional": False,
    "fields": [
        {"field": "@timestamp", "type": "string", "optional": False},
        {"field": "user", "type": "string", "optional": False},
        {"field": "delta", "type": "int32", "optional": False},
        {"field": "station", "type": "string", "optional": False},
        {"field": "location", "type": "string", "optional": True},
        {"field": "known", "type": "boolean", "optional": True},
    ],
}
FLINK_TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"  # the contract's @timestamp (UTC, "Z")


def london_postgres_sink_config(settings: Settings) -> dict[str, str]:
    """Debezium's JDBC sink: ``station_entries`` and ``station_exits`` into tables of the same name in
    ``settings.postgres_db``, created (and widened) by the connector."""
    topics = (settings.topic_london_station_entries, settings.topic_london_station_exits)
    database = settings.postgres
    query = "?" + urlencode(database.options) if database.options else ""
    return {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": ",".join(topics),
        # PostgreSQL as Connect's workers reach it.
        "connection.url": f"jdbc:postgresql://{settings.postgres_address_for_connect}/{database.name}{query}",
        "connection.username": database.user,
        "connection.password": database.password.get_secret_value(),
        # One row per record, keyed by its Kafka coordinates (__connect_topic, __connect_partition,
        # __connect_offset): a batch redelivered after a restart updates its rows instead of adding any.
        "insert.mode": "upsert",
        "primary.key.mode": "kafka",
        "schema.evolution": "basic",  # create the table, add columns a new schema brings
        "collection.name.format": "${topic}",
        # `user` is a reserved word in PostgreSQL and `@timestamp` no plain identifier: both are quoted.
        "quote.identifiers": "true",
        # Flink writes these topics in transactions: rows of an aborted one (a Flink restart) must
        # never reach the tables. Connect's consumers read uncommitted records unless told otherwise.
        "consumer.override.isolation.level": "read_committed",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",  # the station's name
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "value.converter.schema.content": json.dumps(STATION_EVENT_CONNECT_SCHEMA),
        # @timestamp becomes a real timestamp column, so offline queries can bucket and compare times.
        "transforms": "eventTime",
        "transforms.eventTime.type": "org.apache.kafka.connect.transforms.TimestampConverter$Value",
        "transforms.eventTime.field": "@timestamp",
        "transforms.eventTime.format": FLINK_TIMESTAMP_FORMAT,
        "transforms.eventTime.target.type": "Timestamp",
        # A value that does not fit the schema is set aside, not a stopped task. Connect's own dead-letter
        # queue says where it came from in its `__connect.errors.*` headers (Connect cannot add `dlq.*`).
        "errors.tolerance": "all",
        "errors.log.enable": "true",
        "errors.deadletterqueue.topic.name": settings.topic_dead_letters,
        "errors.deadletterqueue.topic.replication.factor": str(settings.topic_replicas),
        "errors.deadletterqueue.context.headers.enable": "true",
        # The dead-letter queue is written by the task's own producer ("admin" creates its topic).
        **client_overrides(settings, "consumer", "producer", "admin"),
    }


def client_overrides(settings: Settings, *clients: str) -> dict[str, str]:
    """The pipeline's Kafka security for a connector's own clients (``consumer.override.*`` and so on),
    when ``connect_client_overrides`` asks for it; otherwise the worker's configuration applies."""
    if not settings.connect_client_overrides:
        return {}
    security = settings.kafka_java_security()
    return {f"{client}.override.{name}": value for client in clients for name, value in security.items()}


def topic_creation(settings: Settings, topic: TopicSpec) -> dict[str, str]:
    """Connect creates a missing topic as ``topic`` specifies (whoever is first creates it the same way)."""
    return {
        "topic.creation.default.replication.factor": str(settings.topic_replicas),
        "topic.creation.default.partitions": str(topic.partitions),
        "topic.creation.default.min.insync.replicas": str(settings.min_insync_replicas),
        **{f"topic.creation.default.{name}": value for name, value in topic.config.items()},
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


def london_stations_connector_name(settings: Settings) -> str:
    """One connector per stations topic: reusing a name for another topic would carry the old
    connector's binlog offsets over, and the new topic would never get its snapshot."""
    default = type(settings).model_fields["topic_london_station_rows"].default
    topic = settings.topic_london_station_rows
    return LONDON_STATIONS_CONNECTOR if topic == default else f"{LONDON_STATIONS_CONNECTOR}.{topic}"


def legacy_london_stations_connector_name(settings: Settings) -> str:
    """The name the name-keyed connector had for these settings (it was named after the name topic)."""
    default = type(settings).model_fields["topic_london_stations"].default
    topic = settings.topic_london_stations
    legacy = LEGACY_LONDON_STATIONS_CONNECTOR
    return legacy if topic == default else f"{legacy}.{topic}"


def ensure_london_stations_connector(settings: Settings, timeout_s: float = 10.0) -> bool:
    legacy = legacy_london_stations_connector_name(settings)
    try:
        response = httpx.delete(f"{settings.connect_url}/connectors/{legacy}", timeout=timeout_s)
    except httpx.HTTPError as error:
        message = f"Kafka Connect is not reachable at {settings.connect_url} ({error}); {CONNECT_HINT}"
        raise TransitError(message) from error
    if response.status_code not in (204, 404):
        raise TransitError(f"Kafka Connect did not remove connector {legacy!r}: {response.status_code} {response.text}")
    name = london_stations_connector_name(settings)
    return ensure_connector(settings, name, london_stations_connector_config(settings), timeout_s)


def ensure_london_postgres_sink_connector(settings: Settings) -> bool:
    return ensure_connector(settings, settings.london_postgres_sink_connector, london_postgres_sink_config(settings))
