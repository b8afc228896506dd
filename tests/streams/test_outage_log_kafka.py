"""A real Kafka outage under the stream worker: its log says so once, then when Kafka is back, with a count.

Its own single broker (not the session's platform, which other tests share), stopped for a while and
started again on its data."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.streams.support import running_worker
from transit_status.platform.ports import isolated_settings
from transit_status.platform.services import kafka
from transit_status.platform.supervisor import Platform

OUTAGE_S = 15.0
BACK = re.compile(r"Kafka back after (\d+) s; (\d+) similar errors suppressed")


@pytest.mark.system  # starts a broker and the worker
def test_a_kafka_outage_is_one_line_then_its_end_with_a_count(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    settings = isolated_settings(state, ready_timeout_s=300.0)
    broker = Platform(settings, report=lambda line: None, services=kafka.specs(settings))
    broker.up()
    try:
        with running_worker(settings, tmp_path / "streams.log") as worker:
            before = len(worker.log().splitlines())
            broker.down()
            time.sleep(OUTAGE_S)  # the outage itself: the worker's clients retry all along
            broker.up()
            back = worker.wait_for(lambda: BACK.search(worker.log()), 120, "the end of the outage logged")
            worker.assert_alive()
            during = worker.log().splitlines()[before:]
    finally:
        broker.down()
    # Faust's log format has no logger name: "[time] [pid] [ERROR] message".
    problems = [line for line in during if "[ERROR]" in line or "[WARNING]" in line]
    # The first error, the summary line, and hardly anything else (it was hundreds of lines).
    assert any("Kafka trouble" in line for line in problems), problems[:20]
    assert len(problems) <= 5, problems[:20]
    assert int(back[1]) >= OUTAGE_S / 2 and int(back[2]) > 0, back[0]
