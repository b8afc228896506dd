"""Apache Flink on the machine's JDK: a JobManager, TaskManagers and the SQL Gateway (a session cluster).

The distribution is the one inside PyPI's ``apache-flink`` wheels (``pyflink/bin``, ``lib``, ``opt``),
installed with ``pip --no-deps --target`` into ``settings.flink_dir``: apart from the project's venv,
whose dependencies its pins (pandas, pyarrow, apache-beam) would otherwise constrain, and without those
pins at all, since nothing here runs Python UDFs. What the wheel lacks comes from Maven Central
through ``jars/flink/pom.xml`` (the Kafka connector, the Confluent Avro format, the SQL Gateway jar);
our own SQL functions are built from ``jars/flink-functions``.

Each process is started with the wheel's own ``bin/*.sh start-foreground`` scripts (they size the JVM
from the memory settings, then ``exec`` Java), pointed by ``FLINK_CONF_DIR``/``FLINK_LIB_DIR``/
``FLINK_OPT_DIR`` at folders under the state directory, so the installed distribution is never changed.

``settings.flink_taskmanagers`` TaskManagers share that configuration; each is told apart by its resource
id (its service name: the JobManager's REST API lists it, and a restarted one takes its predecessor's
place at once) and ``FLINK_IDENT_STRING`` (the scripts' pid and log file names). Their RPC, data and
metrics ports are Flink's default, 0: any free one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import yaml

from transit_status.config import Settings
from transit_status.platform import jvm
from transit_status.platform.errors import MissingDependencyError, PlatformError
from transit_status.platform.service import Launch, ServiceSpec

FLINK_VERSION = "2.3.0"
WHEELS = (f"apache-flink=={FLINK_VERSION}", f"apache-flink-libraries=={FLINK_VERSION}")
FUNCTIONS_JAR = "transit-status-flink-functions.jar"
# Read by jars/flink-functions' RegistrySchemas: the registry's basic auth, "user:password".
REGISTRY_USER_INFO_ENV = "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"
GATEWAY_JAR_PREFIX = "flink-sql-gateway"
CHECKPOINTS = "checkpoints"
SAVEPOINTS = "savepoints"
TASKMANAGER = "flink-taskmanager"

# Flink's console logging, quietened: the supervisor writes stdout to logs/<service>.log.
LOG4J_CONSOLE = """\
monitorInterval = 0
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4
logger.netty.level = WARN
# Two committers in one job register the same metric name; Flink warns every checkpoint.
logger.metrics.name = org.apache.flink.metrics.MetricGroup
logger.metrics.level = ERROR
"""


# ---- installation ---------------------------------------------------------------------------------


def distribution_home(settings: Settings) -> Path:
    """``FLINK_HOME``: the ``pyflink`` folder of the installed wheels (bin/, lib/, opt/, conf/)."""
    return settings.flink_dir / "site" / "pyflink"


def jars_dir(settings: Settings) -> Path:
    """Connector, format and gateway jars (``jars/flink/pom.xml``), fetched by ``platform/jvm.py``."""
    return settings.jars_dir / "flink"


def functions_jar(settings: Settings) -> Path:
    """Our SQL functions, built from ``jars/flink-functions`` by ``platform/jvm.py``."""
    return settings.jars_dir / "flink-functions" / "build" / FUNCTIONS_JAR


def _installed_marker(settings: Settings) -> Path:
    return settings.flink_dir / f".installed-{FLINK_VERSION}"


def is_installed(settings: Settings) -> bool:
    """The distribution is in place (an interrupted install leaves no marker)."""
    return _installed_marker(settings).exists()


def install_distribution(settings: Settings) -> None:
    """``pip install --no-deps --target`` of the apache-flink wheels, once, atomically."""
    if _installed_marker(settings).exists():
        return
    settings.flink_dir.mkdir(parents=True, exist_ok=True)
    staging = settings.flink_dir / "site.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(staging), *WHEELS]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PlatformError(f"installing Flink ({' '.join(WHEELS)}) from PyPI failed:\n{result.stderr[-3000:]}")
    shutil.rmtree(settings.flink_dir / "site", ignore_errors=True)
    staging.rename(settings.flink_dir / "site")
    _installed_marker(settings).write_text(f"{' '.join(WHEELS)}\n")


# ---- configuration --------------------------------------------------------------------------------


def flink_state_dir(settings: Settings) -> Path:
    return settings.state_dir / "flink"


def checkpoints_dir(settings: Settings) -> Path:
    return flink_state_dir(settings) / CHECKPOINTS


def savepoints_dir(settings: Settings) -> Path:
    return flink_state_dir(settings) / SAVEPOINTS


def flink_configuration(settings: Settings, distribution_defaults: dict[str, Any]) -> dict[str, Any]:
    """Flat ``config.yaml`` keys: the distribution's JVM options, then ours."""
    host, state = settings.host, flink_state_dir(settings)
    return {
        # The module opens Java 17 needs (--add-opens ...), as the distribution ships them.
        "env.java.opts.all": distribution_defaults.get("env.java.opts.all", ""),
        "env.java.opts.sql-gateway": f"-Xmx{settings.sql_gateway_heap} -XX:+UseSerialGC",
        "env.pid.dir": str(state / "run"),
        "env.log.dir": str(settings.logs_dir),
        "jobmanager.rpc.address": host,
        "jobmanager.rpc.port": settings.flink_rpc_port,
        "jobmanager.bind-host": host,
        "jobmanager.memory.process.size": settings.flink_jobmanager_memory,
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.host": host,
        "taskmanager.bind-host": host,
        "taskmanager.numberOfTaskSlots": settings.flink_task_slots,
        # A job's parallel instances go to different TaskManagers while there are free slots (by default
        # Flink fills one TaskManager first): parallelism 2 on two TaskManagers uses both.
        "taskmanager.load-balance.mode": "SLOTS",
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        # Managed memory is for RocksDB and batch operators; the hashmap state backend keeps state on
        # the heap, so the TaskManager's memory goes to the task heap instead.
        "taskmanager.memory.managed.size": "0m",
        "parallelism.default": settings.flink_job_parallelism,
        "rest.address": host,
        "rest.bind-address": host,
        "rest.port": settings.flink_rest_port,
        "io.tmp.dirs": str(state / "tmp"),
        "blob.storage.directory": str(state / "blobs"),
        "web.tmpdir": str(state / "web"),
        # A killed TaskManager is noticed in seconds (default 50 s), so the job restarts soon.
        "heartbeat.interval": "2 s",
        "heartbeat.timeout": "10 s",
        "state.backend.type": "hashmap",
        "execution.checkpointing.interval": f"{int(settings.flink_checkpoint_interval_s * 1000)} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        # Barriers overtake buffered records instead of queueing behind them: under a backlog the
        # checkpoints (and with them the exactly-once output) keep their pace. Those records are
        # stored in the checkpoint instead, so the guarantee is the same.
        "execution.checkpointing.unaligned.enabled": True,
        "execution.checkpointing.dir": checkpoints_dir(settings).as_uri(),
        "execution.checkpointing.savepoint-dir": savepoints_dir(settings).as_uri(),
        # Kept when a job is cancelled (or Flink dies): a restart resumes from the newest one.
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": 3,
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "10 s",
        # The SQL Gateway submits to this session cluster.
        "execution.target": "remote",
        "sql-gateway.endpoint.rest.address": host,
        "sql-gateway.endpoint.rest.bind-address": host,
        "sql-gateway.endpoint.rest.port": settings.sql_gateway_port,
    }


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def prepare(settings: Settings) -> dict[str, str]:
    """Write the configuration, assemble lib/ and opt/; return the environment the scripts need."""
    home = distribution_home(settings)
    if not (home / "bin" / "jobmanager.sh").exists():
        raise MissingDependencyError(
            f"Flink is not installed in {settings.flink_dir}: "
            "run `transit-status platform fetch-jars` (or `make setup`)"
        )
    state = flink_state_dir(settings)
    conf, lib, opt = state / "conf", state / "lib", state / "opt"
    for folder in (conf, state / "run", state / "tmp", checkpoints_dir(settings), savepoints_dir(settings)):
        folder.mkdir(parents=True, exist_ok=True)
    defaults = _flatten(yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {})
    config = flink_configuration(settings, defaults)
    _write_atomically(conf / "config.yaml", yaml.safe_dump(config, default_flow_style=False, sort_keys=True))
    _write_atomically(conf / "log4j-console.properties", LOG4J_CONSOLE)
    _write_atomically(conf / "log4j-cli.properties", LOG4J_CONSOLE.replace("INFO", "WARN", 1))
    extra = [*sorted(jars_dir(settings).glob("*.jar")), functions_jar(settings)]
    _link_jars(lib, [*sorted((home / "lib").glob("*.jar")), *(j for j in extra if not _is_gateway(j))])
    _link_jars(opt, [*sorted((home / "opt").glob("*.jar")), *(j for j in extra if _is_gateway(j))])
    return environment(settings)


