"""Chicago's Kafka consumer: its four input topics, read with the shared loop (``dashboard/consumer.py``).

Stations and turnstile summaries (compacted) are read from the beginning, arrivals from
``now - dashboard_replay_s`` (``offsets_for_times``), weather from its last few records. Arrivals and
weather are Confluent Avro (the schema registry); stations and summaries JSON (``cta/contracts.py``).
"""

from __future__ import annotations

from collections.abc import Collection

from confluent_kafka import Consumer, Message, TopicPartition

from transit_status.config import Settings
from transit_status.dashboard.consumer import Sink, TopicConsumer, as_bytes, offsets_since
from transit_status.dashboard.cta.contracts import station_change, summary_change
from transit_status.dashboard.cta.records import arrival_change, weather_change
from transit_status.dashboard.cta.state import Change
from transit_status.dashboard.dead_letters import DeadLetterPublisher
from transit_status.wallclock import now_ms

WEATHER_TAIL = 10
"""Weather starts this many records before each partition's end: the latest reading (and a spare)."""


class ChicagoConsumer(TopicConsumer):
    """Chicago's stations, arrivals, turnstile summaries and weather."""

    name = "dashboard"
    avro_roles = frozenset({"arrivals", "weather"})

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        lines: Collection[str],
        dead_letters: DeadLetterPublisher | None = None,
    ) -> None:
        self.lines = frozenset(lines)
        super().__init__(settings, sink, dead_letters)

    @staticmethod
    def topic_roles(settings: Settings) -> dict[str, str]:
        return {
            settings.topic_stations: "stations",
            settings.topic_arrivals: "arrivals",
            settings.topic_turnstile_summary: "turnstile_summary",
            settings.topic_weather: "weather",
        }

    def _start_offsets(
        self, consumer: Consumer, topic: str, role: str, partitions: list[int], first: bool
    ) -> list[TopicPartition]:
        if first and role == "arrivals":
            return offsets_since(consumer, topic, partitions, now_ms() - int(self.settings.dashboard_replay_s * 1000))
        if first and role == "weather":
            start = []
            for p in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                start.append(TopicPartition(topic, p, max(low, high - WEATHER_TAIL)))
            return start
        return super()._start_offsets(consumer, topic, role, partitions, first)

    def _decode(self, role: str, message: Message) -> Change:
        key, value = message.key(), message.value()
        if role == "stations":
            return station_change(as_bytes(key), as_bytes(value), self.lines)
        if role == "turnstile_summary":
            return summary_change(as_bytes(key), as_bytes(value))
        if role == "arrivals":
            return arrival_change(self._decoder.decode(as_bytes(value), "value"), self.lines)
        weather_key = self._decoder.decode(as_bytes(key), "key") if key is not None else None
        return weather_change(weather_key, self._decoder.decode(as_bytes(value), "value"))
