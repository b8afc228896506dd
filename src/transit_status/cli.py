"""The ``transit-status`` command line."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pydantic import ValidationError

from transit_status.config import (
    ENV_PREFIX,
    MAX_TASKMANAGERS,
    PROJECT_ROOT,
    REPLAY_PREFIX,
    WILDCARD_HOSTS,
    Settings,
    SettingsFileError,
    load_settings,
)
from transit_status.errors import TransitError, describe_validation_error
from transit_status.serve import SERVICES

app = typer.Typer(
    help=(
        "transit-status: live status of Chicago's CTA 'L' and London's Underground on the Apache Kafka "
        "ecosystem.\n\n"
        "Every option can also be set with an environment variable TRANSIT_<NAME> "
        "(e.g. TRANSIT_KAFKA_PORT=19092), or in a settings file (--profile, --settings): "
        "docs/CLUSTER.md lists what a profile for an existing platform holds."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
platform_app = typer.Typer(
    help=(
        "The embedded platform: Kafka (KRaft), Kafka Connect, Schema Registry, REST Proxy, PostgreSQL, "
        "MariaDB, OpenSearch and Flink (JobManager, TaskManager, SQL Gateway)."
    ),
    no_args_is_help=True,
)
app.add_typer(platform_app, name="platform")


def setting_option(name: str, what: str, *flags: str) -> Any:
    """An option for setting ``name`` whose help shows the default the settings object declares."""
    return typer.Option(*flags, help=f"{what} (default: {Settings.model_fields[name].default}).")


TASKMANAGERS_HELP = (
    "Flink TaskManagers to run, each a JVM of its own (flink-taskmanager, flink-taskmanager-2, ...); the SQL "
    "jobs run at one parallel instance per TaskManager unless TRANSIT_FLINK_PARALLELISM says otherwise. "
    f"At most {MAX_TASKMANAGERS}. Give `platform up` and `run` the same number"
)


def taskmanagers_option() -> Any:
    return setting_option("flink_taskmanagers", TASKMANAGERS_HELP, "--taskmanagers")


def with_options(ctx: typer.Context, **overrides: Any) -> None:
    """``ctx.obj``, the settings, with a command's own options (None: not given) in place."""
    try:
        ctx.obj = ctx.obj.with_overrides(**overrides)
    except ValidationError as invalid:
        fail(f"invalid option: {describe_validation_error(invalid)}")


PROFILES_DIR = "profiles"


def profile_file(name: str, cwd: Path | None = None) -> Path:
    """``profiles/<name>.toml`` in the current directory, else in the project's checkout."""
    candidates = [(cwd or Path.cwd()) / PROFILES_DIR / f"{name}.toml", PROJECT_ROOT / PROFILES_DIR / f"{name}.toml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = " and ".join(str(candidate) for candidate in dict.fromkeys(candidates))
    raise SettingsFileError(f"no profile {name!r}: looked for {looked} (examples: deploy/profiles/)")


@app.callback()
def settings_options(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Read settings from profiles/NAME.toml (e.g. an existing platform's endpoints and credentials); "
            "environment variables and options override it.",
            show_default=False,
        ),
    ] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings", help="Read settings from this TOML file (like --profile, by path).", show_default=False
        ),
    ] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Data, logs and pid files (default: ./.transit).")] = None,
    host: Annotated[
        str | None, setting_option("host", "Address the platform's services listen on (not the dashboard's)")
    ] = None,
    kafka_port: Annotated[int | None, setting_option("kafka_port", "Kafka broker")] = None,
    kafka_controller_port: Annotated[int | None, setting_option("kafka_controller_port", "KRaft controller")] = None,
    connect_port: Annotated[int | None, setting_option("connect_port", "Kafka Connect REST")] = None,
    schema_registry_port: Annotated[int | None, setting_option("schema_registry_port", "Schema Registry")] = None,
    rest_proxy_port: Annotated[int | None, setting_option("rest_proxy_port", "REST Proxy")] = None,
    postgres_port: Annotated[int | None, setting_option("postgres_port", "PostgreSQL")] = None,
    mariadb_port: Annotated[int | None, setting_option("mariadb_port", "MariaDB")] = None,
    opensearch_port: Annotated[int | None, setting_option("opensearch_port", "OpenSearch HTTP")] = None,
    dashboard_port: Annotated[int | None, setting_option("dashboard_port", "Dashboard")] = None,
    sql_gateway_port: Annotated[int | None, setting_option("sql_gateway_port", "Flink SQL Gateway")] = None,
    flink_rest_port: Annotated[int | None, setting_option("flink_rest_port", "Flink REST API and web UI")] = None,
    flink_rpc_port: Annotated[int | None, setting_option("flink_rpc_port", "Flink JobManager RPC")] = None,
) -> None:
    """Settings shared by every command."""
    overrides = {
        key: value for key, value in ctx.params.items() if value is not None and key not in ("profile", "settings_file")
    }
    if profile is not None and settings_file is not None:
        fail("give --profile or --settings, not both")
    try:
        file = profile_file(profile) if profile is not None else settings_file
        ctx.obj = load_settings(file, **overrides)
    except SettingsFileError as problem:
        fail(str(problem))
    except ValidationError as invalid:
        fail(f"invalid settings: {describe_validation_error(invalid)}")


