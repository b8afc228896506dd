"""London's crowding alerts on its page, from the Flink SQL job ``london-crowding``.

The alerts topic (compacted, key ``alert_id`` = ``crowding:<station>``) holds an ``open`` record when
a station's quarter hour is far above a typical day's (``settings.london_crowding_ratio``) and a
``clear`` record when a later quarter is not. The newest record of an alert, by its quarter's end,
says whether it is open. :class:`CrowdingAlerts` is the pure model; :class:`CrowdingAlertsConsumer`
feeds it with the dashboard's consumer loop; ``/api/london/alerts`` serves it, and London's socket gets
the same as an ``alerts`` frame when it changes (``LiveHub.whole_view``).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Message

from transit_status.avro.wire import BadRecord
from transit_status.config import Settings
from transit_status.dashboard.consumer import Sink, TopicConsumer, as_bytes
from transit_status.dashboard.dead_letters import DeadLetterPublisher
from transit_status.dashboard.state import Received
from transit_status.wallclock import now_ms

RECENT = 50
CLOCK_JUMP_MS = 60 * 60 * 1000
"""A record this much older than the alert's held one (network time) belongs to a new run's clock."""


@dataclass(frozen=True, slots=True)
class CrowdingAlert:
    alert_id: str
    state: str
    station: str
    since: str
    """ISO-8601 UTC: the start of the quarter that opened (or cleared) the alert."""
    at: str
    """ISO-8601 UTC: that quarter's end (the event time of the record)."""
    entries: int
    typical_entries: float
    ratio: float | None
    day_type: str
    reason: str


def crowding_alert_of(value: bytes | None, stations: Collection[str] | None = None) -> CrowdingAlert:
    """One alert record (the job's JSON value), or :class:`BadRecord` saying what is wrong (with
    ``stations``, London's station names: also when it is about a station London does not have)."""
    try:
        record = json.loads(value or b"")
        alert = CrowdingAlert(
            alert_id=str(record["alert_id"]),
            state=str(record["state"]),
            station=str(record["station"]),
            since=str(record["since"]),
            at=str(record["at"]),
            entries=int(record["entries"]),
            typical_entries=float(record["typical_entries"]),
            ratio=None if record.get("ratio") is None else float(record["ratio"]),
            day_type=str(record["day_type"]),
            reason=str(record.get("reason") or ""),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise BadRecord(f"not a crowding alert: {type(error).__name__}: {error}") from None
    if alert.state not in ("open", "clear"):
        raise BadRecord(f"not a crowding alert: state {alert.state!r}")
    if stations is not None and alert.station not in stations:
        raise BadRecord(f"a crowding alert of station {alert.station!r}, which London does not have")
    return alert


def _ms(text: str) -> int:
    """An ISO-8601 time as epoch ms (naive: UTC, as the contract says); 0 when it is none, so it never
    counts as a clock jump."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return 0
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


class CrowdingAlerts:
    """Open crowding alerts and the newest records (a pure model)."""

    def __init__(self) -> None:
        self._alerts: dict[str, CrowdingAlert] = {}
        self._recent: deque[CrowdingAlert] = deque(maxlen=RECENT)

    def apply(self, alert: CrowdingAlert) -> bool:
        held = self._alerts.get(alert.alert_id)
        # ISO-8601 UTC text sorts as time; a clear wins a tie. A record far older than what is held is on a
        # new clock (a restarted simulation starts at the wall clock again), not late: it replaces it.
        if (
            held is not None
            and (alert.at, alert.state == "clear") <= (held.at, held.state == "clear")
            and _ms(held.at) - _ms(alert.at) <= CLOCK_JUMP_MS
        ):
            return False
        self._alerts[alert.alert_id] = alert
        self._recent.appendleft(alert)
        return True

    def open_alerts(self) -> list[CrowdingAlert]:
        return sorted(
            (a for a in self._alerts.values() if a.state == "open"), key=lambda a: (-(a.ratio or 0), a.station)
        )

    def as_json(self, recent: bool = True) -> dict[str, Any]:
        """Open alerts and (``recent``) the newest records, which the page leaves out."""
        body: dict[str, Any] = {"open": [asdict(a) for a in self.open_alerts()]}
        if recent:
            body["recent"] = [asdict(a) for a in self._recent]
        return body


class CrowdingAlertsView:
    """The model behind a lock: the consumer thread writes, the API and the page's push read;
    ``on_change(urgent)`` hears of every batch that opened or cleared an alert (always urgent)."""

    def __init__(self, on_change: Callable[[bool], None] | None = None) -> None:
        self._lock = threading.Lock()
        self.model = CrowdingAlerts()
        self.on_change = on_change

    def apply(self, batch: list[Received[Any]]) -> None:
        with self._lock:
            changed = [self.model.apply(received.change) for received in batch]
        if any(changed) and self.on_change is not None:
            self.on_change(True)

    def as_json(self, recent: bool = True) -> dict[str, Any]:
        with self._lock:
            return {**self.model.as_json(recent), "generated_at": now_ms()}


class CrowdingAlertsConsumer(TopicConsumer):
    """The crowding alerts topic, read whole (compacted) with the dashboard's loop; bad records (those of a
    station London does not have too) are dead letters."""

    name = "dashboard-london-crowding"

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        stations: Collection[str],
        dead_letters: DeadLetterPublisher | None = None,
    ) -> None:
        self.stations = frozenset(stations)
        super().__init__(settings, sink, dead_letters)

    @staticmethod
    def topic_roles(settings: Settings) -> dict[str, str]:
        return {settings.topic_london_crowding_alerts: "crowding_alerts"}

    def _decode(self, role: str, message: Message) -> Any:
        return crowding_alert_of(as_bytes(message.value()), self.stations)