def registry_credentials(settings: Settings) -> dict[str, str]:
    """The registry's basic auth for our SQL functions (``RegistrySchemas.USER_INFO_ENV``), in the
    TaskManagers' environment: never in the SQL, which the gateway logs and Flink's web UI shows."""
    if not settings.schema_registry_username:
        return {}
    password = settings.schema_registry_password.get_secret_value()
    return {REGISTRY_USER_INFO_ENV: f"{settings.schema_registry_username}:{password}"}


def environment(settings: Settings) -> dict[str, str]:
    """What Flink's scripts (the services', and the SQL client's) need to find our configuration and jars."""
    state = flink_state_dir(settings)
    env = {
        "FLINK_CONF_DIR": str(state / "conf"),
        "FLINK_LIB_DIR": str(state / "lib"),
        "FLINK_OPT_DIR": str(state / "opt"),
    }
    # Flink's scripts run JAVA_HOME's java, else the PATH's: it must be the 17+ the platform chose.
    env["JAVA_HOME"] = jvm.java_home()
    return env


def _is_gateway(jar: Path) -> bool:
    return jar.name.startswith(GATEWAY_JAR_PREFIX)


def _write_atomically(path: Path, text: str) -> None:
    # The three Flink processes start together: one must never read another's half-written file.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def _link_jars(folder: Path, jars: list[Path]) -> None:
    """A folder of symlinks to exactly ``jars``, updated in place.

    Links already right are left alone: another Flink process starting at the same moment may be
    listing the folder for its classpath.
    """
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {jar.name: jar for jar in jars}
    for entry in folder.iterdir():
        if entry.name not in wanted or not entry.is_symlink() or entry.readlink() != wanted[entry.name]:
            entry.unlink()
    for name, jar in wanted.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(jar)


