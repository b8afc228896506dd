"""The watchdog: keeps the pipeline's work running, where the supervisor keeps its processes running.

Every few seconds it looks at the work (:func:`~transit_status.pipeline.work.inspect_work`) and
restores what it can, with a backoff per item:

* a SQL job that is not on the cluster, or whose last run ended (a JobManager restarted without HA
  forgets every job), is submitted again from its newest retained checkpoint (``ensure_job``:
  idempotent, so racing a pipeline process that submits it too is harmless);
* a connector that is not registered is registered again; a FAILED connector or task (e.g. the JDBC
  sink after a PostgreSQL restart) is restarted through Connect's REST API;
* a sink connector whose consumer group stands still while its input grows has its tasks restarted;
  any other stalled group is reported (its process is the supervisor's to restart).

Each change of state and each action is logged, and the latest view is written to
``<state dir>/watchdog/<job prefix>.json`` for ``platform status``, with a heartbeat that goes on
while a restoration takes long (a job submission can take a minute).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.pipeline.connectors import ensure_connector
from transit_status.pipeline.sql_jobs import cancel_job, ensure_job
from transit_status.pipeline.work import (
    ExpectedWork,
    GroupReader,
    ProgressTracker,
    WorkItem,
    expected_work,
    inspect_work,
)

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0


def status_path(settings: Settings) -> Path:
    # One file per stack (its jobs' prefix): two stacks on one state directory never show each other's work.
    return settings.state_dir / "watchdog" / f"{settings.sql_job_prefix}.json"


def read_status(settings: Settings, max_age_s: float) -> dict[str, Any] | None:
    """The watchdog's last written view, if its heartbeat is younger than ``max_age_s`` (else it is not
    running). The heartbeat goes on while a check or a restoration takes long; ``busy`` says with what."""
    try:
        status = json.loads(status_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return status if time.time() - status.get("alive_at", 0) <= max_age_s else None


@dataclass
class Backoff:
    """When an item may next be acted on: 2 s doubling to a minute, reset once it runs again."""

    attempts: int = 0
    next_at: float = 0.0

    FIRST_S: ClassVar[float] = 2.0
    MAX_S: ClassVar[float] = 60.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def note_attempt(self, now: float) -> None:
        self.attempts += 1
        self.next_at = now + min(self.MAX_S, self.FIRST_S * 2 ** (self.attempts - 1))


class Watchdog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.expected: ExpectedWork = expected_work(settings)
        self.tracker = ProgressTracker(settings.watchdog_stall_after_s)
        self.reader = GroupReader(settings)
        self._backoff: dict[tuple[str, str], Backoff] = {}
        self._states: dict[tuple[str, str], str] = {}
        self._actions: list[dict[str, Any]] = []
        self._status_lock = threading.Lock()
        self._items: list[WorkItem] = []
        self._checked_at: float | None = None
        self._busy: str | None = None

    def check(self) -> list[WorkItem]:
        """Look at every piece of work once and act on what is due."""
        self._set_busy("inspecting the work")
        items = inspect_work(self.settings, self.tracker, self.reader)
        with self._status_lock:
            self._items, self._checked_at = items, time.time()
        now = time.monotonic()
        due: list[tuple[WorkItem, int]] = []
        for item in items:
            key = (item.kind, item.name)
            self._note_state(key, item)
            if item.ok:
                self._backoff.pop(key, None)
                continue
            backoff = self._backoff.setdefault(key, Backoff())
            if backoff.due(now) and self._needs_action(item):
                backoff.note_attempt(now)
                due.append((item, backoff.attempts))
        # Jobs side by side: after a JobManager restart every job is missing, and each submission
        # spends most of its time waiting on the gateway and the JobManager.
        jobs = [(item, attempt) for item, attempt in due if item.kind == "job"]
        if jobs:
            self._set_busy("restoring " + ", ".join(f"job {item.name} ({item.state})" for item, _ in jobs))
            with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="watchdog-job") as pool:
                list(pool.map(lambda job: self._act(*job), jobs))
        for item, attempt in due:
            if item.kind == "job":
                continue
            self._set_busy(f"restoring {item.kind} {item.name} ({item.state})")
            self._act(item, attempt)
            if item.state == "stalled":
                self.tracker.give_time(item.name, time.monotonic())
        self._set_busy(None)
        return items

    def _set_busy(self, what: str | None) -> None:
        with self._status_lock:
            self._busy = f"{what} since {time.strftime('%H:%M:%S')}" if what else None
        self.write_status()

    def _note_state(self, key: tuple[str, str], item: WorkItem) -> None:
        previous = self._states.get(key)
        self._states[key] = item.state
        if previous == item.state:
            return
        if item.ok:
            log.info("%s %s is running%s", item.kind, item.name, f" again (was {previous})" if previous else "")
        elif item.state in ("failed", "missing", "stalled"):
            log.warning("%s", item.describe())
        else:
            log.info("%s", item.describe())

    @staticmethod
    def _needs_action(item: WorkItem) -> bool:
        # 'starting' is on its way and 'unknown' means a service is down: the supervisor restarts it.
        return item.state in ("missing", "failed", "duplicate") or (item.state == "stalled" and item.kind == "group")

    def _act(self, item: WorkItem, attempt: int) -> None:
        try:
            done = self._restore(item)
        except (TransitError, httpx.HTTPError) as problem:
            log.warning("could not restore %s %s (attempt %d): %s", item.kind, item.name, attempt, problem)
            done = f"failed: {problem}"[:300]
        except Exception as problem:  # a bug or an odd answer: the other items still get their turn
            log.exception("could not restore %s %s (attempt %d)", item.kind, item.name, attempt)
            done = f"failed: {type(problem).__name__}: {problem}"[:300]
        else:
            log.warning("%s %s was %s: %s (attempt %d)", item.kind, item.name, item.state, done, attempt)
        with self._status_lock:
            self._actions = [*self._actions[-19:], {"at": time.time(), "item": item.name, "action": done}]

    def _restore(self, item: WorkItem) -> str:
        if item.kind == "job" and item.state == "duplicate":
            for job_id in item.surplus:
                cancel_job(self.settings, job_id)
            return f"cancelled the surplus run(s) {', '.join(item.surplus)}"
        if item.kind == "job":
            job = next(job for job in self.expected.jobs if job.job_name(self.settings) == item.name)
            return ensure_job(self.settings, job).describe()
        if item.kind == "connector":
            connector = next(c for c in self.expected.connectors if c.name == item.name)
            if item.state == "missing":
                ensure_connector(self.settings, connector.name, connector.config())
                return "registered again"
            return self._restart_connector(connector.name, only_failed=True)
        sink = next((c for c in self.expected.connectors if c.consumer_group == item.name), None)
        if sink is not None:
            return self._restart_connector(sink.name, only_failed=False)
        return "reported (its process is restarted by the supervisor if it dies)"

    def _restart_connector(self, name: str, only_failed: bool) -> str:
        response = httpx.post(
            f"{self.settings.connect_url}/connectors/{name}/restart",
            params={"includeTasks": "true", "onlyFailed": str(only_failed).lower()},
            timeout=10.0,
        )
        if response.status_code >= 300:
            raise TransitError(f"Connect refused the restart: {response.status_code} {response.text[:200]}")
        return "restarted " + ("its failed tasks" if only_failed else "its tasks")

    def write_status(self) -> None:
        """The latest view for ``platform status``, stamped with this moment as the heartbeat."""
        path = status_path(self.settings)
        with self._status_lock:
            body = {
                "alive_at": time.time(),
                "checked_at": self._checked_at,
                "busy": self._busy,
                "items": [item.as_dict() for item in self._items],
                "actions": self._actions,
            }
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".tmp")
                partial.write_text(json.dumps(body))
                os.replace(partial, path)  # readers never see half a file
            except OSError as problem:
                log.warning("cannot write %s: %s", path, problem)


def run_watchdog(settings: Settings, stop: threading.Event) -> None:
    """Check the work every ``watchdog_interval_s`` until ``stop`` is set.

    The checks run in a daemon thread, so a stop is prompt even in the middle of a job submission
    (which can take a minute on a busy machine): an interrupted submission is harmless, because the
    next one finds the job on the cluster or submits it again, and the file lock dies with the process.
    """
    watchdog = Watchdog(settings)
    expected = watchdog.expected
    log.info(
        "watching %d SQL job(s), %d connector(s) and %d consumer group(s) every %.0f s",
        len(expected.jobs),
        len(expected.connectors),
        len(expected.groups),
        settings.watchdog_interval_s,
    )

    def watch() -> None:
        while not stop.is_set():
            try:
                watchdog.check()
            except Exception:  # one bad round (e.g. an answer of an unexpected shape) must not end the watch
                log.exception("the watchdog's check failed; trying again")
            stop.wait(settings.watchdog_interval_s)

    checker = threading.Thread(target=watch, name="watchdog-checks", daemon=True)
    checker.start()
    while not stop.wait(HEARTBEAT_S):
        watchdog.write_status()
    checker.join(timeout=2.0)
    if not checker.is_alive():
        watchdog.reader.close()  # only when no check is using its consumers any more
