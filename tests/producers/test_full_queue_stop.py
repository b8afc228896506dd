"""A produce waiting for room in a full local queue (Kafka down for long) ends when the process is
stopped, instead of looping until Kafka comes back (a real confluent-kafka Producer; no broker needed)."""

from __future__ import annotations

import threading
from pathlib import Path

from transit_status.platform.ports import isolated_settings
from transit_status.producers.kafka import DeliveringProducer, ProducerStopped


def test_a_stop_ends_a_produce_that_waits_for_room_in_a_full_queue(tmp_path: Path) -> None:
    # Nothing listens at this state's Kafka port, and the local queue holds one record.
    settings = isolated_settings(tmp_path)
    stop = threading.Event()
    producer = DeliveringProducer(
        settings, "test-full-queue", stop=stop, extra_config={"queue.buffering.max.messages": 1}
    )
    producer._produce("arrivals", b"k", b"first")  # queued, never delivered
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            producer._produce("arrivals", b"k", b"second")
            outcome.append(None)
        except BaseException as error:  # what the thread ended with is the assertion
            outcome.append(error)

    waiting = threading.Thread(target=second, daemon=True)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # no room: it waits (serving delivery reports) ...
    stop.set()
    waiting.join(5)
    try:
        assert not waiting.is_alive()  # ... until the stop
        assert len(outcome) == 1 and isinstance(outcome[0], ProducerStopped)
        assert producer.stats.generated["arrivals"] == 1  # the second was not counted as handed over
    finally:
        producer.producer.purge()  # frees a thread still waiting (before the fix) and the close's flush
        waiting.join(5)
        producer.close()