def script(settings: Settings, name: str) -> str:
    return str(distribution_home(settings) / "bin" / name)


def jobmanager_command(settings: Settings) -> list[str]:
    return ["bash", script(settings, "jobmanager.sh"), "start-foreground"]


def taskmanager_command(settings: Settings, name: str = TASKMANAGER) -> list[str]:
    return ["bash", script(settings, "taskmanager.sh"), "start-foreground", f"-Dtaskmanager.resource-id={name}"]


def taskmanager_names(settings: Settings) -> tuple[str, ...]:
    """The TaskManagers' service names, which are also their resource ids: flink-taskmanager, then -2, -3 ..."""
    return tuple(TASKMANAGER if n == 1 else f"{TASKMANAGER}-{n}" for n in range(1, settings.flink_taskmanagers + 1))


def taskmanagers_named(names: Iterable[str]) -> int:
    """How many TaskManagers ``names`` (a latest ``up``'s services) ran: the highest one's number, 0 for none."""
    numbers = [1 if name == TASKMANAGER else _taskmanager_number(name) for name in names]
    return max((n for n in numbers if n), default=0)


def _taskmanager_number(name: str) -> int:
    prefix = f"{TASKMANAGER}-"
    suffix = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(suffix) if suffix.isdigit() else 0


def sql_gateway_command(settings: Settings) -> list[str]:
    return ["bash", script(settings, "sql-gateway.sh"), "start-foreground"]


