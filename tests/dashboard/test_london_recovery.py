"""Bounded recovery (issue 14): a replayed table created by an older release (one-hour segments) gets
today's compaction settings when the pipeline starts again (``ensure_topics`` aligns them).

How fast the London page is live again after a long run is measured by
``benchmarks/london_recovery.py`` (after an hour's run).
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from tests.processes import wait_until
from transit_status.config import Settings
from transit_status.platform.ports import private_topics
from transit_status.topics import REPLAYED_TABLE_ROLL_MS, ensure_topics, london_derived_topics

pytestmark = pytest.mark.platform


def test_an_activity_topic_of_an_older_release_gets_todays_compaction_settings(platform: Settings) -> None:
    """A state directory from before this change: the topic exists with one-hour segments (the old
    spec). Starting again (ensure_topics) sets the spec's keys and leaves the rest alone."""
    settings = private_topics(platform, f"old-{uuid.uuid4().hex[:8]}")
    topic = settings.topic_london_line_activity
    old = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"}
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1, config={**old, "retention.bytes": "123456789"})])[topic].result(15)
    wait_until(lambda: topic in admin.list_topics(timeout=5).topics, 15, "the old topic")

    ensure_topics(settings, london_derived_topics(settings))

    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(15)
    spec = next(spec for spec in london_derived_topics(settings) if spec.name == topic)
    assert {key: configs[key].value for key in spec.config} == spec.config
    assert configs["segment.ms"].value == str(REPLAYED_TABLE_ROLL_MS)
    assert configs["retention.bytes"].value == "123456789"  # not the spec's: left as it was
