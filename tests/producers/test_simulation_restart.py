"""A `serve simulate` killed and started again goes on from the network time it had reached: the
checkpointed event-time jobs would otherwise drop the new run's arrivals as late (producers/resume.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import end_offsets, read_all
from tests.processes import NotYet, ServiceProcess
from transit_status.config import Settings
from transit_status.platform.ports import private_topics

pytestmark = pytest.mark.platform


def arrivals(settings: Settings, after: dict[int, int] | None = None) -> list[datetime]:
    """``simulated_at`` of every arrival on the topic (only those past the ``after`` offsets, if given)."""
    topic = settings.topic_arrivals
    decode = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    after = after or {}
    return [
        decode(m.value(), SerializationContext(topic, MessageField.VALUE))["simulated_at"]
        for m in read_all(settings, topic)
        if m.offset() >= after.get(m.partition(), 0)
    ]


def wall_ahead() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=2)


def test_a_killed_simulation_restarted_goes_on_from_the_network_time_it_reached(
    platform: Settings, tmp_path: Path
) -> None:
    # Fast, so the network clock is minutes ahead of the wall clock within seconds.
    settings = private_topics(platform, f"resume-{uuid.uuid4().hex[:8]}", simulation_speed=120.0)
    log = tmp_path / "simulate.log"
    first = ServiceProcess("simulate", settings, log).start()
    try:

        def ahead_of_the_wall_clock() -> Any:
            times = arrivals(settings)  # none while the topic is still being created
            return NotYet(max(times, default=None)) if not times or max(times) < wall_ahead() else True

        first.wait_for(ahead_of_the_wall_clock, 60, "arrivals 2 network minutes ahead of the wall clock")
    finally:
        first.kill()  # no clean stop: its last mark is all a restart has
    before = end_offsets(settings, settings.topic_arrivals)
    last_before = max(arrivals(settings))

    second = ServiceProcess("simulate", settings, log).start()
    try:
        new = second.wait_for(lambda: arrivals(settings, after=before), 60, "the new run's first arrivals")
    finally:
        second.stop()
    assert min(new) > last_before, f"the new run starts at {min(new)}, behind the killed run's {last_before}"
