"""The reference data the service-health SQL jobs join: written from the network, never from the SQL.

Chicago (``topic_cta_schedule``, compacted, JSON key ``{"line", "station_id", "direction"}``): per
platform of a line,

* ``headway_s``: the scheduled time between trains with the line's all-day routes running (their
  frequencies add up where branches share track: Green's trunk has a train every 6 min); ``None``
  where only part-time service calls (Purple Express on the Loop): no gap is alerted there, since
  every service window's end would look like one;
* ``min_headway_s``: the same with every route running, part-time ones too: bunching is judged
  against this tightest schedule and gaps against the loosest, so a service window opening or
  closing never raises a false alert;
* ``run_s``: the scheduled time from a train's report here to its next report (dwell + run to the
  next station; at a terminal, the layover), the longest over the line's routes. The network's data
  has distances but no timetable, so this is the timing model the simulation runs on
  (:class:`~transit_status.simulation.trains.TrainTiming`); a real feed's timetable (GTFS
  ``stop_times``) would take its place.

London (``topic_london_typical_entries``): typical entries per station, day type and local hour (the
network's daily entries x the hour's share, scaled like the barrier simulation).

The pipeline writes both before it submits the jobs (``pipeline/services.py``). Each topic is the whole
table (compacted; the jobs read it as an upsert table): at every start every row is rewritten, and every
key the topic still holds that the rows no longer have (a platform or station gone from a changed
network, e.g. a new static GTFS) gets a tombstone, so the jobs stop joining it and compaction drops it.
What the topic holds is read from the topic itself, not remembered locally: that stays right with an
external cluster, a new state directory or another host writing the same topics.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from transit_status.config import Settings
from transit_status.networks.model import Network
from transit_status.platform.errors import PlatformError
from transit_status.simulation.trains import TrainTiming, plan_routes

log = logging.getLogger(__name__)

READ_HELD_TIMEOUT_S = 30.0
READ_RETRY_S = 60.0
"""How long a reference topic that Kafka cannot read yet (a passing error) is retried before `run` stops."""
PASSING_ERRORS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
    }
)
"""How long reading what a reference topic holds may take (a few thousand small records: well under a second)."""


@dataclass(frozen=True, slots=True)
class ScheduledPlatform:
    line: str
    station_id: int
    direction: str
    station_name: str
    headway_s: float | None
    min_headway_s: float
    run_s: float


def cta_schedule(network: Network, timing: TrainTiming | None = None) -> list[ScheduledPlatform]:
    """Every (line, station, direction) a route reports at, with its scheduled headways and run time."""
    all_day: dict[tuple[str, int, str], float] = defaultdict(float)  # trains per second, summed over routes
    every: dict[tuple[str, int, str], float] = defaultdict(float)
    runs: dict[tuple[str, int, str], float] = {}
    names: dict[tuple[str, int, str], str] = {}
    for plan in plan_routes(network, timing or TrainTiming()):
        route = plan.route
        seen: set[tuple[str, int, str]] = set()
        for visit in plan.visits:
            key = (route.line, visit.station_id, visit.direction)
            runs[key] = max(runs.get(key, 0.0), visit.gap_s)
            names[key] = visit.station_name
            if key in seen:  # a route reports once per platform per trip: count its trains once
                continue
            seen.add(key)
            every[key] += 1.0 / route.headway_s
            if not route.part_time:
                all_day[key] += 1.0 / route.headway_s
    return [
        ScheduledPlatform(
            line=key[0],
            station_id=key[1],
            direction=key[2],
            station_name=names[key],
            headway_s=round(1.0 / all_day[key], 1) if all_day.get(key) else None,
            min_headway_s=round(1.0 / every[key], 1),
            run_s=round(runs[key], 1),
        )
        for key in sorted(every)
    ]


@dataclass(frozen=True, slots=True)
class TypicalEntries:
    station: str
    day_type: str
    hour: int
    entries: float
    """Entries in that local hour of a typical day of that day type (scaled like the simulation)."""


def london_typical_entries(network: Network, scale: float) -> list[TypicalEntries]:
    rows = []
    for station in network.stations.values():
        for day_type in network.day_types:
            shares = network.hourly_shares_on(day_type)
            daily = station.daily_entries.get(day_type, 0.0) * scale
            rows += [TypicalEntries(station.name, day_type, hour, round(daily * shares[hour], 2)) for hour in range(24)]
    return rows


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: str
    """ISO date, local."""
    day_type: str


def calendar(network: Network, first: date, days: int) -> list[CalendarDay]:
    """The network's day type of each date from ``first`` on (holidays included), for SQL to join."""
    return [
        CalendarDay(current.isoformat(), network.day_type_of(current))
        for current in (date.fromordinal(first.toordinal() + offset) for offset in range(days))
    ]


