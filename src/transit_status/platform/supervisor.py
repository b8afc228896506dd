"""Starts, watches and stops the embedded platform's services as child processes.

Each child runs in its own session (process group) so that ``up`` can return while they keep
running, and so that ``down`` can stop a service together with any process it forked. What is
running is recorded in ``<state dir>/run/<service>.json`` (pid, its start time, port, log file);
the start time guards against signalling a recycled pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import psutil

from transit_status.config import Settings
from transit_status.platform import jvm
from transit_status.platform.errors import PlatformError, PortInUseError, ServiceFailedError
from transit_status.platform.service import ServiceSpec
from transit_status.platform.services import platform_services
from transit_status.platform.system_user import remove_outside_dirs

Report = Callable[[str], None]
POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class RunRecord:
    """What ``up`` wrote down about one running service."""

    name: str
    pid: int
    create_time: float
    port: int
    log: str
    stop_signal: int = signal.SIGTERM

    def is_same(self, other: RunRecord | None) -> bool:
        """Both describe one process (a record rewritten by another command is not ours to drop)."""
        return other is not None and other.pid == self.pid and abs(other.create_time - self.create_time) < 1e-3

    def process(self) -> psutil.Process | None:
        """The live process, or None if it ended (or the pid now belongs to someone else)."""
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.create_time) > 1.0 or process.status() == psutil.STATUS_ZOMBIE:
                return None
            return process
        except psutil.Error:
            return None


@dataclass
class RestartState:
    """One service's restarts under :meth:`Platform.supervise`."""

    attempts: int = 0
    next_attempt: float = 0.0
    restarted_at: float | None = None
    ready_reported: bool = True

    FIRST_BACKOFF_S: ClassVar[float] = 1.0
    MAX_BACKOFF_S: ClassVar[float] = 30.0
    STABLE_AFTER_S: ClassVar[float] = 60.0

    def note_restart(self, now: float) -> None:
        self.attempts += 1
        self.restarted_at = now
        self.ready_reported = False
        self.next_attempt = now + min(self.MAX_BACKOFF_S, self.FIRST_BACKOFF_S * 2 ** (self.attempts - 1))

    def note_running(self, now: float, spec: ServiceSpec, report: Report) -> None:
        if self.restarted_at is None:
            return
        if not self.ready_reported and spec.healthy():
            note = spec.on_ready()
            report(f"  ready    {spec.name} again after {now - self.restarted_at:.1f} s{': ' + note if note else ''}")
            self.ready_reported = True
        if self.ready_reported and now - self.restarted_at > self.STABLE_AFTER_S:
            self.attempts, self.restarted_at = 0, None


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    running: bool
    healthy: bool | None  # None: running, but this platform has no health check for it
    log: Path


