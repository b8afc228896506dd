"""Turnstile counts are exact: every entry counted once, across a ``kill -9`` and a clean restart."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.processes import wait_until
from tests.streams.support import (
    TurnstileProducer,
    group_lag,
    latest_json_by_key,
    start_worker,
    unique_settings,
    wait_worker_ready,
)
from transit_status.config import Settings
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

EVENTS = 20_000
STATIONS = 150
PRODUCE_RATE = 2_000  # events/s: the worker is killed while entries are still arriving


def turnstile_events(count: int, stations: int, seed: int = 7) -> list[tuple[int, str]]:
    """Entries over many stations, busy and quiet ones (a skewed, reproducible mix)."""
    rng = random.Random(seed)
    ids = [40000 + 10 * i for i in range(stations)]
    weights = [1 / (rank + 1) for rank in range(stations)]
    return [(station_id, f"Station {station_id}") for station_id in rng.choices(ids, weights, k=count)]


def counted(settings: Settings) -> dict[int, int]:
    """The latest committed summary per station (read_committed)."""
    latest = latest_json_by_key(settings, settings.topic_turnstile_summary)
    return {value["station_id"]: value["count"] for value in latest.values()}


def total_counted_at_least(settings: Settings, minimum: int) -> int:
    total = sum(counted(settings).values())
    return total if total >= minimum else 0


def test_counts_are_exact_across_a_kill_9_and_a_sigterm_restart(platform: Settings, tmp_path: Path) -> None:
    settings = unique_settings(platform, "counts")
    ensure_topics(settings)
    events = turnstile_events(EVENTS, STATIONS)
    expected = Counter(station_id for station_id, _ in events)
    first_wave, second_wave = events[: EVENTS * 3 // 5], events[EVENTS * 3 // 5 :]
    producer = TurnstileProducer(settings)

    def produce_steadily(wave: list[tuple[int, str]]) -> threading.Thread:
        def feed() -> None:
            batch = PRODUCE_RATE // 10
            for start in range(0, len(wave), batch):
                began = time.monotonic()
                producer.produce(wave[start : start + batch])
                time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))

        thread = threading.Thread(target=feed, daemon=True)
        thread.start()
        return thread

    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    wait_worker_ready(worker)
    try:
        # kill -9 once some, but far from all, entries are counted (and more keep arriving).
        feeding = produce_steadily(first_wave)
        counts_at_kill = wait_until(
            lambda: total_counted_at_least(settings, len(first_wave) // 4),
            timeout_s=90,
            every_s=0.5,
            what="part of the entries to be counted",
        )
        worker.kill()
        assert counts_at_kill < len(first_wave), "the worker must be killed mid-run"
        worker = start_worker(settings, log)
        wait_worker_ready(worker, timeout_s=90)
        feeding.join(timeout=60)

        # Then a clean stop (SIGTERM) while entries are being counted, and a restart.
        feeding = produce_steadily(second_wave)
        wait_until(
            lambda: total_counted_at_least(settings, len(first_wave) + len(second_wave) // 4),
            timeout_s=90,
            every_s=0.5,
            what="part of the second wave to be counted",
        )
        assert worker.stop() == 0
        worker = start_worker(settings, log)
        wait_worker_ready(worker, timeout_s=90)
        feeding.join(timeout=60)
        assert not feeding.is_alive()

        wait_until(
            lambda: group_lag(settings, settings.faust_app_id, settings.topic_turnstiles) == 0,
            timeout_s=120,
            what="the worker to consume every entry (lag 0)",
        )
        final = wait_until(
            lambda: (lambda counts: counts if sum(counts.values()) >= EVENTS else None)(counted(settings)),
            timeout_s=60,
            what="the summary to include every entry",
        )
        time.sleep(3)  # nothing more arrives: the totals are final, not a moment in a double count
        assert counted(settings) == final
    finally:
        worker.stop()
    assert final == dict(expected)
    assert sum(final.values()) == EVENTS
    assert "Traceback" not in worker.log()
