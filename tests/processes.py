"""Real child processes for tests and benchmarks, started the way the supervisor starts them.

``ServiceProcess`` runs ``python -m transit_status serve <service>`` with a test's settings (as
``TRANSIT_*`` variables), its output in a log file, in its own session like under the supervisor.
``wait_until`` is the one poll-until helper: it fails with what it last saw and, when given, the
tail of a log. ``feed_pipeline`` starts the pipeline a feed source runs on, as ``run`` starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from transit_status.config import Settings
from transit_status.pipeline.connectors import ensure_stations_connector
from transit_status.platform.service import consumer_group_stable
from transit_status.topics import ensure_topics

LOG_TAIL_CHARS = 5000


@dataclass(frozen=True)
class NotYet:
    """Falsy, so a wait goes on; its repr is what was seen (for the timeout message)."""

    seen: Any

    def __bool__(self) -> bool:
        return False


def answered(check: Callable[[], Any]) -> Callable[[], Any]:
    """``check``, with an HTTP error or a bad answer as 'not yet' (a process still starting)."""

    def attempt() -> Any:
        try:
            return check()
        except (httpx.HTTPError, ValueError, KeyError) as error:
            return NotYet(repr(error)[:300])

    return attempt


def wait_until(
    check: Callable[[], Any],
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.2,
    log: Callable[[], str] | None = None,
) -> Any:
    """Poll ``check`` until it returns something truthy, and return that.

    An ``AssertionError`` raised by ``check`` ends the wait at once (a process died); any other
    result keeps polling. On timeout, fails with the last result and the tail of ``log()``.
    """
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            tail = f"\n--- log ---\n{log()[-LOG_TAIL_CHARS:]}" if log else ""
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})"[:2000] + tail)
        time.sleep(every_s)


@dataclass
class ServiceProcess:
    """``transit-status serve <service>`` as a real child process."""

    service: str
    settings: Settings
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-m", "transit_status", "serve", self.service],
                env={**os.environ, **self.settings.as_env(), **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def assert_alive(self) -> None:
        """Fail with the log if the process has exited."""
        if not self.alive():
            code = self.process.returncode if self.process else None
            raise AssertionError(f"{self.service} exited with {code}:\n{self.log()[-LOG_TAIL_CHARS:]}")

    def wait_for(self, check: Callable[[], Any], timeout_s: float, what: str) -> Any:
        """``wait_until`` that also fails as soon as the process dies."""

        def alive_and_checked() -> Any:
            self.assert_alive()
            return check()

        return wait_until(alive_and_checked, timeout_s, f"{self.service}: {what}", log=self.log)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no last flush or commit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float | None = None) -> int:
        """SIGTERM and wait; a process that ignores it is killed and the test fails."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        timeout_s = timeout_s if timeout_s is not None else self.settings.stop_timeout_s
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(
                f"{self.service} ignored SIGTERM for {timeout_s:.0f} s:\n{self.log()[-LOG_TAIL_CHARS:]}"
            ) from None


@contextmanager
def running_service(
    service: str, settings: Settings, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[ServiceProcess]:
    """A started ``ServiceProcess``, stopped with SIGTERM (and checked to stop) at the end."""
    child = ServiceProcess(service, settings, log_path, env or {}).start()
    try:
        yield child
    finally:
        child.stop()


def interrupt_and_wait(process: subprocess.Popen[Any], timeout_s: float = 120.0) -> int:
    """Ctrl-C for ``process`` (SIGINT), then its exit code; killed, and the timeout raised, if it hangs."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@dataclass(frozen=True)
class FeedPipeline:
    """Faust, the dashboard and ``serve feed`` as real child processes, as ``run --source ...`` starts them."""

    settings: Settings
    streams: ServiceProcess
    dashboard: ServiceProcess
    feed: ServiceProcess

    def api(self, path: str) -> Any:
        """The dashboard's JSON answer at ``path``."""
        response = httpx.get(self.settings.dashboard_url + path, timeout=5)
        response.raise_for_status()
        return response.json()


@contextmanager
def feed_pipeline(settings: Settings, logs: Path) -> Iterator[FeedPipeline]:
    """The pipeline of a feed source, in the order ``run`` starts it: the topics and the stations connector,
    Faust (until it has joined its group) and the dashboard (until it answers), then the feed. Each
    process logs into ``logs``; all are stopped at the end, each log's tail printed."""
    settings.feed_health_file.unlink(missing_ok=True)
    ensure_topics(settings)
    ensure_stations_connector(settings)
    streams = ServiceProcess("streams", settings, logs / "streams.log").start()
    dashboard = ServiceProcess("dashboard", settings, logs / "dashboard.log").start()
    feed = ServiceProcess("feed", settings, logs / "feed.log")
    try:
        streams.wait_for(lambda: consumer_group_stable(settings, settings.faust_app_id), 120, "joining its group")
        health = settings.dashboard_url + "/healthz"
        dashboard.wait_for(answered(lambda: httpx.get(health, timeout=2)), 60, "answering")
        yield FeedPipeline(settings, streams, dashboard, feed.start())
    finally:
        for child in (feed, dashboard, streams):
            child.stop()
            print(f"---- {child.service} log (tail)\n" + "\n".join(child.log().splitlines()[-20:]))
