"""The pipeline's contract topics (docs/ARCHITECTURE.md): names, partitions, cleanup policy, retention.

The one place that says how every contract topic is configured. Whoever starts first (the
platform's ``prepare_streams``, the producers, the stream worker, the dashboard's dead-letter
publisher, Kafka Connect for the raw stations topic) creates a missing topic exactly as specified
here. An existing topic keeps its partition count, but its configuration is brought to the spec
(only the keys the spec sets): a state directory from an older release gets today's compaction
settings too. Faust creates its own internal topics (table changelogs, the leader topic) itself.

Everything derives from ``Settings``, so the three-broker cluster profile changes
``replication_factor``/``partitions`` in its environment and nothing else.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from transit_status.config import Settings
from transit_status.errors import TransitError

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
REPLAYED_TABLE_ROLL_MS = 10_000
"""How long the newest records of a table a page replays stay uncompacted (the active segment's age)."""
PLATFORM_HINT = "start the platform with `transit-status platform up`"


class KafkaUnavailableError(TransitError):
    """Kafka could not be reached (or did not answer) within the timeout."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def replayed_table_config() -> dict[str, str]:
    """A compacted table that a page reads whole on every start (its latest value per key).

    Compaction never touches the active segment, so with Kafka's defaults (a 1 GB or 1 h segment)
    a topic written on every count change held millions of records after half an hour and the page
    replayed all of them. Rolled every ``REPLAYED_TABLE_ROLL_MS`` (``max.compaction.lag.ms`` also
    makes a rolled segment cleanable however clean the rest is), the topic holds about one record
    per key plus the last ~10 s of writes, plus the broker's cleaner pause (kafka.py), whatever the
    run's length. Transaction markers go after ``delete.retention.ms`` (default 24 h, one marker
    per checkpoint): an hour is plenty for a reader that replays the topic in seconds.
    """
    return {
        "cleanup.policy": "compact",
        "segment.ms": str(REPLAYED_TABLE_ROLL_MS),
        "max.compaction.lag.ms": str(REPLAYED_TABLE_ROLL_MS),
        "min.cleanable.dirty.ratio": "0.1",
        "delete.retention.ms": str(HOUR_MS),
    }


def raw_stations_topic(settings: Settings) -> TopicSpec:
    """Kafka Connect's stations topic (one row per stop). Connect creates it from this spec too.

    One partition: the stations transform merges the stops of a station correctly only when they
    arrive in one partition (streams/stations.py warns otherwise). Only the cleanup policy is set,
    which is all Connect's ``topic.creation.default.*`` settings give it.
    """
    return TopicSpec(settings.stations_topic, 1, {"cleanup.policy": "compact"})


def london_station_rows_topic(settings: Settings) -> TopicSpec:
    """London's stations from MariaDB, keyed by nlc (the station's stable id): compacted, so the latest
    row of every station stays and a deleted one's tombstone removes it. One partition, like the CTA
    stations topic: a few hundred rows, read whole, in binlog order. Connect creates it from this spec too."""
    return TopicSpec(settings.topic_london_station_rows, 1, {"cleanup.policy": "compact"})


def london_stations_topic(settings: Settings) -> TopicSpec:
    """London's stations keyed by their current name (the original design's key), derived by Flink SQL
    from the nlc topic: a renamed or deleted station's old name gets a tombstone. Compacted, one partition."""
    return TopicSpec(settings.topic_london_stations, 1, {"cleanup.policy": "compact"})


def dead_letters_topic(settings: Settings) -> TopicSpec:
    """One partition: low volume, read back whole (the dashboard's restart de-duplication)."""
    return TopicSpec(
        settings.topic_dead_letters, 1, {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * HOUR_MS)}
    )


