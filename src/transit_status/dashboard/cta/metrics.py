"""Chicago's Prometheus metrics (``/metrics``): arrival push latency, records per input, trains, browsers.

In a registry of the app's own: several apps may share a process in tests. The records and dead letters
per input count every consumer the app has, the jobs' outputs and London's included
(:meth:`ChicagoMetrics.count`): /metrics is the dashboard's, and one family per name keeps it valid.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from transit_status.dashboard.consumer import CountedInput, TopicConsumer
from transit_status.dashboard.cta.consumer import ChicagoConsumer
from transit_status.dashboard.cta.state import TOPIC_ROLES, DashboardState, TrainMoved, Update
from transit_status.dashboard.hub import LiveHub
from transit_status.wallclock import now_ms


class ChicagoMetrics:
    """Observes the updates Chicago's hub pushes (latency) and collects the rest when scraped."""

    def __init__(self, hub: LiveHub[DashboardState], consumer: ChicagoConsumer | None) -> None:
        self.hub = hub
        self.consumer = consumer
        self.inputs: list[CountedInput] = [(TOPIC_ROLES, consumer)]
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "transit_dashboard_arrival_push_latency_seconds",
            "From an arrival's produced_at to the dashboard pushing it to browsers (live records only).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.registry.register(self)

    def count(self, roles: Collection[str], consumer: TopicConsumer | None) -> None:
        """Count the records and dead letters of another consumer's roles too (zeros while it does not run)."""
        self.inputs.append((tuple(roles), consumer))

    def observe(self, updates: Sequence[Update]) -> None:
        now = now_ms()
        for update in updates:
            if isinstance(update, TrainMoved) and update.live:
                self.latency.observe(max(now - update.train.produced_at, 0) / 1000.0)

    def collect(self) -> Any:
        status = self.consumer.status() if self.consumer else None
        records = CounterMetricFamily(
            "transit_dashboard_records", "Good records read and applied, by input (topic role)", labels=["input"]
        )
        dead = CounterMetricFamily(
            "transit_dashboard_dead_letters",
            "Records rejected (sent to the dead-letter topic), by input (topic role)",
            labels=["input"],
        )
        live = GaugeMetricFamily("transit_dashboard_topic_live", "1 when an input topic is loaded", labels=["input"])
        for roles, consumer in self.inputs:
            counted = status if consumer is self.consumer else consumer.status() if consumer else None
            for role in roles:
                records.add_metric([role], counted.records.get(role, 0) if counted else 0)
                dead.add_metric([role], counted.dead_letters.get(role, 0) if counted else 0)
                live.add_metric([role], 1 if counted and counted.topics[role].state == "live" else 0)
        yield records
        yield dead
        yield live
        connected = 1 if status and status.kafka_connected else 0
        yield GaugeMetricFamily("transit_dashboard_kafka_connected", "1 while Kafka answers", value=connected)
        trains = self.hub.read(lambda s: len(s.trains()))
        yield GaugeMetricFamily("transit_dashboard_trains", "Trains with a known position", value=trains)
        clients = list(self.hub.clients)
        yield GaugeMetricFamily("transit_dashboard_websocket_clients", "Connected browsers", value=len(clients))
        yield CounterMetricFamily(
            "transit_dashboard_frames_encoded",
            "Update frames encoded (once per tick for all clients)",
            value=self.hub.frames_encoded,
        )
        yield CounterMetricFamily(
            "transit_dashboard_snapshots_encoded",
            "Snapshot frames encoded (once per state seq)",
            value=self.hub.snapshots_encoded,
        )
        yield GaugeMetricFamily(
            "transit_dashboard_client_queue_max",
            "Frames waiting for the slowest client",
            value=max((len(c.frames) for c in clients), default=0),
        )
