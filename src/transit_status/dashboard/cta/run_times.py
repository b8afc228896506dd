"""The run-times topic (``settings.topic_run_times``, written by ``sql/cta_run_times.sql``): its contract and
the dashboard's reader.

Compacted, read whole from the beginning on start and then live, by a consumer of its own (the arrivals
consumer's loop, :class:`~transit_status.dashboard.consumer.TopicConsumer`, with this one topic), so
the page's health and freshness stay about the page's own inputs. A record that breaks the contract goes
to the dead-letter topic.
"""

from __future__ import annotations

from typing import Annotated, Any

from confluent_kafka import Message
from pydantic import Field

from transit_status.avro.wire import BadRecord
from transit_status.config import Settings
from transit_status.dashboard.consumer import TopicConsumer, as_bytes
from transit_status.dashboard.contracts import Contract, parse
from transit_status.dashboard.cta.predictions import LegKey, RunTime
from transit_status.dashboard.cta.state import DIRECTIONS

ROLE = "run_times"


class RunTimeKey(Contract):
    line: Annotated[str, Field(min_length=1)]
    direction: str
    from_station_id: Annotated[int, Field(ge=0)]
    to_station_id: Annotated[int, Field(ge=0)]


class RunTimeRecord(RunTimeKey):
    run_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    samples: Annotated[int, Field(ge=1)]
    learned_at: Annotated[int, Field(ge=0)]


def run_time_change(key: bytes | None, value: bytes | None) -> RunTime | LegKey:
    """One record: JSON key ``{line, direction, from_station_id, to_station_id}``, JSON value with those
    and ``run_seconds``, ``samples``, ``learned_at`` (``min_seconds``/``max_seconds`` are not needed); a
    null value (tombstone) forgets the leg."""
    if key is None:
        raise BadRecord("key is null")
    record_key = parse(RunTimeKey, key, "key")
    if record_key.direction not in DIRECTIONS:
        raise BadRecord(f"direction {record_key.direction!r} is not one of {', '.join(DIRECTIONS)}")
    leg: LegKey = (record_key.line, record_key.direction, record_key.from_station_id, record_key.to_station_id)
    if value is None:
        return leg
    record = parse(RunTimeRecord, value, "value")
    if (record.line, record.direction, record.from_station_id, record.to_station_id) != leg:
        raise BadRecord("key does not match the value's line, direction, from_station_id and to_station_id")
    return RunTime(*leg, run_seconds=record.run_seconds, samples=record.samples, learned_at=record.learned_at)


class RunTimesConsumer(TopicConsumer):
    """Reads the run-times topic from the beginning and hands each record's change to its sink."""

    name = "dashboard-run-times"

    @staticmethod
    def topic_roles(settings: Settings) -> dict[str, str]:
        return {settings.topic_run_times: ROLE}

    def _decode(self, role: str, message: Message) -> Any:
        return run_time_change(as_bytes(message.key()), as_bytes(message.value()))