def london_barrier_topics(settings: Settings) -> list[TopicSpec]:
    """London's barrier entries and exits. Keyed by station name: one station's taps stay in order."""
    events = {"cleanup.policy": "delete", "retention.ms": str(24 * HOUR_MS)}
    return [
        TopicSpec(settings.topic_london_entries, settings.partitions, events),
        TopicSpec(settings.topic_london_exits, settings.partitions, events),
    ]


def london_derived_topics(settings: Settings) -> list[TopicSpec]:
    """What Flink SQL derives from London's barriers (docs/ARCHITECTURE.md, "London")."""
    events = {"cleanup.policy": "delete", "retention.ms": str(24 * HOUR_MS)}
    compacted = replayed_table_config()  # the London page replays both activity topics on start
    return [
        TopicSpec(settings.topic_london_station_entries, settings.partitions, events),
        TopicSpec(settings.topic_london_station_exits, settings.partitions, events),
        TopicSpec(settings.topic_london_station_activity, settings.partitions, compacted),
        TopicSpec(settings.topic_london_line_activity, 1, compacted),
        TopicSpec(settings.topic_london_station_windows, settings.partitions, events),
        # Open and clear records keyed by alert: the page keeps the newest of each (compacted, replayed).
        TopicSpec(settings.topic_london_crowding_alerts, 1, compacted),
        # Written from the network at start, read whole by the crowding job (a join, not a stream).
        TopicSpec(settings.topic_london_typical_entries, 1, {"cleanup.policy": "compact"}),
        TopicSpec(settings.topic_london_calendar, 1, {"cleanup.policy": "compact"}),
    ]


def cta_service_topics(settings: Settings) -> list[TopicSpec]:
    """The service-health job's reference input and outputs (docs/ARCHITECTURE.md, "Service health")."""
    events = {"cleanup.policy": "delete", "retention.ms": str(24 * HOUR_MS)}
    return [
        # A few hundred rows written from the network at start; the job joins the newest per key.
        TopicSpec(settings.topic_cta_schedule, 1, {"cleanup.policy": "compact"}),
        TopicSpec(settings.topic_cta_headways, settings.partitions, events),
        TopicSpec(settings.topic_cta_dwells, settings.partitions, events),
        # Keyed by alert id, open then clear: compacted, the page replays the newest state of each alert.
        TopicSpec(settings.topic_cta_service_alerts, 1, replayed_table_config()),
    ]


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    """Every contract topic, with the configuration the pipeline needs."""
    compacted = replayed_table_config()  # the Chicago page replays both on start
    events = {"cleanup.policy": "delete", "retention.ms": str(24 * HOUR_MS)}
    return [
        raw_stations_topic(settings),
        # One partition like its input: one writer (the raw topic's single partition), a few
        # hundred records, read whole by the dashboard in the order the transform wrote them.
        TopicSpec(settings.topic_stations, 1, compacted),
        TopicSpec(settings.topic_arrivals, settings.partitions, events),
        TopicSpec(settings.topic_turnstiles, settings.partitions, events),
        TopicSpec(settings.topic_turnstile_summary, settings.partitions, compacted),
        TopicSpec(settings.topic_weather, 1, events),
        # A few hundred legs (line, direction, from, to), read whole by the dashboard on start.
        TopicSpec(settings.topic_run_times, 1, compacted),
        *cta_service_topics(settings),
        dead_letters_topic(settings),
        # Written by Connect (which creates it the same way when first), read by Flink's London job,
        # which cannot start on a topic that does not exist yet.
        london_station_rows_topic(settings),
        london_stations_topic(settings),
        *london_barrier_topics(settings),
        *london_derived_topics(settings),
    ]


