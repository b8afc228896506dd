"""`transit-status serve simulate` stops on SIGTERM without losing what the broker acknowledged."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from tests.helpers import read_all
from tests.processes import running_service
from transit_status.config import Settings
from transit_status.platform.ports import private_topics

pytestmark = pytest.mark.platform

DELIVERED = " delivered "


def delivered_counts(log: str) -> dict[str, int]:
    """The per-topic delivery counts the simulation logs when it stops."""
    lines = [line for line in log.splitlines() if DELIVERED in line and "stopped at" in line]
    assert lines, f"no delivery summary in the log:\n{log[-3000:]}"
    return ast.literal_eval(lines[-1].split(DELIVERED, 1)[1])


def test_sigterm_flushes_every_record_the_simulation_sent(platform: Settings, tmp_path: Path) -> None:
    # Fast enough that records are always in flight when the signal arrives.
    settings = private_topics(platform, f"stop-{uuid.uuid4().hex[:8]}", simulation_speed=600.0)
    with running_service("simulate", settings, tmp_path / "simulate.log") as simulation:
        simulation.wait_for(
            lambda: read_all(settings, settings.topic_turnstiles, timeout_s=10), 60, "the first turnstile records"
        )
        exit_code = simulation.stop(timeout_s=settings.service_stop_grace_s + 5)
    log = simulation.log()
    assert exit_code == 0, log[-3000:]
    assert "Traceback" not in log
    delivered = delivered_counts(log)
    assert delivered[settings.topic_turnstiles] > 0 and delivered[settings.topic_arrivals] > 0
    for topic in (settings.topic_arrivals, settings.topic_turnstiles):
        # Idempotent producer, no other writer: what was acknowledged is exactly what the topic holds.
        assert len(read_all(settings, topic)) == delivered[topic], topic
