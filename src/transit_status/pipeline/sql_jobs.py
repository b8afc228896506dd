"""The pipeline's Flink SQL jobs: submitted through the SQL Gateway's REST API, once, resumed after a restart.

Each job is a ``.sql`` file in ``transit_status/sql/`` that runs after ``tables.sql`` (the shared
tables and functions). ``${name}`` placeholders are filled from the settings (:func:`sql_variables`).

Submitting is idempotent: a job whose name (``pipeline.name``) is running, or on its way to running,
on the cluster (JobManager REST ``/jobs/overview``) is left alone, and a file lock per job in the state
directory keeps two submitters of one job from racing. A job that is not running is submitted with
``execution.state-recovery.path`` set to its newest retained checkpoint (each job checkpoints into a
folder of its own), so after a crash of the whole of Flink it resumes from its last consistent state:
source offsets and counts together, neither from scratch nor from the latest offsets.

A checkpoint restores only into the statements that wrote it: Flink maps state to operators by the
plan, and a changed query (a new release) may not fit. So each job checkpoints under a version of its
statements and the settings they use (:func:`plan_version`), and a job whose SQL changed starts without
the old state, reading its inputs from the earliest retained offsets (said in the log; the old
checkpoints are kept). A checkpoint from before versions is restored, on the first run with versions,
while the job's SQL is unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import re
import string
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from transit_status.config import Settings
from transit_status.networks import Network, load_network_from
from transit_status.networks.london import NETWORK_NAME as LONDON_NETWORK
from transit_status.platform.errors import PlatformError
from transit_status.platform.services import flink

log = logging.getLogger(__name__)

TABLES_FILE = "tables.sql"
# States in which a job is (or soon will be) running: submitting it again would count twice.
ACTIVE_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING"})
RESULT_POLL_S = 0.2
SUBMIT_TIMEOUT_S = 300.0


class SqlError(PlatformError):
    """The gateway refused a statement (the message is Flink's, shortened)."""


@dataclass(frozen=True)
class SqlJob:
    """A continuous query and the file that defines it; its name on the cluster is ``job_name``."""

    name: str
    file: str

    def job_name(self, settings: Settings) -> str:
        # Prefixed, so two stacks (or tests with private topics) on one cluster never take each other's job.
        return f"{settings.sql_job_prefix}.{self.name}"

    def plan_version(self, settings: Settings) -> str:
        return plan_version(self, settings)


# The pipelines' jobs, by network: each is one file in sql/.
TURNSTILE_SUMMARY = SqlJob("turnstile-summary", "turnstile_summary.sql")
# London: the enriched station_entries/station_exits, live counts and windows, in one job.
LONDON_BARRIERS = SqlJob("london-barriers", "london_barriers.sql")
# Chicago: the typical run time between consecutive stations, learned from the arrivals (predictions).
CTA_RUN_TIMES = SqlJob("cta-run-times", "cta_run_times.sql")
# Chicago's headways, dwells and service alerts over the arrivals (docs/ARCHITECTURE.md, "Service health").
CTA_SERVICE_HEALTH = SqlJob("cta-service-health", "cta_service_health.sql")
CTA_JOBS: tuple[SqlJob, ...] = (TURNSTILE_SUMMARY, CTA_RUN_TIMES, CTA_SERVICE_HEALTH)
# London's crowding alerts over its own 15-minute windows, against the typical day (its service health).
LONDON_CROWDING = SqlJob("london-crowding", "london_crowding.sql")
LONDON_JOBS: tuple[SqlJob, ...] = (LONDON_BARRIERS, LONDON_CROWDING)
PIPELINE_JOBS = CTA_JOBS + LONDON_JOBS


def flink_source_group(settings: Settings, job: SqlJob) -> str:
    """The consumer group a job's Kafka source commits offsets as at each checkpoint. Only for watching
    its lag (pipeline/work.py): the job itself resumes from the offsets in its checkpoint."""
    return job.job_name(settings)


def sql_text(file: str) -> str:
    return resources.files("transit_status").joinpath("sql", file).read_text()


@functools.cache
def job_statements(file: str) -> tuple[str, ...]:
    """The statements job ``file`` runs, as written: the definitions of ``tables.sql`` it uses (a table
    added there for another job is no change of this one), then its own."""
    own = split_statements(sql_text(file))
    return (*used_definitions(split_statements(sql_text(TABLES_FILE)), own), *own)


CONNECTION_VARIABLES = frozenset({"bootstrap_servers", "kafka_security", "schema_registry_url"})
"""Placeholders that say where the job's servers are, not what it computes."""


def plan_version(job: SqlJob, settings: Settings) -> str:
    """The version of what ``job`` computes: its statements and the settings they use (its topics, a
    window's slide), not where its servers are. Its checkpoints restore only into the same version."""
    statements = job_statements(job.file)
    placeholders = set(string.Template("\n".join(statements)).get_identifiers())  # ${name} and $name
    used = [
        f"${{{name}}} = {value}"
        for name, value in sorted(sql_variables(settings).items())
        if name not in CONNECTION_VARIABLES and name in placeholders
    ]
    return statements_digest([*statements, *used])


def sql_version(job: SqlJob) -> str:
    """The version of ``job``'s statements alone, as written (what :data:`UNVERSIONED_SQL` records)."""
    return statements_digest(list(job_statements(job.file)))


UNVERSIONED_SQL = {
    "turnstile-summary": "3895b3748cf9",
    "cta-run-times": "662008f695f6",
    "cta-service-health": "326d5765856e",
    "london-barriers": "51b4290858e6",
    "london-crowding": "0d7d3659b30a",
}
"""Each job's :func:`sql_version` in the last release that checkpointed without versions (into
``<job>/<job id>/``, up to 7 Dec 2026): such a checkpoint is restored while the job's SQL is still that."""


DEFINED_NAME = re.compile(
    r"\s*CREATE\s+(?:TEMPORARY\s+)?(?:SYSTEM\s+)?(?:TABLE|FUNCTION|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I
)


def used_definitions(definitions: list[str], statements: list[str]) -> list[str]:
    """Those of ``definitions`` (CREATE statements) whose object ``statements`` name, and those that
    these name in turn (a table's ``LIKE`` template), in their order; statements that define no name are kept."""
    names = {statement: match.group(1) for statement in definitions if (match := DEFINED_NAME.match(statement))}
    used: set[str] = set()
    pending = list(statements)
    while pending:
        text = pending.pop()
        for statement, name in names.items():
            if statement not in used and re.search(rf"\b{re.escape(name)}\b", text, re.I):
                used.add(statement)
                pending.append(statement)
    return [statement for statement in definitions if statement in used or statement not in names]


def statements_digest(statements: list[str]) -> str:
    """A digest of statements without comments (``split_statements`` drops them) or spacing: it changes
    when a query does, not with a comment."""
    canonical = "\n".join(" ".join(statement.split()) for statement in statements)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def sql_variables(settings: Settings) -> dict[str, str]:
    """What the ``${...}`` placeholders of the SQL files stand for."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "kafka_security": "\n  ".join(
            f"'properties.{name}' = {sql_string(value)}," for name, value in settings.kafka_java_security().items()
        ),
        "schema_registry_url": settings.schema_registry_url,
        "topic_turnstiles": settings.topic_turnstiles,
        "topic_turnstile_summary": settings.topic_turnstile_summary,
        "topic_dead_letters": settings.topic_dead_letters,
        # Distinct per summary topic: two stacks (or tests) on one broker never fence each other's producers.
        "transactional_id_prefix": f"transit-status-{settings.topic_turnstile_summary}",
        "topic_london_entries": settings.topic_london_entries,
        "topic_london_exits": settings.topic_london_exits,
        "topic_london_stations": settings.topic_london_stations,
        "topic_london_station_rows": settings.topic_london_station_rows,
        "topic_london_station_entries": settings.topic_london_station_entries,
        "topic_london_station_exits": settings.topic_london_station_exits,
        "topic_london_station_activity": settings.topic_london_station_activity,
        "topic_london_line_activity": settings.topic_london_line_activity,
        "topic_london_station_windows": settings.topic_london_station_windows,
        "london_transactional_id_prefix": f"transit-status-{settings.topic_london_station_activity}",
        "topic_arrivals": settings.topic_arrivals,
        "topic_cta_schedule": settings.topic_cta_schedule,
        "topic_cta_headways": settings.topic_cta_headways,
        "topic_cta_dwells": settings.topic_cta_dwells,
        "topic_cta_service_alerts": settings.topic_cta_service_alerts,
        "cta_health_transactional_id_prefix": f"transit-status-{settings.topic_cta_service_alerts}",
        "service_tick_s": str(settings.service_tick_s),
        "service_held_margin_s": str(settings.service_held_margin_s),
        "cta_service_health_group": flink_source_group(settings, CTA_SERVICE_HEALTH),
        "turnstile_summary_group": flink_source_group(settings, TURNSTILE_SUMMARY),
        "topic_london_typical_entries": settings.topic_london_typical_entries,
        "topic_london_calendar": settings.topic_london_calendar,
        "topic_london_crowding_alerts": settings.topic_london_crowding_alerts,
        "london_crowding_transactional_id_prefix": f"transit-status-{settings.topic_london_crowding_alerts}",
        "london_crowding_group": flink_source_group(settings, LONDON_CROWDING),
        "london_crowding_ratio": repr(float(settings.london_crowding_ratio)),
        "london_crowding_min_entries": str(settings.london_crowding_min_entries),
        # The zone London's local hours are in: the network's (data/tfl), never written here twice.
        "london_timezone": london_timezone(settings),
        "london_barriers_group": flink_source_group(settings, LONDON_BARRIERS),
        "topic_run_times": settings.topic_run_times,
        "run_times_group": flink_source_group(settings, CTA_RUN_TIMES),
        "run_times_transactional_id_prefix": f"transit-status-{settings.topic_run_times}",
    }


def london_timezone(settings: Settings) -> str:
    return london_network(settings).timezone


@functools.cache
def _london_network(data_dir: Path) -> Network:
    return load_network_from(LONDON_NETWORK, data_dir / LONDON_NETWORK)


def london_network(settings: Settings) -> Network:
    """London's network (loaded once per data folder): its zone and typical day feed the crowding job."""
    return _london_network(settings.data_dir)


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def render(text: str, settings: Settings, source: str = "SQL") -> str:
    """``text`` with its ``${...}`` placeholders filled in; ``source`` names it in errors (e.g. the file)."""
    template = string.Template(text)
    try:
        return template.substitute(sql_variables(settings))
    except KeyError as missing:
        raise SqlError(f"unknown placeholder ${{{missing.args[0]}}} in {source}") from None
    except ValueError:
        # A `$` that starts no placeholder: Template says only "Invalid placeholder"; say where.
        invalid = next(match for match in template.pattern.finditer(text) if match.group("invalid") is not None)
        line = text.count("\n", 0, invalid.start("invalid")) + 1
        raise SqlError(
            f"{source}, line {line}: a `$` that starts no placeholder; write `$$` for a literal `$`, "
            "or `${name}` for a placeholder"
        ) from None


def split_statements(text: str) -> list[str]:
    """Statements of a SQL script, split at ``;`` outside quotes, comments and ``BEGIN ... END`` blocks."""
    statements: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        if char in "'`\"":
            end = i + 1
            while end < len(text):
                if text[end] == char:
                    if text.startswith(char * 2, end):  # an escaped quote: '' inside '...'
                        end += 2
                        continue
                    break
                end += 1
            current.append(text[i : end + 1])
            i = end + 1
            continue
        if char.isalpha():
            word = re.match(r"\w+", text[i:])
            assert word is not None
            upper = word.group().upper()
            depth += upper in ("BEGIN", "CASE")  # a CASE inside a statement set ends with END too
            depth -= upper == "END" and depth > 0
            current.append(word.group())
            i += len(word.group())
            continue
        if char == ";" and depth == 0:
            if statement := "".join(current).strip():
                statements.append(statement)
            current = []
        else:
            current.append(char)
        i += 1
    if statement := "".join(current).strip():
        statements.append(statement)
    return statements


# ---- SQL Gateway REST client ---------------------------------------------------------------------


class GatewaySession:
    """One SQL Gateway session (REST API v1): statements run in it one after another."""

    def __init__(self, settings: Settings, properties: dict[str, str] | None = None, timeout_s: float = 120.0) -> None:
        self.http = httpx.Client(base_url=f"{settings.sql_gateway_url}/v1", timeout=30.0)
        self.timeout_s = timeout_s
        self.handle = self._open(properties or {})

    @retry(
        retry=retry_if_exception_type(httpx.TransportError), stop=stop_after_delay(30), wait=wait_fixed(1), reraise=True
    )
    def _open(self, properties: dict[str, str]) -> str:
        response = self.http.post("/sessions", json={"properties": properties})
        _raise_for_gateway(response, "opening a session")
        return str(response.json()["sessionHandle"])

    def execute(self, statement: str) -> list[list[Any]]:
        """Run one statement; return its result rows (for an INSERT: the job id)."""
        response = self.http.post(f"/sessions/{self.handle}/statements", json={"statement": statement})
        _raise_for_gateway(response, statement)
        operation = response.json()["operationHandle"]
        rows: list[list[Any]] = []
        token: int | None = 0
        deadline = time.monotonic() + self.timeout_s
        while token is not None:
            fetched = self.http.get(f"/sessions/{self.handle}/operations/{operation}/result/{token}")
            _raise_for_gateway(fetched, statement)
            body = fetched.json()
            rows.extend(row["fields"] for row in body.get("results", {}).get("data", []))
            if body.get("resultType") == "NOT_READY":
                if time.monotonic() > deadline:
                    raise SqlError(f"no result within {self.timeout_s:.0f} s for: {_first_line(statement)}")
                time.sleep(RESULT_POLL_S)
                continue
            next_uri = body.get("nextResultUri")
            token = int(next_uri.rsplit("/", 1)[-1].split("?")[0]) if next_uri else None
        return rows

    def close(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the gateway closes idle sessions itself
            self.http.delete(f"/sessions/{self.handle}")
        self.http.close()

    def __enter__(self) -> GatewaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(statement: str) -> str:
    return statement.strip().splitlines()[0][:120]


def _raise_for_gateway(response: httpx.Response, what: str) -> None:
    if response.status_code == 200:
        return
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        errors = [response.text]
    # The gateway sends Java stack traces; the useful line is the deepest "Caused by" or the first one.
    text = "\n".join(str(error) for error in errors)
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    reason = causes[-1] if causes else (text.strip().splitlines() or ["(no detail)"])[0]
    raise SqlError(f"{_first_line(what)}: {reason[:1000]}")


# ---- jobs on the cluster ---------------------------------------------------------------------------


def cluster_jobs(settings: Settings) -> list[dict[str, Any]]:
    response = httpx.get(f"{settings.flink_rest_url}/jobs/overview", timeout=10.0)
    response.raise_for_status()
    return list(response.json()["jobs"])


def active_job_id(settings: Settings, name: str) -> str | None:
    for job in cluster_jobs(settings):
        if job["name"] == name and job["state"] in ACTIVE_STATES:
            return str(job["jid"])
    return None


def job_checkpoints_uri(settings: Settings, job: SqlJob) -> str:
    """Where ``job`` checkpoints, as the Flink cluster sees it: a folder per job and version of its SQL."""
    where = f"{job.job_name(settings)}/v-{job.plan_version(settings)}"
    if settings.flink_checkpoints_endpoint:
        return f"{settings.flink_checkpoints_endpoint.rstrip('/')}/{where}"
    return (flink.checkpoints_dir(settings) / where).as_uri()


def job_checkpoints_dir(settings: Settings, job: SqlJob) -> Path | None:
    """The same place as a local folder, when it is one (only there can we look for the newest checkpoint)."""
    uri = urlsplit(job_checkpoints_uri(settings, job))
    return Path(unquote(uri.path)) if uri.scheme == "file" else None


def latest_checkpoint(settings: Settings, job: SqlJob) -> Path | None:
    """The newest complete checkpoint (``chk-N`` with ``_metadata``) that ``job`` as it is now restores:
    of an earlier run of this version, else, on the first run with versions, one from before versions
    if its SQL is unchanged since."""
    folder = job_checkpoints_dir(settings, job)
    if folder is None:
        log.warning(
            "%s checkpoints to %s: not searched, the job starts without its last state",
            job.job_name(settings),
            job_checkpoints_uri(settings, job),
        )
        return None
    newest = _newest(folder.glob("*/chk-*/_metadata"))
    if newest is None and _restores_unversioned(folder.parent, job):
        newest = _newest(folder.parent.glob("*/chk-*/_metadata"))  # <job>/<job id>/chk-N
    return newest


def outgrown_checkpoint(settings: Settings, job: SqlJob) -> Path | None:
    """The newest checkpoint that ``job`` as it is now does not restore: of another version of its SQL or
    settings, or from before versions (``<job>/<job id>/``) unless it restores that."""
    current = job_checkpoints_dir(settings, job)
    if current is None:
        return None
    runs = current.parent
    found = [m for m in runs.glob("v-*/*/chk-*/_metadata") if m.parents[2] != current]
    if not _restores_unversioned(runs, job):
        found += runs.glob("*/chk-*/_metadata")
    return _newest(found)


def _restores_unversioned(runs: Path, job: SqlJob) -> bool:
    """Whether a checkpoint from before versions in ``runs`` (the job's folder) is ``job``'s to restore:
    only while no run has checkpointed under a version yet (later, it would be a rewind to that old
    state), and only if the job's SQL is what the last release without versions ran."""
    versioned = next(runs.glob("v-*/*/chk-*/_metadata"), None)
    return versioned is None and UNVERSIONED_SQL.get(job.name) == sql_version(job)


def _newest(metadata: Iterable[Path]) -> Path | None:
    """The newest complete checkpoint (``chk-N`` with its ``_metadata``) of those given."""
    newest = max(metadata, key=lambda found: found.stat().st_mtime, default=None)
    return newest.parent if newest else None


@contextmanager
def submission_lock(settings: Settings, name: str) -> Iterator[None]:
    """One submitter per job at a time; different jobs are submitted side by side (after a JobManager
    restart the watchdog resubmits them all at once)."""
    path = flink.flink_state_dir(settings) / f"submit-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Submission:
    name: str
    job_id: str
    submitted: bool
    restored_from: Path | None = None
    outgrown: Path | None = None
    """A checkpoint of the job's earlier SQL, not restored."""

    def describe(self) -> str:
        if not self.submitted:
            return f"{self.name} already running (job {self.job_id})"
        origin = f"from checkpoint {self.restored_from}" if self.restored_from else "from the start"
        if self.outgrown is not None:
            origin += " (its SQL or settings changed since its last checkpoint)"
        return f"{self.name} submitted (job {self.job_id}), {origin}"


def job_properties(settings: Settings, job: SqlJob, checkpoint: Path | None) -> dict[str, str]:
    """The gateway session's configuration for submitting ``job`` (resumed from ``checkpoint``)."""
    properties = {
        "pipeline.name": job.job_name(settings),
        # The job's own, whatever the cluster's default: one instance per TaskManager unless set.
        "parallelism.default": str(settings.flink_job_parallelism),
        "execution.checkpointing.dir": job_checkpoints_uri(settings, job),
    }
    if checkpoint is not None:
        properties["execution.state-recovery.path"] = checkpoint.as_uri()
    return properties


def ensure_job(settings: Settings, job: SqlJob) -> Submission:
    """Make sure ``job`` runs: leave a running one alone, else submit it from its newest checkpoint."""
    name = job.job_name(settings)
    with submission_lock(settings, name):
        if running := active_job_id(settings, name):
            return Submission(name, running, submitted=False)
        checkpoint = latest_checkpoint(settings, job)
        outgrown = outgrown_checkpoint(settings, job) if checkpoint is None else None
        if outgrown is not None:
            log.warning(
                "%s: its SQL or settings changed since its last checkpoint (%s), which it cannot restore: it "
                "starts without that state, from the earliest retained records of its inputs",
                name,
                outgrown,
            )
        properties = job_properties(settings, job, checkpoint)
        statements = split_statements(render(sql_text(TABLES_FILE), settings, source=TABLES_FILE))
        statements += split_statements(render(sql_text(job.file), settings, source=job.file))
        job_id = None
        # Planning London's statement set takes a minute on a busy 2-core machine: wait longer than for DDL.
        with GatewaySession(settings, properties, timeout_s=SUBMIT_TIMEOUT_S) as session:
            for statement in statements:
                rows = session.execute(statement)
                if _submits_a_job(statement) and rows:
                    job_id = str(rows[0][0])
        if job_id is None:
            raise SqlError(f"{job.file} submitted no job (it needs an INSERT or EXECUTE STATEMENT SET)")
        submission = Submission(name, job_id, submitted=True, restored_from=checkpoint, outgrown=outgrown)
        log.info("%s", submission.describe())
        return submission


def _submits_a_job(statement: str) -> bool:
    return re.match(r"\s*(INSERT|EXECUTE\s+STATEMENT\s+SET|EXECUTE\s+INSERT)\b", statement, re.IGNORECASE) is not None


def ensure_jobs(settings: Settings, jobs: tuple[SqlJob, ...] = PIPELINE_JOBS) -> list[Submission]:
    """Each of ``jobs`` running (the topics must exist: ``ensure_topics`` first)."""
    return [ensure_job(settings, job) for job in jobs]


def wait_until_running(settings: Settings, name: str, timeout_s: float = 60.0) -> str:
    """The job id once every task of job ``name`` runs (sources reading)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for job in cluster_jobs(settings):
            if job["name"] == name and job["state"] == "RUNNING" and _all_tasks_running(job):
                return str(job["jid"])
        time.sleep(0.5)
    raise PlatformError(f"Flink job {name} not running after {timeout_s:.0f} s; see the flink-* logs")


def cancel_job(settings: Settings, job_id: str) -> None:
    """Cancel a job (its checkpoints are retained: a later submission resumes from them)."""
    httpx.patch(f"{settings.flink_rest_url}/jobs/{job_id}", params={"mode": "cancel"}, timeout=10.0).raise_for_status()


def _all_tasks_running(job: dict[str, Any]) -> bool:
    tasks = job.get("tasks", {})
    return tasks.get("total", 0) > 0 and tasks.get("running", 0) == tasks.get("total", 0)


# ---- the SQL shell ---------------------------------------------------------------------------------


def sql_client_launch(settings: Settings, file: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """Command and environment of Flink's SQL client on our gateway, with the pipeline's tables defined.

    The SQL files are rendered (placeholders filled in) into the state directory first, since the
    client reads files, not text.
    """
    # The file first: a mistake in it is reported whether or not the gateway runs.
    script_text = render(file.read_text(), settings, source=str(file)) if file is not None else None
    if not flink.gateway_answers(settings):
        raise SqlError(
            f"the SQL Gateway does not answer at {settings.sql_gateway_url}; start it with `transit-status platform up`"
        )
    rendered = flink.flink_state_dir(settings) / "sql"
    rendered.mkdir(parents=True, exist_ok=True)
    init = rendered / TABLES_FILE
    # It may hold the Kafka credentials (the tables' 'properties.sasl.jaas.config'): for our eyes only.
    init.touch(mode=0o600)
    init.chmod(0o600)
    init.write_text(render(sql_text(TABLES_FILE), settings, source=TABLES_FILE))
    arguments = ["--init", str(init)]
    if file is not None and script_text is not None:
        script = rendered / f"script-{file.name}"
        script.write_text(script_text)
        arguments += ["--file", str(script)]
    return flink.sql_client_command(settings, *arguments), flink.environment(settings)