def interrupt_on_stop_signals() -> None:
    """SIGINT and SIGTERM (Ctrl-C, `kill`, a process manager) end a command with its clean-up.

    SIGINT explicitly too: Python installs its own handler only when SIGINT is not ignored at start,
    and a shell starts a script's background jobs with SIGINT ignored, so `kill -INT` did nothing.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, interrupt)


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {_redacted(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _redacted(text: str) -> str:
    """``text`` without the current settings' secrets (a server's error may quote what it was sent)."""
    context = click.get_current_context(silent=True)
    settings = context.find_object(Settings) if context is not None else None
    return settings.redact(text) if settings is not None else text


def say(line: str) -> None:
    typer.echo(_redacted(line))


def _platform(ctx: typer.Context, pipeline: bool = False):  # type: ignore[no-untyped-def]
    from transit_status.pipeline import whole_stack
    from transit_status.platform.supervisor import Platform

    return Platform(ctx.obj, report=say, services=whole_stack(ctx.obj) if pipeline else None)


def endpoint_lines(settings: Settings, services: set[str] | None = None) -> list[str]:
    """Where each platform service answers, as `platform up` and `run` print it (``services``: only
    these); never a secret (DSNs without their password)."""
    lines = {
        "kafka": f"  Kafka bootstrap   {settings.bootstrap_servers}",
        "schema-registry": f"  Schema Registry   {settings.schema_registry_url}",
        "rest-proxy": f"  REST Proxy        {settings.rest_proxy_url}",
        "connect": f"  Kafka Connect     {settings.connect_url}",
        "sql-gateway": f"  Flink SQL Gateway {settings.sql_gateway_url}   (`transit-status sql`)",
        "flink-jobmanager": f"  Flink web UI      {settings.flink_rest_url}",
        "postgres": f"  PostgreSQL        {settings.postgres.redacted}   ({_password_hint(settings, 'postgres')})",
        "mariadb": f"  MariaDB           {settings.mariadb.redacted}   ({_password_hint(settings, 'mariadb')})",
        "opensearch": f"  OpenSearch        {settings.opensearch_url}",
    }
    return [line for service, line in lines.items() if services is None or service in services]


def _print_endpoints(settings: Settings, services: set[str] | None = None) -> None:
    for line in endpoint_lines(settings, services):
        say(line)


def _password_hint(settings: Settings, database: str) -> str:
    """Where a client finds a database password: its generated file, or the variable that set it."""
    name = f"{database}_password"
    stored = settings.secrets_dir / name
    if stored.is_file() and stored.read_text().strip() == getattr(settings, name).get_secret_value():
        return f"password in {stored}"
    return f"password: ${ENV_PREFIX}{name.upper()}"


BrokersOption = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        help="Kafka nodes, each a broker and KRaft controller: 1, or 3 (every topic then has 3 replicas and "
        "min.insync.replicas 2). Default: as many as this state directory's Kafka has, else 1.",
        show_default=False,
    ),
]


@platform_app.command("up")
def platform_up(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option("--watch", help="Stay in the foreground, restart any service that dies; Ctrl-C stops all.")
    ] = False,
    brokers: BrokersOption = None,
    taskmanagers: Annotated[int | None, taskmanagers_option()] = None,
) -> None:
    """Start every platform service and return once all of them pass their readiness check.

    All of them, whichever network you will run: `transit-status run --network cta|london` starts only
    the services that network's pipeline needs (no MariaDB or OpenSearch for the CTA alone).
    """
    with_options(ctx, kafka_brokers=brokers, flink_taskmanagers=taskmanagers)
    platform = _platform(ctx)
    began = time.monotonic()
    interrupt_on_stop_signals()
    typer.echo(f"Starting the embedded platform (state in {ctx.obj.state_dir}) ...")
    try:
        started = platform.up()
    except KeyboardInterrupt:
        fail("interrupted; what this command started was stopped", code=130)
    except TransitError as problem:
        fail(str(problem))
    if not started:
        typer.echo("The platform is already running; nothing to do.")
    else:
        typer.echo(f"All services ready in {time.monotonic() - began:.1f} s.")
    _print_endpoints(ctx.obj)
    if watch:
        typer.echo("Watching: a service that dies is restarted. Ctrl-C stops the platform.")
        try:
            platform.supervise(should_stop=lambda: False)
        except KeyboardInterrupt:
            typer.echo("\nStopping ...")
        platform.down()
        typer.echo("Stopped.")


@platform_app.command("down")
def platform_down(ctx: typer.Context) -> None:
    """Stop every service gracefully (forcefully after a timeout). Data is kept."""
    stopped = _platform(ctx).down()
    typer.echo(f"Stopped: {', '.join(stopped)}." if stopped else "Nothing was running.")


@platform_app.command("status")
def platform_status(ctx: typer.Context) -> None:
    """Each service's pid, port, health and log file. Exit code 1 unless all are healthy."""
    from transit_status.pipeline import pipeline_services
    from transit_status.platform.services.flink import taskmanagers_named

    # Every TaskManager the latest `up` started (`--taskmanagers 2`) is listed, and a dead one is a fault.
    started = min(taskmanagers_named(_platform(ctx).wanted() or ()), MAX_TASKMANAGERS)
    if started > ctx.obj.flink_taskmanagers:
        with_options(ctx, flink_taskmanagers=started)
    pipeline = [spec.name for spec in pipeline_services(ctx.obj)]
    statuses = _platform(ctx, pipeline=True).status(optional=pipeline)
    width = max([16, *(len(status.name) + 2 for status in statuses)])  # flink-taskmanager-2 and the like
    typer.echo(f"{'SERVICE':<{width}}{'PID':>8}  {'PORT':>5}  {'HEALTH':<10}LOG")
    for status in statuses:
        if not status.running:
            health = "stopped"
        else:
            health = {True: "healthy", False: "unhealthy", None: "running"}[status.healthy]
        typer.echo(f"{status.name:<{width}}{status.pid or '-':>8}  {status.port or '-':>5}  {health:<10}{status.log}")
    kafka_running = any(status.running for status in statuses if status.name in ctx.obj.kafka_services)
    kafka_ok = _print_kafka(ctx.obj) if kafka_running else True
    endpoints_ok = _print_external(ctx.obj, _platform(ctx).external_recorded())
    work_ok = _print_work(ctx.obj, pipeline_running=any(s.running and s.name in pipeline for s in statuses))
    healthy = all(status.running and status.healthy is not False for status in statuses)
    if not (kafka_ok and work_ok and endpoints_ok and healthy):
        raise typer.Exit(1)


