"""The pipeline's topics as configuration: names, partitions, replication and cleanup policy.

Everything here derives from ``Settings``, so the three-broker cluster profile changes
``replication_factor``/``partitions`` in its environment and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from transit_status.config import Settings

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    compacted = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(HOUR_MS)}
    events = {"cleanup.policy": "delete", "retention.ms": str(24 * HOUR_MS)}
    return [
        TopicSpec(settings.topic_arrivals, settings.partitions, events),
        TopicSpec(settings.topic_turnstiles, settings.partitions, events),
        TopicSpec(settings.topic_weather, 1, events),
        TopicSpec(settings.topic_dead_letters, 1, {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * HOUR_MS)}),
        TopicSpec(settings.topic_stations, 1, compacted),
        TopicSpec(settings.topic_turnstile_summary, settings.partitions, compacted),
    ]


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None, timeout_s: float = 15.0) -> list[str]:
    """Create the topics that do not exist yet. Returns the names created."""
    specs = pipeline_topics(settings) if specs is None else specs
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [
        NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=settings.replication_factor,
                 config=spec.config)
        for spec in specs
        if spec.name not in existing
    ]  # fmt: skip
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing, request_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as error:
            # Another process (a second producer, Faust) may have created it a moment ago.
            if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    return created