class Platform:
    """The supervised services of one state directory.

    ``services`` are what ``up`` starts (default: the embedded platform's own). ``down`` and
    ``status`` go by the run records instead, so they also cover what another command started
    (``transit-status run`` adds the pipeline's processes).

    ``external`` names services that run elsewhere (``run --pipeline-only``: the existing platform,
    checked beforehand): they count as ready and running for what depends on them, are never
    started, and ``down`` then stops only ``services``, even in a state directory shared with more.
    """

    def __init__(
        self,
        settings: Settings,
        report: Report = print,
        services: Sequence[ServiceSpec] | None = None,
        external: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.report = report
        self.specs = list(services) if services is not None else platform_services(settings)
        self.external = frozenset(external)
        self.run_dir = settings.state_dir / "run"
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._held: set[str] = set()  # stopped on purpose (stop()): supervise() leaves them stopped

    # ---- records ----------------------------------------------------------------------------------
    def _record_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def _read_record(self, name: str) -> RunRecord | None:
        try:
            return RunRecord(**json.loads(self._record_path(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _write_record(self, record: RunRecord) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._record_path(record.name).write_text(json.dumps(asdict(record)))

    def _records(self) -> list[RunRecord]:
        paths = sorted(self.run_dir.glob("*.json")) if self.run_dir.is_dir() else []
        return [record for path in paths if (record := self._read_record(path.stem))]

    def _forget(self, record: RunRecord) -> None:
        """Drop ``record``'s file unless it now describes another process (started by someone else)."""
        if record.is_same(self._read_record(record.name)):
            self._record_path(record.name).unlink(missing_ok=True)

    def _wanted_path(self) -> Path:
        return self.run_dir / "wanted.names"

    def _write_wanted(self) -> None:
        """What the latest ``up`` was asked to run (``run --network cta`` wants no MariaDB)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._wanted_path().write_text("\n".join(spec.name for spec in self.specs) + "\n")

    def _external_path(self) -> Path:
        return self.run_dir / "external.names"

    def _write_external(self) -> None:
        """Which services the latest ``up`` used elsewhere (``platform status`` checks their endpoints)."""
        if self.external:
            self._external_path().write_text("\n".join(sorted(self.external)) + "\n")
        else:
            self._external_path().unlink(missing_ok=True)

    def external_recorded(self) -> list[str]:
        """The services the latest ``up`` used on an existing platform (none for the embedded one)."""
        try:
            return self._external_path().read_text().split()
        except OSError:
            return []

    def wanted(self) -> set[str] | None:
        """The services the latest ``up`` was asked to run; None before any."""
        try:
            return set(self._wanted_path().read_text().split())
        except OSError:
            return None

    def running(self) -> dict[str, RunRecord]:
        """Every recorded service whose process is still alive, by name."""
        return {record.name: record for record in self._records() if record.process()}

    # ---- up ---------------------------------------------------------------------------------------
    def up(self) -> bool:
        """Start what is not running and wait until every service is ready.

        Returns False when everything was already running (nothing to do). On failure or Ctrl-C,
        stops what this call started and raises.
        """
        try:
            self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PlatformError(f"cannot create the state directory {self.settings.state_dir}: {error}") from error
        for spec in self.specs:
            if spec.preflight is not None and spec.name not in self.external:
                spec.preflight()
        wanted = {spec.name for spec in self.specs}
        already = {name: record for name, record in self.running().items() if name in wanted}
        healthy = {spec.name for spec in self.specs if spec.name in already and spec.healthy()}
        if len(healthy) == len(self.specs):
            return False
        platform_names = {spec.name for spec in platform_services(self.settings)}
        starts_platform = any(spec.name in platform_names for spec in self.specs)
        if starts_platform and not jvm.jars_present(self.settings):
            self.report("Fetching Kafka, Kafka Connect, Debezium and Flink (Maven Central, PyPI; once)...")
            jvm.fetch_jars(self.settings)
        to_start = [spec for spec in self.specs if spec.name not in already]
        self._check_ports(to_start)
        self._write_wanted()
        self._write_external()
        # Running but not (yet) healthy, e.g. still starting from another `up`: wait for them too.
        unready = [spec for spec in self.specs if spec.name in already and spec.name not in healthy]
        started: list[str] = []
        try:
            self._start_in_order(to_start, unready, ready=healthy | self.external, started=started)
        except BaseException:
            if started:
                self.report(f"Stopping what was started: {', '.join(started)}")
                self.stop(reversed(started))
            raise
        return True

    def _check_ports(self, specs: Iterable[ServiceSpec]) -> None:
        for spec in specs:
            for port in (spec.port, *spec.extra_ports):
                if port and not port_is_free(spec.host or self.settings.host, port):
                    raise PortInUseError(
                        f"port {port} for {spec.name} is already in use{describe_listener(port)}; "
                        f"stop that process or choose another port (see `transit-status platform up --help`)"
                    )

    def _start_in_order(
        self, specs: list[ServiceSpec], unready: list[ServiceSpec], ready: set[str], started: list[str]
    ) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        began = time.monotonic()
        waiting = {spec.name: spec for spec in [*specs, *unready]}
        children: dict[str, Callable[[], int | None]] = {}  # name -> exit code, None while running
        for spec in unready:
            record = self._read_record(spec.name)
            process = record.process() if record else None
            children[spec.name] = lambda p=process: None if p and p.is_running() else 1  # type: ignore[misc]
        while waiting:
            for name, spec in list(waiting.items()):
                if name not in children and set(spec.after) <= ready:
                    where = f" on {spec.host or self.settings.host}:{spec.port}" if spec.port else ""
                    self.report(f"  starting {name}{where} ...")
                    # Ctrl-C waits until the child is recorded, so the clean-up always finds it.
                    with deferred_interrupts():
                        children[name] = self._spawn(spec).poll
                        started.append(name)
            for name, exit_code in list(children.items()):
                spec = waiting[name]
                if (code := exit_code()) is not None:
                    raise ServiceFailedError(
                        f"{name} exited with code {code} while starting; "
                        f"last lines of {spec.log_file(self.settings)}:\n{tail(spec.log_file(self.settings))}"
                    )
                if spec.is_ready():
                    note = spec.on_ready()
                    elapsed = time.monotonic() - began
                    self.report(f"  ready    {name} ({elapsed:.1f} s){': ' + note if note else ''}")
                    ready.add(name)
                    del waiting[name], children[name]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(waiting)
                logs = "; ".join(str(waiting[name].log_file(self.settings)) for name in waiting)
                raise ServiceFailedError(f"not ready after {self.settings.ready_timeout_s:.0f} s: {names} (see {logs})")
            time.sleep(POLL_INTERVAL_S)

    # ---- keeping everything running ------------------------------------------------------------------
    def supervise(self, should_stop: Callable[[], bool], interval_s: float = 1.0) -> None:
        """Keep every service running until ``should_stop()``, like systemd's ``Restart=on-failure``.

        A service that dies is restarted once its dependencies run, after a backoff that doubles
        with each failed attempt (1 s up to 30 s) and resets once it has stayed up for a minute.
        Every restart is reported.
        """
        restarts: dict[str, RestartState] = {}
        while not should_stop():
            self._reap()
            running = self.running()
            now = time.monotonic()
            for spec in self.specs:
                if spec.name in self._held:
                    continue
                state = restarts.setdefault(spec.name, RestartState())
                if spec.name in running:
                    try:
                        state.note_running(now, spec, self.report)
                    except Exception as problem:  # e.g. reloading PostgreSQL's stations failed: try again
                        self.report(f"  {spec.name} is back, but getting it ready failed: {problem}")
                        state.ready_reported = False
                    continue
                if now < state.next_attempt or not set(spec.after) <= set(running) | self.external:
                    continue  # backing off, or waiting for what it needs to be back
                state.note_restart(now)
                self.report(f"  {spec.name} is not running; restarting it (attempt {state.attempts})")
                try:
                    with deferred_interrupts():
                        self._spawn(spec)
                except Exception as problem:
                    # A failed attempt (e.g. Kafka refusing a topic while it recovers) must not end the
                    # supervisor: the next attempt comes after the backoff.
                    self.report(f"  could not restart {spec.name}: {problem}")
            time.sleep(interval_s)

    def _reap(self) -> None:
        """Collect the exit status of services that ended, so none is left a zombie.

        Also those another ``Platform`` of this process started: a zombie still 'exists' for
        ``kill(pid, 0)``, and PostgreSQL refuses to start while its lock file names a live pid.
        """
        for name, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[name]
        for record in self._records():
            with contextlib.suppress(ChildProcessError):  # not our child: someone else reaps it
                os.waitpid(record.pid, os.WNOHANG)

    def _spawn(self, spec: ServiceSpec) -> subprocess.Popen[bytes]:
        launch = spec.prepare()
        log_path = spec.log_file(self.settings)
        with log_path.open("ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}\n".encode())
            log.flush()
            child = subprocess.Popen(
                launch.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **launch.env},
                cwd=self.settings.state_dir,
                start_new_session=True,
                # The spawn runs with SIGINT/SIGTERM blocked (deferred_interrupts); the child must not
                # inherit that mask, or it could never be stopped gracefully.
                preexec_fn=_unblock_stop_signals,
                **launch.popen_kwargs,  # type: ignore[arg-type]
            )
        self._write_record(
            RunRecord(
                spec.name,
                child.pid,
                psutil.Process(child.pid).create_time(),
                spec.port,
                str(log_path),
                int(spec.stop_signal),
            )
        )
        self._children[spec.name] = child
        return child

    # ---- down ----------------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every recorded service that is running, dependents first. Returns the names stopped.

        Services that do not depend on each other stop at the same time (:meth:`_stop_in_parallel`):
        one after the other, the JVMs' shutdowns added up to 20 s on a loaded machine.
        """
        running = self.running()
        if self.external:  # the pipeline alone: whatever else shares the state directory is not ours
            running = {name: record for name, record in running.items() if name in {s.name for s in self.specs}}
        stopped = self._stop_order(running)
        self._stop_in_parallel(stopped)
        for record in self._records():
            if not record.process():
                self._forget(record)  # stale: its process is gone
        return [record.name for record in stopped]

    def _stop_order(self, running: dict[str, RunRecord]) -> list[RunRecord]:
        # Known services in reverse start order; anything recorded that this platform does not know
        # (a pipeline process under `platform down`) depends on it, so it goes first, newest first.
        known = [spec.name for spec in self.specs]
        unknown = sorted((r for name, r in running.items() if name not in known), key=lambda r: -r.create_time)
        return unknown + [running[name] for name in reversed(known) if name in running]

    def _stop(self, records: Iterable[RunRecord]) -> None:
        # A second Ctrl-C must not abandon half-stopped services: stopping runs to the end.
        with ignored_interrupts(self.report):
            for record in records:
                self._stop_one(record)

    def _stop_one(self, record: RunRecord) -> None:
        process = record.process()
        if process is None:
            return
        began = time.monotonic()
        self.report(f"  stopping {record.name} (pid {process.pid}) ...")
        stop_process_group(process, record.stop_signal, self.settings.stop_timeout_s, self.report)
        self._forget(record)
        self.report(f"  stopped  {record.name} ({time.monotonic() - began:.1f} s)")

    def _needs(self, name: str, running: Iterable[str]) -> set[str]:
        """What ``name`` must outlive: what it waits for at start or uses (a recorded service this
        platform does not know, e.g. a pipeline process under `platform down`, uses every known one)."""
        spec = next((spec for spec in self.specs if spec.name == name), None)
        if spec is None:
            known = {spec.name for spec in self.specs}
            return {other for other in running if other in known}
        return set(spec.after) | set(spec.needs) | set(spec.uses)

    def _stop_in_parallel(self, ordered: list[RunRecord]) -> None:
        """Stop each service once everything that needs it has stopped; the others at the same time.

        ``ordered`` is a safe one-by-one order; it breaks a tie if the needs ever formed a cycle.
        """
        names = [record.name for record in ordered]
        needed_by = {name: {other for other in names if name in self._needs(other, names)} for name in names}
        pending = {record.name: record for record in ordered}
        with ignored_interrupts(self.report), ThreadPoolExecutor(max_workers=max(len(ordered), 1)) as pool:
            stopping: dict[Future[None], str] = {}
            while pending or stopping:
                unfinished = set(pending) | set(stopping.values())
                free = [name for name in pending if not needed_by[name] & unfinished]
                if not free and not stopping:
                    free = [next(iter(pending))]  # a cycle: fall back to the safe order
                for name in free:
                    stopping[pool.submit(self._stop_one, pending.pop(name))] = name
                done, _ = wait(stopping, return_when=FIRST_COMPLETED)
                for future in done:
                    del stopping[future]
                    future.result()

    def hold(self, names: Iterable[str]) -> None:
        """Leave these services to whoever stops them: :meth:`supervise` does not restart them until
        :meth:`release` (an operator's maintenance, or a fault test keeping a killed broker down)."""
        self._held.update(names)

    def release(self, names: Iterable[str]) -> None:
        """Supervise these services again: the next round restarts any that is not running."""
        self._held.difference_update(names)

    def stop(self, names: Iterable[str]) -> None:
        """Stop just these services (in the order given), e.g. the pipeline but not the platform.

        Like ``systemctl stop``: :meth:`supervise` does not restart them.
        """
        names = list(names)
        self._held.update(names)
        records = [record for name in names if (record := self._read_record(name))]
        self._stop(records)

    # ---- status / reset ---------------------------------------------------------------------------
    def status(self, optional: Iterable[str] = ()) -> list[ServiceStatus]:
        """This platform's services, and whatever else is recorded as running.

        Services named in ``optional`` are listed only while they run (the pipeline under
        ``platform status``: not running is not a fault there), and so are those the latest ``up``
        did not ask for (``run --network cta`` starts no MariaDB).
        """
        running = self.running()
        wanted = self.wanted()
        unwanted = {spec.name for spec in self.specs} - wanted if wanted is not None else set()
        skipped = (set(optional) | unwanted) - set(running)
        statuses = [
            ServiceStatus(
                name=spec.name,
                pid=running[spec.name].pid if spec.name in running else None,
                port=spec.port,
                running=spec.name in running,
                healthy=spec.name in running and spec.healthy(),
                log=spec.log_file(self.settings),
            )
            for spec in self.specs
            if spec.name not in skipped
        ]
        known = {spec.name for spec in self.specs}
        statuses += [
            ServiceStatus(record.name, record.pid, record.port, True, None, Path(record.log))
            for name, record in running.items()
            if name not in known
        ]
        return statuses

    def reset(self) -> None:
        """Stop everything and delete the state directory (all topics, schemas, tables, logs)."""
        self.down()
        try:
            # The databases' directories outside the state directory (run as root: system_user.py).
            remove_outside_dirs(self.settings.state_dir, self.settings.system_data_dir)
            shutil.rmtree(self.settings.state_dir)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise PlatformError(f"could not delete all of {self.settings.state_dir}: {error}") from error


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done (they are delivered right after)."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def ignored_interrupts(report: Report) -> Iterator[None]:
    """Ignore Ctrl-C/SIGTERM while stopping (main thread only; elsewhere signals are not ours)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def still_stopping(signum: int, frame: object) -> None:
        report("  still stopping; please wait")

    previous = {sig: signal.signal(sig, still_stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_process_group(process: psutil.Process, stop_signal: int, timeout_s: float, report: Report) -> None:
    """Signal the process's whole group, wait, then kill whatever is left."""
    group = _group_members(process)
    try:
        os.killpg(process.pid, stop_signal)
    except ProcessLookupError:
        return
    except PermissionError:
        process.send_signal(stop_signal)
    _, alive = psutil.wait_procs(group, timeout=timeout_s)
    if alive:
        report(f"  {len(alive)} process(es) did not stop within {timeout_s:.0f} s; killing them")
        for leftover in alive:
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        psutil.wait_procs(alive, timeout=5)


def _group_members(process: psutil.Process) -> list[psutil.Process]:
    members = [process]
    with contextlib.suppress(psutil.Error):
        members.extend(process.children(recursive=True))
    return members


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def describe_listener(port: int) -> str:
    try:
        for connection in psutil.net_connections(kind="tcp"):
            listening = connection.status == psutil.CONN_LISTEN and connection.pid
            if listening and connection.laddr and connection.laddr.port == port:
                return f" (by pid {connection.pid}, {psutil.Process(connection.pid).name()})"
    except psutil.Error:
        pass
    return ""


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