def _print_kafka(settings: Settings) -> bool:
    """The embedded Kafka as a cluster: each broker, the controller, partitions short of replicas.
    False when a broker is missing or a partition is under-replicated or without a leader."""
    from transit_status.platform.services.kafka import cluster_view

    view = cluster_view(settings)
    typer.echo(f"\n{'KAFKA':<16}{'STATE':<12}DETAIL")
    if view is None:
        typer.echo(f"{'cluster':<16}{'down':<12}no broker answers at {settings.bootstrap_servers}")
        return False
    for node in settings.kafka_nodes:
        role = "broker, controller" + (" (quorum leader)" if node.node_id == view.quorum_leader else "")
        state = "alive" if node.node_id in view.alive else "missing"
        typer.echo(f"{'node ' + str(node.node_id):<16}{state:<12}{settings.host}:{node.port}  {role}")
    leader = f"node {view.quorum_leader}" if view.quorum_leader is not None else "none (no quorum, or no answer)"
    typer.echo(f"{'controller':<16}{'':<12}quorum leader: {leader}")
    typer.echo(f"{'partitions':<16}{'':<12}{_partition_summary(view.under_replicated, view.leaderless)}")
    return (
        len(view.alive) == settings.broker_count
        and view.quorum_leader is not None
        and not view.under_replicated
        and not view.leaderless
    )


