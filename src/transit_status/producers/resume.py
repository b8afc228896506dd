"""A restarted simulation resumes its network clock where the last run left it.

The event-time jobs (``sql/cta_run_times.sql``, ``sql/cta_service_health.sql``) resume from their
checkpoints with the event time the last run reached. A simulation that started at the wall clock
again would start behind it by the time the last run gained (``simulation_speed`` - 1 times its
length: hours after a long run), and the jobs would drop every arrival as late until it caught up.

So the producer keeps, in a small file under the state directory, a network time it has not produced
beyond (:class:`ClockMark`), and a new run starts at :func:`resume_start`: the wall clock, or just
after that mark if it is later.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

RESUME_STEP = timedelta(seconds=1)
"""How far past the last run's mark a new run starts: strictly after anything the last run produced."""

SAVE_EVERY_S = 2.0
"""About how often (real seconds) a running simulation writes its mark."""


MAX_AHEAD = timedelta(days=30)
"""A mark further ahead of the wall clock than this is not believed (a broken or hand-edited file): the
run starts at the wall clock. Every run at speed s adds (s - 1) times its length to the lead; a month
is weeks of runs at 10x."""


def resume_start(saved: datetime | None, now: datetime, step: timedelta = RESUME_STEP) -> datetime:
    """Where a new run's network clock starts: ``now``, or ``saved`` + ``step`` when that is later (and
    no more than ``MAX_AHEAD`` ahead of ``now``)."""
    if saved is None:
        return now
    if saved - now > MAX_AHEAD:
        log.warning("the last run's network clock (%s) is more than %d days ahead of the wall clock: "
                    "starting at the wall clock", saved.isoformat(), MAX_AHEAD.days)  # fmt: skip
        return now
    return max(now, saved + step)


class ClockMark:
    """A network time the simulation has produced nothing at or beyond, kept in ``path``.

    While it runs, :meth:`passed` is called with the engine's time *before* a batch is handed to Kafka;
    the mark is then written ``ahead`` of it (``SAVE_EVERY_S`` real seconds of network time), so it is
    rewritten only every couple of seconds and still bounds everything sent, even if the process is
    killed between two writes. :meth:`stopped` writes the exact time at a clean stop. Writes are
    atomic (a rename), so a reader sees the old mark or the new one.
    """

    def __init__(self, path: Path, ahead: timedelta) -> None:
        self.path = path
        self.ahead = ahead
        self._written: datetime | None = None

    def load(self) -> datetime | None:
        """The last run's mark; None when there was none or it cannot be read (logged: the run starts now)."""
        try:
            body = json.loads(self.path.read_text())
            moment = datetime.fromisoformat(body["network_time"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, OverflowError) as problem:
            log.warning("cannot read the last run's network clock in %s (%s): starting at the wall clock",
                        self.path, problem)  # fmt: skip
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def passed(self, engine_now: datetime) -> None:
        """The engine reached ``engine_now``; its events are about to be sent."""
        if self._written is None or engine_now > self._written:
            self._write(engine_now + self.ahead)

    def stopped(self, engine_now: datetime) -> None:
        """A clean stop: everything sent was before ``engine_now``."""
        self._write(engine_now)

    def _write(self, moment: datetime) -> None:
        # Set first: a failing disk is retried at the next mark, not on every batch.
        self._written = moment
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A file of its own (a restarted process may overlap the old one for a moment), on disk
            # before the rename: the mark is what a restart after a crash believes.
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(handle, "w") as file:
                    file.write(json.dumps({"network_time": moment.astimezone(UTC).isoformat()}))
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as problem:
            # The trains keep running; only a later restart may then start behind the jobs' event time.
            log.error("cannot save the network clock to %s: %s", self.path, problem)
