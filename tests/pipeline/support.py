"""What the Flink SQL job tests share: private topics and job name per test, and waiting for records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.helpers import read_all
from tests.processes import wait_until
from tests.streams.support import unique_settings
from transit_status.config import Settings
from transit_status.pipeline.sql_jobs import SqlJob, cancel_job, cluster_jobs
from transit_status.topics import ensure_topics


@contextmanager
def private_job_settings(platform: Settings, request: pytest.FixtureRequest, job: SqlJob) -> Iterator[Settings]:
    """Private topics and job name for one test; ``job`` is cancelled at the end so its slot is free again."""
    settings = unique_settings(platform, request.node.name[5:30].replace("_", "-"))
    ensure_topics(settings)
    yield settings
    for running in cluster_jobs(settings):
        if running["name"] == job.job_name(settings) and running["state"] == "RUNNING":
            cancel_job(settings, running["jid"])


def records_when(settings: Settings, topic: str, count: int, timeout_s: float = 120) -> list[Any]:
    """Every committed record of ``topic``, once there are at least ``count``."""
    return wait_until(
        lambda: (lambda found: found if len(found) >= count else None)(read_all(settings, topic)),
        timeout_s,
        f"{count} records in {topic}",
    )
