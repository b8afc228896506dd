"""A transactional writer of count changes, as Flink's exactly-once upsert sink writes them, in a
process of its own (london/test_recovery.py): the test's readers and the writer do not share one
interpreter lock, and a busy test process does not slow the writer down. Only light imports here:
the writer process imports this module.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import uuid
from bisect import bisect_right
from multiprocessing.synchronize import Event as EventType

from confluent_kafka import Producer

from transit_status.config import Settings

LINES = [f"line-{n:02d}" for n in range(11)]
STATIONS = [f"Station {n:03d}" for n in range(270)]
# Per topic, 2,500 changes/s: about what Flink wrote to the line activity topic before its sink
# buffered them (3.5 M records in 33 min), and a rate a restarted dashboard keeps up with.
CHANGES_PER_TRANSACTION = 500  # per topic: a tap changes one station's count and one line's
TRANSACTIONS_PER_S = 5.0


class ChangelogWriter:
    """Count changes on the line and station activity topics, one transaction per "checkpoint"."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with librdkafka threads
        self._stop = context.Event()
        self._reports: multiprocessing.Queue[tuple[float, int] | tuple[str, dict[str, int]]] = context.Queue()
        self._process = context.Process(
            target=write_changelog,
            args=(
                settings.bootstrap_servers,
                settings.topic_london_line_activity,
                settings.topic_london_station_activity,
                self._stop,
                self._reports,
            ),
            name="changelog-writer",
            daemon=True,
        )
        self.committed_at: list[float] = [time.monotonic()]
        self.committed: list[int] = [0]  # records per topic committed by committed_at[i]
        self.final: dict[str, dict[str, int]] = {}

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the writer; return when its first transaction committed (monotonic clock)."""
        self.committed_at = [time.monotonic()]
        self._process.start()
        deadline = time.monotonic() + timeout_s
        while len(self.committed) < 2:
            assert time.monotonic() < deadline, "the writer committed nothing"
            self.update(timeout_s=1.0)
        return self.committed_at[1]

    def stop(self) -> None:
        """Stop writing; the latest count of every key is then in ``final``."""
        self._stop.set()
        if self._process.pid is None:
            return  # never started
        deadline = time.monotonic() + 60
        while len(self.final) < 2 and time.monotonic() < deadline:
            self.update(timeout_s=1.0)
        self._process.join(30)
        assert self.final.keys() == {"lines", "stations"}, (
            f"the writer ended without its counts ({self._process.exitcode})"
        )

    def update(self, timeout_s: float = 0.0) -> None:
        """Take in the writer's reports of committed transactions (and its final counts)."""
        assert self._process.is_alive() or not self._reports.empty() or self.final, "the writer died"
        try:
            while True:
                first, second = self._reports.get(timeout=timeout_s)
                if isinstance(first, str):
                    self.final[first] = second  # type: ignore[assignment]
                else:
                    self.committed_at.append(first)
                    self.committed.append(second)  # type: ignore[arg-type]
                timeout_s = 0.0
        except queue.Empty:
            pass

    def committed_by(self, moment: float) -> int:
        """Records per topic committed at or before ``moment`` (monotonic clock, the same in every process)."""
        self.update()
        return self.committed[max(0, bisect_right(self.committed_at, moment) - 1)]

    def written_between(self, start: float, end: float) -> int:
        """Records per topic that may have been committed within (start, end]: every transaction that
        had not committed by ``start`` and had by ``end``, plus the one under way at either end."""
        return self.committed_by(end) - self.committed_by(start) + 2 * CHANGES_PER_TRANSACTION


def write_changelog(
    bootstrap_servers: str,
    line_topic: str,
    station_topic: str,
    stop: EventType,
    reports: multiprocessing.Queue[tuple[float, int] | tuple[str, dict[str, int]]],
) -> None:
    """The writer process: one transaction of count changes every 1/TRANSACTIONS_PER_S s until stopped."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "transactional.id": f"test-recovery-{uuid.uuid4().hex[:8]}",
            "linger.ms": 5,
        }
    )
    producer.init_transactions(30)
    lines = dict.fromkeys(LINES, 0)
    stations = dict.fromkeys(STATIONS, 0)
    # The names need no JSON escaping, so the records are formatted directly (less CPU per change).
    station_keys = {name: f'{{"station": "{name}"}}'.encode() for name in STATIONS}
    line_keys = {name: f'{{"line": "{name}"}}'.encode() for name in LINES}
    taps = committed = 0
    while not stop.is_set():
        started = time.monotonic()
        producer.begin_transaction()
        for _ in range(CHANGES_PER_TRANSACTION):
            station, line = STATIONS[taps % len(STATIONS)], LINES[taps % len(LINES)]
            taps += 1
            stations[station] += 1
            lines[line] += 1
            entries = stations[station]
            producer.produce(
                station_topic,
                key=station_keys[station],
                value=f'{{"station": "{station}", "known": true, "entries": {entries}, "exits": 0, '
                f'"inside": {entries}}}'.encode(),
            )
            entries = lines[line]
            producer.produce(
                line_topic,
                key=line_keys[line],
                value=f'{{"line": "{line}", "entries": {entries}, "exits": 0, "inside": {entries}}}'.encode(),
            )
            producer.poll(0)
        producer.commit_transaction(30)
        committed += CHANGES_PER_TRANSACTION
        reports.put((time.monotonic(), committed))
        stop.wait(max(0.0, 1 / TRANSACTIONS_PER_S - (time.monotonic() - started)))
    reports.put(("lines", lines))
    reports.put(("stations", stations))