def admin_client(settings: Settings) -> AdminClient:
    # No retries forever: a missing broker must be reported, not waited for silently.
    return AdminClient({**settings.kafka_client_config(), "socket.connection.setup.timeout.ms": 5000, "log_level": 0})


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None, timeout_s: float = 15.0) -> dict[str, int]:
    """Create the missing topics of ``specs`` (default: every contract topic); return each one's partition count.

    Topics that exist keep their partition count (what the workers must follow); the configuration
    keys their spec sets are brought to the spec (:func:`align_topic_configs`).
    Raises :class:`KafkaUnavailableError` when the broker does not answer within ``timeout_s``.
    """
    specs = pipeline_topics(settings) if specs is None else specs
    admin = admin_client(settings)
    existing = partition_counts(admin, settings, timeout_s)
    missing = [spec for spec in specs if spec.name not in existing]
    align_topic_configs(admin, [spec for spec in specs if spec.name in existing], timeout_s)
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=settings.topic_replicas,
                    config={"min.insync.replicas": str(settings.min_insync_replicas), **spec.config},
                )
                for spec in missing
            ],
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
                log.info("created topic %s", name)
            except KafkaException as error:
                # Someone else (Connect, a producer, another worker) created it first: fine.
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        # A new topic reaches the broker's metadata a moment after it is created.
        deadline = time.monotonic() + timeout_s
        while not all(spec.name in existing for spec in specs):
            if time.monotonic() > deadline:
                absent = ", ".join(spec.name for spec in specs if spec.name not in existing)
                raise KafkaUnavailableError(f"Kafka did not list the new topics {absent} within {timeout_s:.0f} s")
            time.sleep(0.2)
            existing = partition_counts(admin, settings, timeout_s)
    return {spec.name: existing[spec.name] for spec in specs}


def align_topic_configs(admin: AdminClient, specs: list[TopicSpec], timeout_s: float) -> dict[str, dict[str, str]]:
    """Set each existing topic's spec'd configuration keys that differ; return what changed, per topic.

    Why: a topic created by an older release keeps its old settings otherwise, e.g. the London
    activity topics' one-hour segments, which left a long run's changelog uncompacted. Only the
    spec's keys are set (incrementally), so anything else set on the topic stays; setting the same
    value from several starting processes at once is harmless. A broker that refuses is logged, not
    fatal: the topic still works as it was.
    """
    specs = [spec for spec in specs if spec.config]
    if not specs:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, spec.name) for spec in specs]
    changes: dict[str, dict[str, str]] = {}
    try:
        described = admin.describe_configs(resources, request_timeout=timeout_s)
        current = {resource.name: future.result(timeout=timeout_s) for resource, future in described.items()}
    except (KafkaException, TimeoutError) as error:
        log.warning("could not read the topics' configuration: %s", _reason(error))
        return {}
    for spec in specs:
        entries = current.get(spec.name, {})
        differing = {
            key: value for key, value in spec.config.items() if key not in entries or entries[key].value != value
        }
        if differing:
            changes[spec.name] = differing
    if not changes:
        return {}
    futures = admin.incremental_alter_configs(
        [
            ConfigResource(
                ResourceType.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                    for key, value in differing.items()
                ],
            )
            for name, differing in changes.items()
        ],
        request_timeout=timeout_s,
    )
    for resource, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            log.info("set topic %s's configuration to its spec: %s", resource.name, changes[resource.name])
        except (KafkaException, TimeoutError) as error:
            log.warning("could not update topic %s's configuration: %s", resource.name, _reason(error))
            changes.pop(resource.name, None)
    return changes


def partition_counts(admin: AdminClient, settings: Settings, timeout_s: float) -> dict[str, int]:
    """Partition count of every topic Kafka lists without an error."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as error:
        raise KafkaUnavailableError(
            f"Kafka did not answer at {settings.bootstrap_servers} within {timeout_s:.0f} s "
            f"({error.args[0].str()}); {PLATFORM_HINT}"
        ) from None
    return {name: len(topic.partitions) for name, topic in metadata.topics.items() if topic.error is None}


def _reason(error: Exception) -> str:
    if isinstance(error, KafkaException) and isinstance(error.args[0], KafkaError):
        return error.args[0].str()
    return str(error) or type(error).__name__