def _partition_summary(under_replicated: tuple[str, ...], leaderless: tuple[str, ...]) -> str:
    parts = [f"{len(under_replicated)} under-replicated"]
    if leaderless:
        parts.append(f"{len(leaderless)} without a leader")
    named = [*leaderless, *under_replicated][:5]
    return ", ".join(parts) + (
        f" ({', '.join(named)}{', ...' if len(under_replicated) + len(leaderless) > 5 else ''})" if named else ""
    )


def _print_external(settings: Settings, services: list[str]) -> bool:
    """The existing platform's endpoints the latest `run --pipeline-only` used, checked now (no secret shown)."""
    if not services:
        return True
    from transit_status.pipeline.external import endpoints

    known = endpoints(settings)
    typer.echo(f"\n{'EXTERNAL':<18}{'HEALTH':<10}{'ENDPOINT':<44}PROBLEM")
    ok = True
    for service in services:
        endpoint = known[service]
        problem = endpoint.problem(settings)
        ok = ok and problem is None
        say(f"{service:<18}{'answers' if problem is None else 'fails':<10}{endpoint.where:<44}{problem or ''}")
    return ok


def _print_work(settings: Settings, pipeline_running: bool) -> bool:
    """The work beside the processes (SQL jobs, connectors, groups), as the watchdog last saw it.
    False when some of it is not running or not on its way."""
    from transit_status.pipeline.watchdog import HEARTBEAT_S, read_status

    if not pipeline_running:
        return True
    status = read_status(settings, max_age_s=5 * HEARTBEAT_S + 5)
    typer.echo(f"\n{'WORK':<16}{'NAME':<44}{'STATE':<10}DETAIL")
    if status is None:
        not_running = "the watchdog is not running (it starts with `transit-status run`)"
        typer.echo(f"{'-':<16}{'-':<44}{'unknown':<10}{not_running}")
        return False
    for item in status["items"]:
        typer.echo(f"{item['kind']:<16}{item['name']:<44}{item['state']:<10}{item['detail']}")
    if status.get("busy"):
        typer.echo(f"  watchdog: {status['busy']}")
    for action in status["actions"][-5:]:
        when = time.strftime("%H:%M:%S", time.localtime(action["at"]))
        typer.echo(f"  {when} watchdog: {action['item']}: {action['action']}")
    return bool(status["items"]) and all(item["state"] in ("running", "starting") for item in status["items"])


