"""A Kafka outage in the stream worker's log: its first error, then its end with a count (outage_log.py)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from transit_status.platform.ports import free_ports
from transit_status.streams.outage_log import KafkaOutageFilter, broker_answers, install


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_an_outage_is_one_line_then_its_end_with_the_count_of_what_was_suppressed(lines: Lines) -> None:
    clock, kafka_up = Clock(), [False]
    outage = KafkaOutageFilter(lambda: kafka_up[0], monotonic=clock, start_probe_thread=False)
    install(outage, [lines])
    client, coordinator = logging.getLogger("aiokafka.client"), logging.getLogger("aiokafka.consumer.group_coordinator")
    worker = logging.getLogger("transit_status.streams.stations")

    # The outage: 1,362 errors in 23 s from several of aiokafka's loggers, our own log between them.
    for n in range(1362):
        clock.now = 100.0 + 23.0 * n / 1362
        (client if n % 2 else coordinator).error("Unable connect to node with id %s: %s", 1, "Connect call failed")
        if n == 700:
            worker.warning("station 40380 is not in the blue line's sequence: order unknown")
            assert outage.check() is False  # Kafka still down: the outage goes on
    clock.now = 123.4
    kafka_up[0] = True
    # A stopping broker still accepts connections while its clients fail: an answer alone is no end.
    assert outage.check() is False
    clock.now = 126.2  # three quiet seconds after the last error
    assert outage.check() is True

    assert lines.lines == [
        "ERROR aiokafka.consumer.group_coordinator: Unable connect to node with id 1: Connect call failed"
        " [Kafka trouble: similar errors are counted until it answers again]",
        "WARNING transit_status.streams.stations: station 40380 is not in the blue line's sequence: order unknown",
        "WARNING transit_status.streams.outage_log: Kafka back after 26 s; 1361 similar errors suppressed",
    ]

    # The next outage is reported again, from its own first error.
    lines.lines.clear()
    kafka_up[0] = False
    client.warning("Unable to update metadata from [1]")
    client.error("Unable connect to node with id 1")
    assert outage.in_outage and outage.suppressed == 1
    assert len(lines.lines) == 1 and lines.lines[0].startswith("WARNING aiokafka.client: Unable to update metadata")


def test_kafka_client_info_and_other_loggers_pass_untouched(lines: Lines) -> None:
    outage = KafkaOutageFilter(lambda: False, start_probe_thread=False)
    install(outage, [lines])
    logging.getLogger("aiokafka.consumer.group_coordinator").info("Joined group 'transit-status' (generation 3)")
    logging.getLogger("aiokafkaish").error("not a Kafka client")
    logging.getLogger("transit_status.streams").error("our own error")
    assert not outage.in_outage and len(lines.lines) == 3


def test_the_probe_asks_whether_a_broker_accepts_connections() -> None:
    port = free_ports(1)[0]
    assert broker_answers(f"127.0.0.1:{port}") is False
    with socket.create_server(("127.0.0.1", port)):
        assert broker_answers(f"127.0.0.1:1,127.0.0.1:{port}") is True