def sql_client_command(settings: Settings, *args: str) -> list[str]:
    """Flink's SQL client against our gateway (``sql-client.sh gateway --endpoint host:port``)."""
    endpoint = settings.sql_gateway_url
    return ["bash", script(settings, "sql-client.sh"), "gateway", "--endpoint", endpoint, *args]


# ---- readiness ------------------------------------------------------------------------------------


def cluster_overview(settings: Settings) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{settings.flink_rest_url}/overview", timeout=2.0)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def jobmanager_ready(settings: Settings) -> bool:
    return cluster_overview(settings) is not None


def registered_taskmanagers(settings: Settings) -> dict[str, dict[str, Any]] | None:
    """The TaskManagers registered with the JobManager, by resource id (None: it does not answer)."""
    try:
        response = httpx.get(f"{settings.flink_rest_url}/taskmanagers", timeout=2.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return {str(tm["id"]): tm for tm in response.json().get("taskmanagers", [])}


def taskmanager_ready(settings: Settings, name: str = TASKMANAGER) -> bool:
    """TaskManager ``name`` has registered its slots with the JobManager."""
    registered = registered_taskmanagers(settings)
    return bool(registered) and registered.get(name, {}).get("slotsNumber", 0) > 0  # type: ignore[union-attr]


def gateway_opens_a_session(settings: Settings) -> bool:
    try:
        opened = httpx.post(f"{settings.sql_gateway_url}/v1/sessions", json={}, timeout=5.0)
        if opened.status_code != 200:
            return False
        httpx.delete(f"{settings.sql_gateway_url}/v1/sessions/{opened.json()['sessionHandle']}", timeout=5.0)
        return True
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def gateway_answers(settings: Settings) -> bool:
    try:
        return httpx.get(f"{settings.sql_gateway_url}/v1/info", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


# ---- services -------------------------------------------------------------------------------------


def specs(settings: Settings) -> list[ServiceSpec]:
    """Flink as a session cluster: JobManager, ``flink_taskmanagers`` TaskManagers, and the SQL Gateway
    in front of them.

    They need nothing else to start (the SQL jobs reach Kafka and the registry once submitted), and
    all start at once: a TaskManager keeps registering until the JobManager answers, and the gateway
    needs the JobManager only when a statement runs. Each TaskManager is a service of its own: the
    supervisor restarts each one alone.
    """

    def launch(command: list[str], **env: str) -> Launch:
        return Launch(command=command, env={**prepare(settings), **env})

    def taskmanager(name: str) -> ServiceSpec:
        return ServiceSpec(
            name=name,
            port=0,
            after=(),
            needs=("flink-jobmanager",),
            uses=settings.kafka_services,  # its tasks read and write Kafka (transactions)
            # Its own pid file and log file name in Flink's scripts (flink-<ident>-taskexecutor...).
            prepare=lambda: launch(
                taskmanager_command(settings, name), FLINK_IDENT_STRING=name, **registry_credentials(settings)
            ),
            is_ready=lambda: taskmanager_ready(settings, name),
        )

    return [
        ServiceSpec(
            name="flink-jobmanager",
            port=settings.flink_rest_port,
            extra_ports=(settings.flink_rpc_port,),
            after=(),
            uses=settings.kafka_services,  # its jobs' sources and sinks (split enumerators, transaction ids)
            prepare=lambda: launch(jobmanager_command(settings)),
            is_ready=lambda: jobmanager_ready(settings),
        ),
        *(taskmanager(name) for name in taskmanager_names(settings)),
        ServiceSpec(
            name="sql-gateway",
            port=settings.sql_gateway_port,
            after=(),
            needs=("flink-jobmanager",),
            prepare=lambda: launch(sql_gateway_command(settings)),
            is_ready=lambda: gateway_opens_a_session(settings),
            is_healthy=lambda: gateway_answers(settings),
        ),
    ]
