"""A job checkpoints under the version of its SQL, so a changed query (a new release) starts without the
old state instead of failing to restore it (pure: folders laid out as Flink writes them, no cluster).

The platform tests restore a job from its checkpoint (tests/pipeline/test_watchdog.py,
test_cta_run_times.py) through the same functions.
"""

from __future__ import annotations

import os
from pathlib import Path

from transit_status.pipeline.sql_jobs import (
    CTA_RUN_TIMES,
    CTA_SERVICE_HEALTH,
    PIPELINE_JOBS,
    Submission,
    job_checkpoints_dir,
    job_properties,
    latest_checkpoint,
    outgrown_checkpoint,
    statements_digest,
)
from transit_status.platform.ports import isolated_settings

QUERY = "CREATE TABLE t (x INT);\nINSERT INTO t SELECT x FROM s WHERE x > ${threshold};\n"


def test_the_version_follows_the_statements_not_their_comments_or_spacing() -> None:
    commented = (
        "-- the input\nCREATE TABLE t (x INT);\n\n/* only big ones */\nINSERT INTO t\n"
        "  SELECT x FROM s WHERE x > ${threshold};"
    )
    assert statements_digest(commented) == statements_digest(QUERY)
    assert statements_digest(QUERY.replace("x > ", "x >= ")) != statements_digest(QUERY)
    versions = {job.plan_version for job in PIPELINE_JOBS}
    assert len(versions) == len(PIPELINE_JOBS)  # each job's own statements


def checkpoint(folder: Path, job_id: str, number: int, age_s: float = 0.0) -> Path:
    """A completed checkpoint as Flink leaves it: ``<dir>/<job id>/chk-N/_metadata``."""
    metadata = folder / job_id / f"chk-{number}" / "_metadata"
    metadata.parent.mkdir(parents=True)
    metadata.write_bytes(b"state")
    when = metadata.stat().st_mtime - age_s
    os.utime(metadata, (when, when))
    return metadata.parent


def test_a_job_resumes_only_from_a_checkpoint_of_its_sql_as_it_is_now(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    current = job_checkpoints_dir(settings, CTA_SERVICE_HEALTH)
    assert current is not None and current.name == f"v-{CTA_SERVICE_HEALTH.plan_version}"
    properties = job_properties(settings, CTA_SERVICE_HEALTH, None)
    assert properties["execution.checkpointing.dir"] == current.as_uri()
    runs = current.parent  # the job's folder: one per version of its SQL

    # A release without versions, then an earlier version of the SQL: neither is restored.
    unversioned = checkpoint(runs, "a1", 7, age_s=300)
    assert latest_checkpoint(settings, CTA_SERVICE_HEALTH) is None
    assert outgrown_checkpoint(settings, CTA_SERVICE_HEALTH) == unversioned
    earlier = checkpoint(runs / "v-0123456789ab", "b2", 9, age_s=100)
    assert outgrown_checkpoint(settings, CTA_SERVICE_HEALTH) == earlier

    # The SQL as it is now: its newest checkpoint is restored.
    checkpoint(current, "c3", 2, age_s=50)
    newest = checkpoint(current, "d4", 1)
    assert latest_checkpoint(settings, CTA_SERVICE_HEALTH) == newest
    assert job_properties(settings, CTA_SERVICE_HEALTH, newest)["execution.state-recovery.path"] == newest.as_uri()
    assert outgrown_checkpoint(settings, CTA_SERVICE_HEALTH) == earlier  # kept, never restored
    assert latest_checkpoint(settings, CTA_RUN_TIMES) is None  # another job's folder


def test_a_fresh_start_after_an_sql_change_says_so() -> None:
    fresh = Submission("p.cta-service-health", "j1", submitted=True, outgrown=Path("/state/chk-7"))
    assert fresh.describe() == (
        "p.cta-service-health submitted (job j1), from the start (its SQL changed since its last checkpoint)"
    )
    resumed = Submission("p.cta-service-health", "j2", submitted=True, restored_from=Path("/state/chk-9"))
    assert resumed.describe() == "p.cta-service-health submitted (job j2), from checkpoint /state/chk-9"
