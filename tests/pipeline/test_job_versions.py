"""A job checkpoints under the version of its SQL, so a changed query (a new release) starts without the
old state instead of failing to restore it (pure: folders laid out as Flink writes them, no cluster).

The platform tests restore a job from its checkpoint (tests/pipeline/test_watchdog.py,
test_cta_run_times.py) through the same functions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transit_status.config import load_settings
from transit_status.pipeline.sql_jobs import (
    CTA_RUN_TIMES,
    CTA_SERVICE_HEALTH,
    PIPELINE_JOBS,
    TURNSTILE_SUMMARY,
    UNVERSIONED_SQL,
    SqlJob,
    Submission,
    job_checkpoints_dir,
    job_properties,
    latest_checkpoint,
    outgrown_checkpoint,
    split_statements,
    sql_text,
    sql_version,
    statements_digest,
    used_definitions,
)
from transit_status.platform.ports import isolated_settings

QUERY = "CREATE TABLE t (x INT);\nINSERT INTO t SELECT x FROM s WHERE x > ${threshold};\n"
TABLES = [
    "CREATE TEMPORARY TABLE IF NOT EXISTS template_sink WITH ('connector' = 'kafka')",
    "CREATE TABLE IF NOT EXISTS counts (n BIGINT) WITH ('topic' = 'c') LIKE template_sink",
    "CREATE TABLE IF NOT EXISTS other_counts (n BIGINT) WITH ('topic' = 'o') LIKE template_sink",
    "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS DECODE_IT AS 'x.Decode'",
]


def digest(script: str) -> str:
    return statements_digest(split_statements(script))


def test_the_version_follows_the_statements_not_their_comments_or_spacing() -> None:
    commented = (
        "-- the input\nCREATE TABLE t (x INT);\n\n/* only big ones */\nINSERT INTO t\n"
        "  SELECT x FROM s WHERE x > ${threshold};"
    )
    assert digest(commented) == digest(QUERY)
    assert digest(QUERY.replace("x > ", "x >= ")) != digest(QUERY)
    settings = load_settings()
    versions = {job.plan_version(settings) for job in PIPELINE_JOBS}
    assert len(versions) == len(PIPELINE_JOBS)  # each job's own statements


def test_the_version_follows_the_settings_the_statements_use_not_where_the_servers_are() -> None:
    settings = load_settings()
    version = CTA_SERVICE_HEALTH.plan_version(settings)
    moved = settings.with_overrides(
        kafka_bootstrap_servers="broker.example:9093", schema_registry_endpoint="http://registry.example:8081"
    )
    assert moved.bootstrap_servers != settings.bootstrap_servers  # the overrides took
    assert CTA_SERVICE_HEALTH.plan_version(moved) == version
    assert CTA_SERVICE_HEALTH.plan_version(settings.with_overrides(service_tick_s=5.0)) != version  # the slide
    assert TURNSTILE_SUMMARY.plan_version(settings.with_overrides(service_tick_s=5.0)) == (
        TURNSTILE_SUMMARY.plan_version(settings)  # a setting the job does not use
    )
    assert set(UNVERSIONED_SQL) == {job.name for job in PIPELINE_JOBS}


def test_a_job_depends_on_the_shared_definitions_it_names_and_on_their_templates_only() -> None:
    job = ["INSERT INTO counts SELECT COUNT(*) FROM s"]
    assert used_definitions(TABLES, job) == TABLES[:2]
    assert used_definitions(TABLES, ["INSERT INTO other_counts SELECT DECODE_IT(x) FROM s"]) == [TABLES[0], *TABLES[2:]]
    # A table added for another job, or another job's table changed: this job's version stays.
    added = [*TABLES, "CREATE TABLE IF NOT EXISTS new_one (x INT) LIKE template_sink"]
    changed = [*TABLES[:2], TABLES[2].replace("'o'", "'p'"), TABLES[3]]
    version = statements_digest([*used_definitions(TABLES, job), *job])
    assert statements_digest([*used_definitions(added, job), *job]) == version
    assert statements_digest([*used_definitions(changed, job), *job]) == version
    # Its own table or the template it copies changed: a new version.
    for edited in (TABLES[1].replace("'c'", "'d'"), TABLES[0].replace("kafka", "upsert-kafka")):
        tables = [edited if t.split("(")[0] == edited.split("(")[0] else t for t in TABLES]
        assert statements_digest([*used_definitions(tables, job), *job]) != version


def checkpoint(folder: Path, job_id: str, number: int, age_s: float = 0.0) -> Path:
    """A completed checkpoint as Flink leaves it: ``<dir>/<job id>/chk-N/_metadata``."""
    metadata = folder / job_id / f"chk-{number}" / "_metadata"
    metadata.parent.mkdir(parents=True)
    metadata.write_bytes(b"state")
    when = metadata.stat().st_mtime - age_s
    os.utime(metadata, (when, when))
    return metadata.parent


def test_a_job_resumes_only_from_a_checkpoint_of_its_sql_as_it_is_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_settings(tmp_path)
    # Its SQL changed since the last release that checkpointed without versions.
    monkeypatch.setitem(UNVERSIONED_SQL, CTA_SERVICE_HEALTH.name, "0123456789ab")
    current = job_checkpoints_dir(settings, CTA_SERVICE_HEALTH)
    assert current is not None and current.name == f"v-{CTA_SERVICE_HEALTH.plan_version(settings)}"
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


def test_a_checkpoint_from_before_versions_is_restored_while_the_jobs_sql_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_settings(tmp_path)
    monkeypatch.setitem(UNVERSIONED_SQL, TURNSTILE_SUMMARY.name, sql_version(TURNSTILE_SUMMARY))
    current = job_checkpoints_dir(settings, TURNSTILE_SUMMARY)
    assert current is not None
    unversioned = checkpoint(current.parent, "a1", 7, age_s=300)
    assert latest_checkpoint(settings, TURNSTILE_SUMMARY) == unversioned
    assert outgrown_checkpoint(settings, TURNSTILE_SUMMARY) is None
    newest = checkpoint(current, "b2", 1)  # its runs since then checkpoint under the version
    assert latest_checkpoint(settings, TURNSTILE_SUMMARY) == newest
    assert outgrown_checkpoint(settings, TURNSTILE_SUMMARY) == unversioned  # no longer its to restore

    # A setting the job uses changed: a new version, which starts over; never a rewind to the old state.
    changed = settings.with_overrides(topic_turnstiles="org.chicago.cta.turnstiles.v2")
    assert job_checkpoints_dir(changed, TURNSTILE_SUMMARY) != current
    assert latest_checkpoint(changed, TURNSTILE_SUMMARY) is None
    assert outgrown_checkpoint(changed, TURNSTILE_SUMMARY) == newest


UNCHANGED_SINCE_UNVERSIONED = ("turnstile-summary", "cta-run-times", "london-barriers", "london-crowding")
"""The jobs whose SQL this release did not change: their checkpoints from before versions restore."""


def test_the_jobs_unchanged_since_the_release_without_versions_still_match_it() -> None:
    # Guards the digest (splitting, used definitions, spacing): a change to it would silently start
    # every one of these jobs over. A job whose SQL changes on purpose leaves this list.
    matching = [job.name for job in PIPELINE_JOBS if sql_version(job) == UNVERSIONED_SQL[job.name]]
    assert matching == list(UNCHANGED_SINCE_UNVERSIONED)


@pytest.mark.parametrize("job", PIPELINE_JOBS, ids=lambda job: job.name)
def test_each_job_file_submits_exactly_one_job(job: SqlJob) -> None:
    """What the gateway gets: one INSERT or one whole statement set (a CASE's END once cut a set short)."""
    statements = split_statements(sql_text(job.file))
    submitting = [s for s in statements if s.upper().startswith(("INSERT", "EXECUTE"))]
    assert len(submitting) == 1
    if submitting[0].upper().startswith("EXECUTE STATEMENT SET"):
        assert submitting[0].endswith("END") and submitting[0].count("INSERT INTO") >= 2


def test_a_fresh_start_after_an_sql_change_says_so() -> None:
    fresh = Submission("p.cta-service-health", "j1", submitted=True, outgrown=Path("/state/chk-7"))
    assert fresh.describe() == (
        "p.cta-service-health submitted (job j1), from the start (its SQL or settings changed since its last "
        "checkpoint)"
    )
    resumed = Submission("p.cta-service-health", "j2", submitted=True, restored_from=Path("/state/chk-9"))
    assert resumed.describe() == "p.cta-service-health submitted (job j2), from checkpoint /state/chk-9"


def test_a_statement_set_is_one_statement_whatever_case_expressions_it_holds() -> None:
    script = (
        "CREATE VIEW v AS SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END AS positive FROM s;\n"
        "EXECUTE STATEMENT SET\nBEGIN\n"
        "  INSERT INTO a SELECT CASE WHEN x IS NULL THEN NULL ELSE x END FROM v;\n"
        "  INSERT INTO b SELECT x FROM v;\n"
        "END;\n"
    )
    view, statement_set = split_statements(script)
    assert view.endswith("FROM s")
    assert statement_set.startswith("EXECUTE STATEMENT SET") and statement_set.endswith("END")
    assert "INSERT INTO b" in statement_set
