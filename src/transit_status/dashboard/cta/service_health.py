"""Chicago's service health on the page: open alerts and a strip per line, from the service-health job.

The Flink SQL job ``cta-service-health`` (``sql/cta_service_health.sql``) writes two topics this reads:

* alerts (compacted, key ``alert_id``): an ``open`` record when a gap, bunching or a held train starts,
  a ``clear`` record with the same id when service recovers. The newest record of an alert, by its
  event time ``at_ms``, says whether it is open (a clear wins a tie); records may arrive out of order
  across the job's parallel writers, so an older one never reopens a cleared alert.
* headways: every arrival's measured headway with the platform's scheduled one. A line's strip shows
  the median of its platforms' latest headways against the median scheduled, and its open alerts;
* dwells: every stop's time at the platform (``dwells.py``): a line's strip shows its typical dwell.

A record of a platform the network does not have (a line it lacks, a station its line does not stop
at: a stale record left on the compacted alerts topic after the network data changed, or a wrong
producer) breaks the contract like any bad record, as an arrival of an unknown line does: it goes to
the dead-letter topic, counted per topic on /metrics, and never into the strip or the open alerts
(:class:`NetworkPlatforms`).

:class:`ServiceHealth` is the pure model (no Kafka, no clock); :class:`ServiceHealthConsumer` feeds it
with the dashboard's consumer loop; ``/api/alerts`` serves :meth:`ServiceHealth.as_json`, and the page's
socket gets the same as an ``alerts`` frame when it changes (``LiveHub.whole_view``).
"""

from __future__ import annotations

import json
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from transit_status.avro.wire import BadRecord
from transit_status.config import Settings
from transit_status.dashboard.consumer import Sink, TopicConsumer, as_bytes, offsets_since
from transit_status.dashboard.cta.dwells import Dwell, Dwells, Platform, dwell_of
from transit_status.dashboard.cta.state import DIRECTIONS
from transit_status.dashboard.dead_letters import DeadLetterPublisher
from transit_status.dashboard.state import Received
from transit_status.networks.model import Network
from transit_status.wallclock import now_ms

ALERT_KINDS = ("held", "gap", "bunching")
RECENT = 50
"""How many of the newest alert records the page lists as they happen."""
CLEARED_KEPT_MS = 60 * 60 * 1000
"""A cleared alert is remembered this long (network time) after its clear, so that a late copy of its
open cannot reopen it; then it is forgotten (held alerts are per train and station: they would pile up)."""
CLOCK_JUMP_MS = 60 * 60 * 1000
"""A record this much older than what is held (network time) is on a new clock, not late: a restarted
simulation starts its clock again from the wall clock. It replaces what is held."""


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    kind: str
    state: str
    line: str
    station_id: int
    station_name: str
    direction: str
    train_id: str | None
    since_ms: int
    at_ms: int
    measured_s: float | None
    scheduled_s: float | None
    threshold_s: float | None
    reason: str

    def newer_than(self, other: Alert) -> bool:
        return self.at_ms > other.at_ms or (self.at_ms == other.at_ms and self.state == "clear")


@dataclass(frozen=True, slots=True)
class Headway:
    line: str
    station_id: int
    direction: str
    arrived_ms: int
    headway_s: float | None
    scheduled_headway_s: float | None


@dataclass(frozen=True, slots=True)
class NetworkPlatforms:
    """The platforms the network has: each line's stations (on any of its routes), in either direction."""

    stations: Mapping[str, frozenset[int]]

    @classmethod
    def of(cls, network: Network) -> NetworkPlatforms:
        stations: dict[str, set[int]] = {}
        for route in network.routes:
            stations.setdefault(route.line, set()).update(route.station_ids)
        return cls({line: frozenset(ids) for line, ids in stations.items()})

    def check(self, what: str, line: str, station_id: int, direction: str) -> None:
        """:class:`BadRecord` unless the network has this platform."""
        if line not in self.stations:
            raise BadRecord(f"{what} of line {line!r}, which the network does not have")
        if station_id not in self.stations[line]:
            raise BadRecord(f"{what} of station {station_id}, which the {line} line does not stop at")
        if direction not in DIRECTIONS:
            raise BadRecord(f"{what} in direction {direction!r}, not one of {', '.join(DIRECTIONS)}")


