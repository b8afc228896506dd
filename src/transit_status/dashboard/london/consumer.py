"""London's Kafka consumer: Flink SQL's upserts and windows, read with the shared loop (``dashboard/consumer.py``).

The upsert topics are compacted and read from the beginning; windows from ``WINDOWS_REPLAY_S`` back,
enough for the newest 15-minute windows. All three are JSON (``london/contracts.py``): no registry involved.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Message, TopicPartition

from transit_status.config import Settings
from transit_status.dashboard.consumer import TopicConsumer, as_bytes, offsets_since
from transit_status.dashboard.london.contracts import activity_change, line_activity_change, window_change
from transit_status.dashboard.london.state import LondonChange
from transit_status.wallclock import now_ms

WINDOWS_REPLAY_S = 35 * 60
"""London's windows start this far back: the newest complete 15-minute window of every station."""


class LondonConsumer(TopicConsumer):
    """London's live topics: station and line activity (upserts) and station windows."""

    name = "dashboard-london"

    @staticmethod
    def topic_roles(settings: Settings) -> dict[str, str]:
        return {
            settings.topic_london_station_activity: "station_activity",
            settings.topic_london_line_activity: "line_activity",
            settings.topic_london_station_windows: "station_windows",
        }

    def _start_offsets(
        self, consumer: Consumer, topic: str, role: str, partitions: list[int], first: bool
    ) -> list[TopicPartition]:
        if first and role == "station_windows":
            return offsets_since(consumer, topic, partitions, now_ms() - WINDOWS_REPLAY_S * 1000)
        return super()._start_offsets(consumer, topic, role, partitions, first)

    def _decode(self, role: str, message: Message) -> LondonChange:
        key, value = as_bytes(message.key()), as_bytes(message.value())
        if role == "station_activity":
            return activity_change(key, value)
        if role == "line_activity":
            return line_activity_change(key, value)
        return window_change(value)
