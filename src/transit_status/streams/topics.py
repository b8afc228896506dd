"""The topics the stream workers read and write, created with the right configuration before they start.

Faust declares its own internal topics (table changelogs); the contract topics of
docs/ARCHITECTURE.md are created here with confluent-kafka's AdminClient, so their configuration
(compaction, partitions) is exactly what the contract says, whoever starts first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from transit_status.config import Settings

log = logging.getLogger(__name__)

COMPACT = {"cleanup.policy": "compact"}
DELETE = {"cleanup.policy": "delete"}
# Kafka Connect creates the raw stations topic with one partition (see platform/connect.py); if
# the worker starts first it creates the same topic so Connect finds it as it would have made it.
RAW_STATIONS_PARTITIONS = 1


class KafkaUnavailableError(RuntimeError):
    """Kafka could not be reached (or did not answer) within the timeout."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every contract topic the stream workers read or write, with the configuration they need."""
    return [
        TopicSpec(settings.stations_topic, RAW_STATIONS_PARTITIONS, COMPACT),
        TopicSpec(settings.topic_turnstiles, settings.partitions, DELETE),
        TopicSpec(settings.topic_stations, settings.partitions, COMPACT),
        TopicSpec(settings.topic_turnstile_summary, settings.partitions, COMPACT),
        TopicSpec(settings.topic_dead_letters, settings.partitions, DELETE),
    ]


def admin_client(settings: Settings) -> AdminClient:
    # No retries forever: a missing broker must be reported, not waited for silently.
    return AdminClient(
        {"bootstrap.servers": settings.bootstrap_servers, "socket.connection.setup.timeout.ms": 5000, "log_level": 0}
    )


def ensure_topics(settings: Settings, timeout_s: float = 15.0) -> dict[str, int]:
    """Create the missing contract topics; return every contract topic's actual partition count.

    Topics that exist are left as they are (their partition count is what the workers must follow).
    Raises :class:`KafkaUnavailableError` when the broker does not answer within ``timeout_s``.
    """
    admin = admin_client(settings)
    specs = topic_specs(settings)
    existing = partition_counts(admin, settings, timeout_s)
    missing = [spec for spec in specs if spec.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=settings.replication_factor,
                    config=spec.config,
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
        while True:
            existing = partition_counts(admin, settings, timeout_s)
            if all(spec.name in existing for spec in specs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    return {spec.name: existing[spec.name] for spec in specs}


def partition_counts(admin: AdminClient, settings: Settings, timeout_s: float) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as error:
        raise KafkaUnavailableError(
            f"Kafka did not answer at {settings.bootstrap_servers} within {timeout_s:.0f} s ({error.args[0].str()})"
        ) from None
    return {name: len(topic.partitions) for name, topic in metadata.topics.items() if topic.error is None}