def alert_of(value: bytes | None, network: NetworkPlatforms | None = None) -> Alert:
    """One alert record (the job's JSON value), or :class:`BadRecord` saying what is wrong (with
    ``network``: also when it is about a platform the network does not have)."""
    record = _json_object(value)
    try:
        alert = Alert(
            alert_id=str(record["alert_id"]),
            kind=str(record["kind"]),
            state=str(record["state"]),
            line=str(record["line"]),
            station_id=int(record["station_id"]),
            station_name=str(record.get("station_name") or ""),
            direction=str(record["direction"]),
            train_id=record.get("train_id"),
            since_ms=int(record["since_ms"]),
            at_ms=int(record["at_ms"]),
            measured_s=_optional_float(record.get("measured_s")),
            scheduled_s=_optional_float(record.get("scheduled_s")),
            threshold_s=_optional_float(record.get("threshold_s")),
            reason=str(record.get("reason") or ""),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BadRecord(f"not a service alert: {type(error).__name__}: {error}") from None
    if alert.kind not in ALERT_KINDS or alert.state not in ("open", "clear"):
        raise BadRecord(f"not a service alert: kind {alert.kind!r}, state {alert.state!r}")
    if network is not None:
        network.check("an alert", alert.line, alert.station_id, alert.direction)
    return alert


def headway_of(value: bytes | None, network: NetworkPlatforms | None = None) -> Headway:
    """One headway record, or :class:`BadRecord` (with ``network``: also when the network has no such platform)."""
    record = _json_object(value)
    try:
        headway = Headway(
            line=str(record["line"]),
            station_id=int(record["station_id"]),
            direction=str(record["direction"]),
            arrived_ms=int(record["arrived_ms"]),
            headway_s=_optional_float(record.get("headway_s")),
            scheduled_headway_s=_optional_float(record.get("scheduled_headway_s")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BadRecord(f"not a headway: {type(error).__name__}: {error}") from None
    if network is not None:
        network.check("a headway", headway.line, headway.station_id, headway.direction)
    return headway


def _json_object(value: bytes | None) -> Mapping[str, Any]:
    try:
        record = json.loads(value or b"")
    except ValueError as error:
        raise BadRecord(f"not JSON: {error}") from None
    if not isinstance(record, dict):
        raise BadRecord("not a JSON object")
    return record


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class ServiceHealth:
    """Open alerts, the newest alert records, each line's latest headways and its dwells (a pure model)."""

    def __init__(self, line_order: Iterable[str] = ()) -> None:
        self.line_order = tuple(line_order)
        self.dwells = Dwells(self.line_order)
        self._alerts: dict[str, Alert] = {}
        self._recent: deque[Alert] = deque(maxlen=RECENT)
        self._headways: dict[str, dict[tuple[int, str], Headway]] = {}
        self._swept_ms: int | None = None

    def apply(self, change: Alert | Headway | Dwell) -> bool:
        """Take one record; True when what the page shows changed."""
        if isinstance(change, Dwell):
            self.dwells.apply(change)
            return True
        if isinstance(change, Headway):
            if change.headway_s is None:
                return False  # a platform's first train: no headway yet
            platforms = self._headways.setdefault(change.line, {})
            held = platforms.get((change.station_id, change.direction))
            if held is not None and 0 < held.arrived_ms - change.arrived_ms <= CLOCK_JUMP_MS:
                return False
            platforms[(change.station_id, change.direction)] = change
            return True
        self._forget_cleared(change.at_ms)
        held_alert = self._alerts.get(change.alert_id)
        if (
            held_alert is not None
            and not change.newer_than(held_alert)
            and held_alert.at_ms - change.at_ms <= CLOCK_JUMP_MS
        ):
            return False
        self._alerts[change.alert_id] = change
        self._recent.appendleft(change)
        return True

    def _forget_cleared(self, now_ms: int) -> None:
        """Forget alerts cleared more than ``CLEARED_KEPT_MS`` from ``now_ms`` (either way: another clock's),
        at most once per ``CLEARED_KEPT_MS / 4`` of network time."""
        if self._swept_ms is not None and abs(now_ms - self._swept_ms) < CLEARED_KEPT_MS // 4:
            return
        self._swept_ms = now_ms
        gone = [
            alert_id
            for alert_id, alert in self._alerts.items()
            if alert.state == "clear" and abs(now_ms - alert.at_ms) > CLEARED_KEPT_MS
        ]
        for alert_id in gone:
            del self._alerts[alert_id]

    def held_alerts(self) -> int:
        """How many alerts (open or recently cleared) the model holds."""
        return len(self._alerts)

    def open_alerts(self) -> list[Alert]:
        return sorted((a for a in self._alerts.values() if a.state == "open"), key=lambda a: (a.since_ms, a.alert_id))

    def lines(self) -> list[dict[str, Any]]:
        """The health strip: per line, headway now against scheduled, and open alerts by kind."""
        names = [*self.line_order, *sorted(set(self._headways) - set(self.line_order))]
        dwells = self.dwells.by_line()
        open_by_line: dict[str, dict[str, int]] = {}
        for alert in self.open_alerts():
            counts = open_by_line.setdefault(alert.line, dict.fromkeys(ALERT_KINDS, 0))
            counts[alert.kind] += 1
        strip = []
        for line in names:
            platforms = list(self._headways.get(line, {}).values())
            measured = [p.headway_s for p in platforms if p.headway_s is not None]
            scheduled = [p.scheduled_headway_s for p in platforms if p.scheduled_headway_s is not None]
            counts = open_by_line.get(line, dict.fromkeys(ALERT_KINDS, 0))
            strip.append(
                {
                    "line": line,
                    "headway_s": round(statistics.median(measured), 1) if measured else None,
                    "scheduled_headway_s": round(statistics.median(scheduled), 1) if scheduled else None,
                    "platforms": len(measured),
                    "dwell_s": dwells.get(line),
                    "open_alerts": sum(counts.values()),
                    "open_by_kind": counts,
                }
            )
        return strip

    def as_json(self, recent: bool = True) -> dict[str, Any]:
        """Open alerts and the strip, and (``recent``) the newest alert records, which the page leaves out."""
        body = {"open": [_alert_json(a) for a in self.open_alerts()], "lines": self.lines()}
        if recent:
            body["recent"] = [_alert_json(a) for a in self._recent]
        return body


def _alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "state": alert.state,
        "where": {
            "line": alert.line,
            "station_id": alert.station_id,
            "station_name": alert.station_name,
            "direction": alert.direction,
            "train_id": alert.train_id,
        },
        "since_ms": alert.since_ms,
        "at_ms": alert.at_ms,
        "why": {
            "measured_s": alert.measured_s,
            "scheduled_s": alert.scheduled_s,
            "threshold_s": alert.threshold_s,
            "reason": alert.reason,
        },
    }


class ServiceHealthView:
    """The model behind a lock: the consumer thread writes, the API and the page's push read.

    ``on_change(urgent)`` hears of every batch that changed what the page shows, outside the lock: urgent
    when an alert opened or cleared (a rider waits for it), not when only a headway moved."""

    def __init__(self, line_order: Iterable[str] = (), on_change: Callable[[bool], None] | None = None) -> None:
        self._lock = threading.Lock()
        self.model = ServiceHealth(line_order)
        self.updated_ms: int | None = None
        self.on_change = on_change

    def apply(self, batch: list[Received[Any]]) -> None:
        changed = urgent = False
        with self._lock:
            for received in batch:
                if self.model.apply(received.change):
                    self.updated_ms = received.received_ms
                    changed = True
                    urgent = urgent or isinstance(received.change, Alert)
        if changed and self.on_change is not None:
            self.on_change(urgent)

    def as_json(self, recent: bool = True) -> dict[str, Any]:
        with self._lock:
            return {**self.model.as_json(recent), "updated_ms": self.updated_ms, "generated_at": now_ms()}

    def dwells(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.model.dwells.as_json()

    def typical_dwell(self, platform: Platform) -> float | None:
        with self._lock:
            return self.model.dwells.typical_s(platform)


class ServiceHealthConsumer(TopicConsumer):
    """The service-health topics, read with the dashboard's loop: alerts whole (compacted), headways and
    dwells from ``dashboard_replay_s`` back. JSON, no registry; bad records (those of a platform the
    network does not have too) go to the dead-letter topic."""

    name = "dashboard-service-health"

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        network: NetworkPlatforms,
        dead_letters: DeadLetterPublisher | None = None,
    ) -> None:
        self.network = network
        super().__init__(settings, sink, dead_letters)

    @staticmethod
    def topic_roles(settings: Settings) -> dict[str, str]:
        return {
            settings.topic_cta_service_alerts: "service_alerts",
            settings.topic_cta_headways: "headways",
            settings.topic_cta_dwells: "dwells",
        }

    def _start_offsets(
        self, consumer: Consumer, topic: str, role: str, partitions: list[int], first: bool
    ) -> list[TopicPartition]:
        if first and role in ("headways", "dwells"):
            since = now_ms() - int(self.settings.dashboard_replay_s * 1000)
            return offsets_since(consumer, topic, partitions, since)
        return super()._start_offsets(consumer, topic, role, partitions, first)

    def _decode(self, role: str, message: Message) -> Any:
        raw = as_bytes(message.value())
        if role == "dwells":
            dwell = dwell_of(_json_object(raw))
            self.network.check("a dwell", dwell.line, dwell.station_id, dwell.direction)
            return dwell
        return alert_of(raw, self.network) if role == "service_alerts" else headway_of(raw, self.network)