@platform_app.command("reset")
def platform_reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop everything and delete the state directory: all topics, schemas, tables and logs."""
    if not yes and not typer.confirm(f"Delete {ctx.obj.state_dir} and everything in it?"):
        raise typer.Exit(1)
    try:
        _platform(ctx).reset()
    except TransitError as problem:
        fail(str(problem))
    typer.echo(f"Deleted {ctx.obj.state_dir}.")


@platform_app.command("fetch-jars")
def platform_fetch_jars(ctx: typer.Context) -> None:
    """Resolve Kafka, Connect, Debezium and Flink jars from Maven Central, install Flink from PyPI (once)."""
    from transit_status.platform import jvm

    try:
        jvm.fetch_jars(ctx.obj, quiet=False)
    except TransitError as problem:
        fail(str(problem))
    typer.echo(f"Jars are in {ctx.obj.jars_dir}.")


class NetworkChoice(StrEnum):
    all = "all"
    cta = "cta"
    london = "london"


@app.command("run")
def run(
    ctx: typer.Context,
    speed: Annotated[
        float | None,
        setting_option(
            "simulation_speed",
            "Simulated seconds per real second; with --source replay:DIR, how many times faster the recording "
            "plays (as --replay-speed)",
        ),
    ] = None,
    seed: Annotated[
        int | None, setting_option("simulation_seed", "Simulation seed: the same seed, the same run")
    ] = None,
    network: Annotated[NetworkChoice | None, setting_option("run_networks", "Which networks' pipelines to run")] = None,
    pipeline_only: Annotated[
        bool,
        typer.Option(
            "--pipeline-only",
            help="Start none of the platform: run the pipelines against the endpoints in the settings "
            "(an existing Kafka, registry, Connect, Flink, databases; e.g. --profile NAME), once each one "
            "the chosen networks need answers. Ctrl-C stops only the pipeline.",
        ),
    ] = False,
    dashboard_host: Annotated[
        str | None,
        setting_option("dashboard_host", "Address the dashboard listens on; the platform stays on --host"),
    ] = None,
    brokers: BrokersOption = None,
    taskmanagers: Annotated[int | None, taskmanagers_option()] = None,
    source: Annotated[
        str | None,
        setting_option(
            "source",
            "Where Chicago's trains come from: simulation; cta-train-tracker (the CTA's real trains: needs "
            "TRANSIT_CTA_TRAIN_TRACKER_KEY); gtfs-rt (an agency's GTFS-realtime: TRANSIT_GTFS_STATIC and "
            "TRANSIT_GTFS_RT_*_URL); or replay:DIR (a `transit-status record` directory). A real feed has no "
            "turnstiles or weather; docs/FEEDS.md",
            "--source",
        ),
    ] = None,
    replay_speed: Annotated[
        float | None,
        setting_option(
            "replay_speed", "How many times faster --source replay:DIR plays (as --speed N)", "--replay-speed"
        ),
    ] = None,
) -> None:
    """Start the platform and the pipelines (Chicago and London by default); Ctrl-C stops everything.

    Only the platform services the chosen networks' pipelines need are started (none with --pipeline-only).
    """
    if speed is not None and (source or ctx.obj.source).startswith(REPLAY_PREFIX):
        # The issue's `--source replay:DIR --speed N`: with a replay, --speed is the recording's speed.
        if replay_speed is not None and replay_speed != speed:
            fail(f"--speed {speed:g} and --replay-speed {replay_speed:g} disagree: give one")
        speed, replay_speed = None, speed
    with_options(
        ctx,
        simulation_speed=speed,
        simulation_seed=seed,
        run_networks=network.value if network else None,
        dashboard_host=dashboard_host,
        kafka_brokers=brokers,
        flink_taskmanagers=taskmanagers,
        source=source,
        replay_speed=replay_speed,
    )
    if pipeline_only:
        if brokers is not None:
            fail("--brokers shapes the embedded Kafka; --pipeline-only uses an existing one (kafka_bootstrap_servers)")
        # The existing Kafka is one endpoint (its bootstrap list), whatever this state directory once ran.
        with_options(ctx, kafka_brokers=1)
    platform = _pipeline_alone(ctx.obj) if pipeline_only else _platform(ctx, pipeline=True)
    typer.echo(f"Starting transit-status (state in {ctx.obj.state_dir}) ...")
    interrupt_on_stop_signals()
    announcer = DataFlowAnnouncer(ctx.obj)
    try:
        platform.up()
        _print_endpoints(ctx.obj, set(platform.external) or {spec.name for spec in platform.specs})
        typer.echo("\nWaiting for data to flow before showing the dashboard's address ...")
        # In its own thread: the supervisor below must restart what dies meanwhile.
        announcer.start()
        # A service that dies is restarted (with backoff) until Ctrl-C or SIGTERM.
        platform.supervise(should_stop=lambda: False)
    except KeyboardInterrupt:
        announcer.stop()
        typer.echo("\nStopping ...")
    except TransitError as problem:
        announcer.stop()
        typer.secho(f"error: {_redacted(str(problem))}", fg=typer.colors.RED, err=True)
        platform.down()
        raise typer.Exit(1) from None
    platform.down()
    typer.echo("Stopped.")


def _pipeline_alone(settings: Settings):  # type: ignore[no-untyped-def]
    """The pipeline's processes alone, on the existing platform the settings name, once each endpoint
    the chosen networks need answers (the first that does not is an error, with why)."""
    from transit_status.pipeline import pipeline_services
    from transit_status.pipeline.external import prepare_reference_data, required_services, unanswered
    from transit_status.platform.supervisor import Platform

    needed = required_services(settings)
    typer.echo("Checking the existing platform's endpoints (--pipeline-only) ...")
    problems = unanswered(settings, needed, report=say)
    if problems:
        fail("the pipeline cannot start; not answering as it needs:\n  " + "\n  ".join(problems))
    try:
        for line in prepare_reference_data(settings, needed):
            say(f"  {line}")
    except Exception as problem:  # a database that refuses the tables (rights, an older schema)
        fail(f"loading the reference data failed: {type(problem).__name__}: {problem}")
    return Platform(settings, report=say, services=pipeline_services(settings), external=needed)


DATA_WAIT_POLL_S = 1.0
DATA_WAIT_SAY_EVERY_S = 5.0


@dataclass
class DataFlowWait:
    """What `run` says while the dashboard's /healthz is not "ok" yet (pure: answers and a clock in).

    A line when what is missing changes, at most every ``say_every_s``; done once the status is
    ok, or after ``bound_s`` (then with what is still missing), when the URL is printed either way.
    """

    began: float
    bound_s: float
    say_every_s: float = DATA_WAIT_SAY_EVERY_S
    done: bool = False
    flowing: bool = False
    _said: str | None = None
    _said_at: float | None = None

    def observe(self, health: dict[str, Any] | None, error: str | None, now: float) -> list[str]:
        """Lines to print for this answer of /healthz (``health`` None: it did not answer, ``error`` why)."""
        if self.done:
            return []
        if health is not None and health.get("status") == "ok":
            self.done = self.flowing = True
            return [f"Data is flowing ({now - self.began:.0f} s)."]
        missing = self.missing(health, error)
        if now - self.began >= self.bound_s:
            self.done = True
            return [f"Not all data flows after {self.bound_s:.0f} s; still {missing}"]
        if missing != self._said and (self._said_at is None or now - self._said_at >= self.say_every_s):
            self._said, self._said_at = missing, now
            return [f"  {missing}"]
        return []

    @staticmethod
    def missing(health: dict[str, Any] | None, error: str | None) -> str:
        if health is None:
            return f"waiting for: the dashboard ({error or 'no answer yet'})"
        waiting = ", ".join(health.get("waiting_for", []))
        problems = "; ".join(health.get("problems", []))
        parts = [f"waiting for: {waiting}" if waiting else "", f"problems: {problems}" if problems else ""]
        return " | ".join(part for part in parts if part) or f"status {health.get('status')}"


class DataFlowAnnouncer:
    """Polls the dashboard's /healthz in a daemon thread and prints its URL once data flows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="data-flow-wait", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(3.0)

    def _run(self) -> None:
        import httpx

        wait = DataFlowWait(time.monotonic(), self.settings.health_start_grace_s)
        url = f"{self.settings.dashboard_url}/healthz"
        while not self._stop.is_set():
            try:
                health, error = httpx.get(url, timeout=2.0).json(), None  # a 503 says why in its body too
            except (httpx.HTTPError, ValueError) as problem:
                health, error = None, type(problem).__name__
            lines = wait.observe(health, error, time.monotonic())
            if self._stop.is_set():
                return  # Ctrl-C meanwhile: say nothing more
            for line in lines:
                typer.echo(line)
            if wait.done:
                listening = self.settings.dashboard_host
                where = f" (listening on {listening or 'every address'})" if listening in WILDCARD_HOSTS else ""
                typer.secho(f"\nDashboard: {self.settings.dashboard_url}{where}   (Ctrl-C stops everything)", bold=True)
                return
            self._stop.wait(DATA_WAIT_POLL_S)


