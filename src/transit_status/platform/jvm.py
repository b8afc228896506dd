"""What the JVM services share: the JDK, JVM options, properties files and the jar cache (Flink's too).

The jars come from Maven Central through the poms under ``jars/`` (``make jars`` or
``transit-status platform fetch-jars``) into ``settings.jars_dir``; our own small Java parts (OpenSearch's
launcher, the Flink functions, the Connect Avro converter) are built there from their sources by Maven.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from transit_status.config import PROJECT_ROOT, Settings
from transit_status.platform.errors import MissingDependencyError, PlatformError

JDK_HINT = (
    "install a JDK 17+ with `scripts/setup-system.sh` (e.g. `sudo apt-get install openjdk-17-jdk-headless`) "
    "or set JAVA_HOME"
)
MAVEN_HINT = "install Maven with `sudo apt-get install maven` (or run `make setup`)"
POMS_DIR = PROJECT_ROOT / "jars"
KAFKA_JARS = "kafka"
CONNECT_PLUGINS = "connect-plugins"
DEBEZIUM_PLUGIN = "debezium-postgres"
DEBEZIUM_MARIADB_PLUGIN = "debezium-mariadb"
DEBEZIUM_JDBC_SINK_PLUGIN = "debezium-jdbc-sink"
# Our Confluent-wire-format Avro converter (jars/connect-avro-converter), a plugin directory of its own.
AVRO_CONVERTER_POM = "connect-avro-converter"
AVRO_CONVERTER_PLUGIN = "transit-avro-converter"
AVRO_CONVERTER_CLASS = "io.transitstatus.connect.ConfluentAvroConverter"
OPENSEARCH_JARS = "opensearch"
FLINK_JARS = "flink"
FLINK_FUNCTIONS = "flink-functions"
OPENSEARCH_LAUNCHER = "build/transit-opensearch-node.jar"  # built from jars/opensearch/src by Maven
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


# Kafka 4 (and Flink 2) need 17; an older default `java` (e.g. 11) next to a 17 must not be picked.
MIN_JAVA = 17
JVM_ROOT = Path("/usr/lib/jvm")
_VERSION = re.compile(r'(?:version "|javac )(\d+)(?:\.(\d+))?')


def java_major(java: str | Path) -> int | None:
    """The major version ``java -version`` (or ``javac -version``) reports: 8 for "1.8.0", None if unknown."""
    try:
        completed = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(completed.stderr + completed.stdout)  # java prints to stderr, javac to stdout
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_executable(java_home: str | None = None, path: str | None = None, jvm_root: Path = JVM_ROOT) -> str:
    """A Java 17+: JAVA_HOME's, else the PATH's ``java``, else the oldest 17+ JDK under ``jvm_root``
    (17 before 21 before newer: the versions Kafka and Flink are tested on come first)."""
    java_home = java_home if java_home is not None else os.environ.get("JAVA_HOME")
    return _find_java(java_home or "", path if path is not None else os.environ.get("PATH", ""), jvm_root)


@functools.lru_cache(maxsize=8)  # every JVM service asks; `java -version` takes a while
def _find_java(java_home: str, path: str, jvm_root: Path) -> str:
    candidates: list[str] = []
    if java_home and (Path(java_home) / "bin" / "java").exists():
        candidates.append(str(Path(java_home) / "bin" / "java"))
    if found := shutil.which("java", path=path):
        candidates.append(found)
    installed = sorted(jvm_root.glob("*/bin/java"), key=lambda java: _version_key(java.parent.parent.name))
    candidates += [str(java) for java in installed]
    too_old = []
    for candidate in dict.fromkeys(candidates):
        major = java_major(candidate)
        if major is not None and major >= MIN_JAVA:
            return candidate
        too_old.append(f"{candidate} (version {major or 'unknown'})")
    if too_old:
        raise MissingDependencyError(f"Kafka needs Java {MIN_JAVA}+, found only {', '.join(too_old)}: {JDK_HINT}")
    raise MissingDependencyError(f"Java not found (Kafka and Kafka Connect run on it): {JDK_HINT}")


def _version_key(name: str) -> tuple[int, str]:
    digits = re.search(r"\d+", name.replace("1.", "", 1) if name.startswith("java-1.") else name)
    return (int(digits.group()) if digits else 0, name)


def java_home() -> str:
    """The JDK home of :func:`java_executable` (for Maven and Flink's scripts, which take JAVA_HOME)."""
    return str(Path(java_executable()).resolve().parent.parent)


def kafka_classpath(settings: Settings) -> str:
    return str(settings.jars_dir / KAFKA_JARS / "*")


def opensearch_classpath(settings: Settings) -> str:
    jars = settings.jars_dir / OPENSEARCH_JARS
    return f"{jars / '*'}{os.pathsep}{jars / OPENSEARCH_LAUNCHER}"


def plugin_path(settings: Settings) -> Path:
    return settings.jars_dir / CONNECT_PLUGINS


def _complete_marker(settings: Settings) -> Path:
    return settings.jars_dir / ".complete"


def jars_present(settings: Settings) -> bool:
    """True once a fetch has finished (an interrupted Maven copy leaves no marker), Flink's included."""
    from transit_status.platform.services import flink

    fetched = all(_pom_fetched(pom, output) for pom, output in _poms(settings))
    return _complete_marker(settings).exists() and fetched and flink.is_installed(settings)


def _poms(settings: Settings) -> list[tuple[Path, Path]]:
    """Every pom under ``jars/`` and the directory its jars are copied into."""
    return [
        (POMS_DIR / "kafka" / "pom.xml", settings.jars_dir / KAFKA_JARS),
        (POMS_DIR / DEBEZIUM_PLUGIN / "pom.xml", plugin_path(settings) / DEBEZIUM_PLUGIN),
        (POMS_DIR / DEBEZIUM_MARIADB_PLUGIN / "pom.xml", plugin_path(settings) / DEBEZIUM_MARIADB_PLUGIN),
        (POMS_DIR / DEBEZIUM_JDBC_SINK_PLUGIN / "pom.xml", plugin_path(settings) / DEBEZIUM_JDBC_SINK_PLUGIN),
        (POMS_DIR / OPENSEARCH_JARS / "pom.xml", settings.jars_dir / OPENSEARCH_JARS),
        (POMS_DIR / FLINK_JARS / "pom.xml", settings.jars_dir / FLINK_JARS),
        (POMS_DIR / FLINK_FUNCTIONS / "pom.xml", settings.jars_dir / FLINK_FUNCTIONS),
        (POMS_DIR / AVRO_CONVERTER_POM / "pom.xml", plugin_path(settings) / AVRO_CONVERTER_PLUGIN),
    ]


def _build_dir(settings: Settings, output: Path) -> Path:
    """Where Maven compiles a pom's sources: beside its jars, except for a Connect plugin, whose directory
    must hold only jars (Connect warns about class files there and ignores them)."""
    if output.parent == plugin_path(settings):
        return settings.jars_dir / "build" / output.name
    return output / "build"


def _pom_marker(output: Path) -> Path:
    return output / ".fetched"


def _pom_digest(pom: Path) -> str:
    """The pom and any sources built with it: a change to either means fetching (building) again."""
    digest = hashlib.sha256(pom.read_bytes())
    for source in sorted(path for path in (pom.parent / "src").rglob("*") if path.is_file()):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _pom_fetched(pom: Path, output: Path) -> bool:
    """This pom's jars were copied completely, from this very pom (an interrupted copy leaves no marker)."""
    marker = _pom_marker(output)
    return marker.exists() and marker.read_text() == _pom_digest(pom)


def fetch_jars(settings: Settings, quiet: bool = True) -> None:
    """Resolve the jars from Maven Central, build our own, install Flink from PyPI (once; cached afterwards)."""
    from transit_status.platform.services import flink

    mvn = shutil.which("mvn")
    if not mvn:
        raise MissingDependencyError(f"Maven not found (it fetches Kafka's jars once): {MAVEN_HINT}")
    for pom, output in _poms(settings):
        if _pom_fetched(pom, output):
            continue
        # A pom with Java sources next to it (OpenSearch's launcher, our Flink functions, our Connect
        # converter) is also compiled and packaged; the converter's pom puts its jar into `output`.
        build = (
            ["package", f"-Dtransit.build.dir={_build_dir(settings, output)}", f"-Dtransit.jar.dir={output}"]
            if (pom.parent / "src").is_dir()
            else []
        )
        command = [mvn, "-B", "-f", str(pom), *build, "dependency:copy-dependencies", f"-DoutputDirectory={output}"]
        if quiet:
            command.insert(1, "-q")
        # Maven compiles with JAVA_HOME's JDK (else the PATH's): the one the platform runs on.
        env = {**os.environ, "JAVA_HOME": java_home()}
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if result.returncode != 0:
            raise PlatformError(f"Maven could not resolve {pom.relative_to(PROJECT_ROOT)}:\n{result.stdout[-3000:]}")
        _pom_marker(output).write_text(_pom_digest(pom))
    flink.install_distribution(settings)
    _complete_marker(settings).write_text("fetched by transit-status platform fetch-jars\n")


def jvm_options(heap: str, log_dir: Path) -> list[str]:
    return [
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={log_dir}",
    ]


def java_command(
    heap: str, log_dir: Path, classpath: str, main_class: str, *arguments: str, options: Sequence[str] = ()
) -> list[str]:
    """A JVM service's command line: the platform's JVM options, then the service's own ``options``."""
    return [java_executable(), *jvm_options(heap, log_dir), *options, "-cp", classpath, main_class, *arguments]


def write_properties(path: Path, properties: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return path