def publish(settings: Settings, topic: str, rows: list[tuple[dict[str, object], dict[str, object]]]) -> int:
    """Make ``topic`` hold exactly ``rows`` ((key, value) pairs, written as JSON): write them, and a tombstone
    for each key it held that they do not have. Returns the number of tombstones; a user error if not
    everything is delivered."""
    keys = {_same_key(json.dumps(key).encode()) for key, _ in rows}
    try:
        held = read_held_keys(settings, topic)
    except KafkaException as exc:
        raise PlatformError(f"could not read the reference topic {topic}: {settings.redact(str(exc))}") from None
    gone = {key: partition for key, partition in held.items() if _same_key(key) not in keys}
    producer = Producer({**settings.kafka_client_config(), "client.id": "transit-status-reference"})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for key, value in rows:
        producer.produce(topic, key=json.dumps(key).encode(), value=json.dumps(value).encode(), on_delivery=delivered)
        producer.poll(0)
    for old_key, partition in gone.items():
        # Into the partition the old row is in, whoever wrote it: compaction only pairs them there.
        producer.produce(topic, key=old_key, value=None, partition=partition, on_delivery=delivered)
        producer.poll(0)
    left = producer.flush(30)
    if left or failures:
        raise PlatformError(f"could not write the reference topic {topic}: {failures[:1] or f'{left} not delivered'}")
    if gone:
        log.info("%s: %d row(s) no longer in the reference data removed (tombstones)", topic, len(gone))
    return len(gone)


def read_held_keys(settings: Settings, topic: str, retry_s: float = READ_RETRY_S) -> dict[bytes, int]:
    """:func:`held_keys`, retried for ``retry_s`` while Kafka's answer is a passing one: a topic created a
    moment ago has no partition leader yet (freshM: NOT_LEADER_FOR_PARTITION ended `run`)."""
    retrying = Retrying(
        retry=retry_if_exception(_passing),
        stop=stop_after_delay(retry_s),
        wait=wait_fixed(0.5),
        reraise=True,
        before_sleep=lambda state: log.info("%s not readable yet (%s): retrying", topic, state.outcome.exception()),
    )
    return retrying(held_keys, settings, topic)


def _passing(error: BaseException) -> bool:
    """A Kafka error that goes away by itself: no leader elected yet, a timeout, a broker reconnecting."""
    if not isinstance(error, KafkaException) or not error.args or not isinstance(error.args[0], KafkaError):
        return False
    kafka_error: KafkaError = error.args[0]
    return kafka_error.retriable() or kafka_error.code() in PASSING_ERRORS


def held_keys(settings: Settings, topic: str, timeout_s: float = READ_HELD_TIMEOUT_S) -> dict[bytes, int]:
    """The keys ``topic`` holds a row for (its newest record of the key is not a tombstone), each with its
    partition. Read to the end as committed now; a topic that does not exist holds nothing. If the read is
    cut short, what was read is returned (a stale row then stays until the next start: never a wrong tombstone)."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "client.id": "transit-status-reference-reader",
            # Assigned, never joined or committed: a group of its own that disturbs no one.
            "group.id": f"transit-status-reference-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    newest: dict[bytes, tuple[bool, int]] = {}
    try:
        found = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if found is None or (found.error is not None and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            return {}
        assignment = []
        for partition in found.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                assignment.append(TopicPartition(topic, partition, low))
        if not assignment:
            return {}
        consumer.assign(assignment)
        reading = {tp.partition for tp in assignment}
        deadline = time.monotonic() + timeout_s
        while reading and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    reading.discard(message.partition())
                elif error.fatal():
                    raise KafkaException(error)
                continue
            key = message.key()
            if key is not None:
                newest[bytes(key)] = (message.value() is not None, message.partition())
        if reading:
            log.warning(
                "read only part of %s within %.0f s: rows gone from it may stay until the next start", topic, timeout_s
            )
    finally:
        consumer.close()
    return {key: partition for key, (alive, partition) in newest.items() if alive}


def _same_key(key: bytes) -> str | None:
    """A JSON key as the jobs see it (the same fields and values, however written); None if it is not JSON."""
    try:
        return json.dumps(json.loads(key), sort_keys=True)
    except ValueError:
        return None


def publish_cta_schedule(settings: Settings, network: Network) -> int:
    rows = [
        ({"line": row.line, "station_id": row.station_id, "direction": row.direction}, asdict(row))
        for row in cta_schedule(network)
    ]
    publish(settings, settings.topic_cta_schedule, rows)
    return len(rows)


CALENDAR_FROM = date(2015, 1, 1)
CALENDAR_DAYS = 366 * 30
"""The calendar covers 2015-2044: any simulated or real date the pipeline meets (about 11,000 rows)."""


def publish_london_typical_day(settings: Settings, network: Network) -> int:
    """Typical entries per station, day type and hour (scaled like the barriers), and the calendar."""
    typical = [
        ({"station": row.station, "day_type": row.day_type, "hour": row.hour}, asdict(row))
        for row in london_typical_entries(network, settings.london_barrier_scale)
    ]
    publish(settings, settings.topic_london_typical_entries, typical)
    days = [({"day": row.day}, asdict(row)) for row in calendar(network, CALENDAR_FROM, CALENDAR_DAYS)]
    publish(settings, settings.topic_london_calendar, days)
    return len(typical) + len(days)