# The names `serve` takes are the services serve.py knows: one list, not two.
ServiceName = StrEnum("ServiceName", {name.replace("-", "_"): name for name in SERVICES})  # type: ignore[misc]


# The choices of serve's --log-level; an enum like NetworkChoice, their members have nothing in common.
class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LiveSourceChoice(StrEnum):
    cta_train_tracker = "cta-train-tracker"
    gtfs_rt = "gtfs-rt"


@app.command("record")
def record(
    ctx: typer.Context,
    source: Annotated[
        LiveSourceChoice,
        typer.Option(
            help="The live feed to record: the CTA's Train Tracker (needs TRANSIT_CTA_TRAIN_TRACKER_KEY) or an "
            "agency's GTFS-realtime (TRANSIT_GTFS_STATIC and TRANSIT_GTFS_RT_*_URL, or a --profile).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="New directory for the recording.", show_default=False)],
    polls: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many polls (default: until Ctrl-C).", show_default=False)
    ] = None,
) -> None:
    """Save a real feed's raw responses, with the time each was fetched, for `--source replay:DIR`.

    One file per response and an index (index.jsonl), at the feed's poll interval; docs/FEEDS.md
    describes the format. The API key is never written down. Ctrl-C ends the recording, keeping
    every poll so far.
    """
    from transit_status.feeds.runner import record_feed

    with_options(ctx, source=source.value)
    stop = threading.Event()
    interrupt_on_stop_signals()
    say(f"Recording {source.value} into {out} ... (Ctrl-C stops)")
    try:
        done = record_feed(ctx.obj, out, stop, polls, report=say)
    except KeyboardInterrupt:
        stop.set()
        say(f"\nStopped; the recording in {out} keeps every poll so far.")
        return
    except TransitError as problem:
        fail(str(problem))
    say(f"Recorded {done} poll(s) in {out}.")


@app.command("sql")
def sql(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Run this SQL file instead of opening the shell.")
    ] = None,
) -> None:
    """Flink's SQL client on the running SQL Gateway, like the original design's `ksql` CLI.

    The session starts with the pipeline's tables (transit_status/sql/tables.sql), so e.g.
    `SELECT * FROM turnstile_summary;` shows the counts changing. ${...} placeholders in FILE are
    filled in as in the pipeline's own SQL files.
    """
    import subprocess

    from transit_status.pipeline.sql_jobs import sql_client_launch

    if file is not None and not file.is_file():
        fail(f"no such SQL file: {file}")
    try:
        command, env = sql_client_launch(ctx.obj, file)
    except TransitError as problem:
        fail(str(problem))
    # The client owns the terminal; Ctrl-C belongs to it (it cancels a running query, not the shell).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    completed = subprocess.run(command, env={**os.environ, **env}, check=False, preexec_fn=_default_sigint)
    raise typer.Exit(completed.returncode)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@app.command("serve")
def serve(
    ctx: typer.Context,
    service: Annotated[ServiceName, typer.Argument(help="Which service to run.")],
    log_level: Annotated[LogLevel, typer.Option(help="Log level.")] = LogLevel.info,
) -> None:
    """Run one service in the foreground, logging to stdout; SIGTERM or Ctrl-C stops it cleanly.

    This is how `platform up` and `run` start each Python service; run it by hand to debug one.
    """
    from transit_status.serve import run_service

    raise typer.Exit(run_service(service.value, ctx.obj, log_level.value))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
