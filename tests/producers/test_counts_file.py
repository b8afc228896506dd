"""The producers' delivery counts file: what a test or a benchmark reads to know what was acknowledged."""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka import KafkaError

from transit_status.producers.kafka import CountsFile, DeliveryStats, read_counts


def test_counts_are_written_at_most_every_interval_then_finally_one_file_per_run(tmp_path: Path) -> None:
    stats = DeliveryStats()
    for _ in range(3):
        stats.handed_over("entries")
    stats.record("entries", None, key="Bank")
    stats.record("entries", None, key="Bank")
    first = CountsFile(tmp_path, every_s=3600)
    first.write(stats)
    stats.record("entries", KafkaError(KafkaError._MSG_TIMED_OUT))
    first.write(stats)  # within the interval: not rewritten
    (written,) = read_counts(tmp_path)
    assert (written["final"], written["delivered"], written["failed"], written["in_flight"]) == (
        False, {"entries": 2}, {}, 1,
    )  # fmt: skip
    first.write(stats, final=True)
    (written,) = read_counts(tmp_path)
    assert written["final"] and written["failed"] == {"entries": 1} and written["in_flight"] == 0
    assert written["delivered_by_key"] == {"entries": {"Bank": 2}}

    # A restarted producer writes a file of its own, after the first in order; nothing half-written stays.
    second = CountsFile(tmp_path, every_s=0)
    second.write(DeliveryStats(), final=True)
    runs = read_counts(tmp_path)
    assert [run["started_ms"] for run in runs] == sorted(run["started_ms"] for run in runs) and len(runs) == 2
    assert [path.suffix for path in tmp_path.iterdir()] == [".json", ".json"]
    assert json.loads(second.path.read_text())["generated"] == {}
