"""`transit-status serve simulate` stops on SIGTERM without losing what the broker acknowledged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import assert_sigterm_loses_nothing
from transit_status.config import Settings
from transit_status.platform.ports import private_topics

pytestmark = pytest.mark.platform


def test_sigterm_flushes_every_record_the_simulation_sent(platform: Settings, tmp_path: Path) -> None:
    # Fast enough that records are always in flight when the signal arrives.
    settings = private_topics(platform, f"stop-{uuid.uuid4().hex[:8]}", simulation_speed=600.0)
    topics = (settings.topic_arrivals, settings.topic_turnstiles)
    delivered = assert_sigterm_loses_nothing(
        "simulate", settings, tmp_path / "simulate.log", settings.topic_turnstiles, topics
    )
    assert delivered[settings.topic_turnstiles] > 0 and delivered[settings.topic_arrivals] > 0
