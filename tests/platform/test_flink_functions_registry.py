"""The schema fetch both our Flink SQL functions use (jars/flink-functions, RegistrySchemas) against a
registry that requires basic auth (Confluent Cloud's does), in a real JVM against a real HTTP server:
the credentials come from the TaskManager's environment, never from the SQL. The functions themselves
inside a Flink job are not run against such a registry here (ours takes no auth)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from transit_status.config import load_settings
from transit_status.platform import jvm
from transit_status.platform.services import flink

pytestmark = pytest.mark.system

USER, PASSWORD = "registry-key", "registry-secret"
SCHEMA = {"type": "record", "name": "barrier_key", "fields": [{"name": "station", "type": "string"}]}

# A single-file program (java runs it from source): the functions' own class fetches schema 1.
PROBE = """
import io.transitstatus.flink.RegistrySchemas;

public class Probe {
    public static void main(String[] args) {
        try {
            System.out.println("schema: " + new RegistrySchemas().fetch(args[0], Integer.parseInt(args[1])));
        } catch (IllegalStateException e) {
            System.out.println("refused: " + e.getMessage());
        }
    }
}
"""


class AuthenticatingRegistry(BaseHTTPRequestHandler):
    """Answers GET /schemas/ids/1 only with the right basic auth, as Confluent Cloud's registry does."""

    def do_GET(self) -> None:
        header = self.headers.get("Authorization")
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if header != expected:
            self._answer(401, {"error_code": 401, "message": "Unauthorized"})
        elif self.path == "/schemas/ids/1":
            self._answer(200, {"schema": json.dumps(SCHEMA)})
        else:
            self._answer(404, {"error_code": 40403, "message": "Schema not found"})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AuthenticatingRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def classpath() -> str:
    """The functions' jar on Flink's own lib/, as in a TaskManager (Avro logs through Flink's SLF4J)."""
    settings = load_settings()
    jvm.fetch_jars(settings)  # builds jars/flink-functions when its sources changed (cached otherwise)
    return os.pathsep.join([str(flink.functions_jar(settings)), str(flink.distribution_home(settings) / "lib" / "*")])


def fetch(classpath: str, registry: str, schema_id: int, tmp_path: Path, **env: str) -> str:
    probe = tmp_path / "Probe.java"
    probe.write_text(PROBE)
    environment = {key: value for key, value in os.environ.items() if key != flink.REGISTRY_USER_INFO_ENV}
    result = subprocess.run(
        [jvm.java_executable(), "-cp", classpath, str(probe), registry, str(schema_id)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_credentials_in_the_taskmanagers_environment_are_sent(
    classpath: str, registry: str, tmp_path: Path
) -> None:
    settings = load_settings(schema_registry_username=USER, schema_registry_password=PASSWORD)
    answer = fetch(classpath, registry, 1, tmp_path, **flink.registry_credentials(settings))
    assert answer.startswith("schema: "), answer
    assert json.loads(answer.removeprefix("schema: ")) == SCHEMA


def test_without_credentials_the_refusal_says_what_is_missing(classpath: str, registry: str, tmp_path: Path) -> None:
    answer = fetch(classpath, registry, 1, tmp_path)
    assert answer.startswith("refused: "), answer
    assert "answered 401" in answer and flink.REGISTRY_USER_INFO_ENV in answer


def test_wrong_credentials_are_refused_without_showing_them(classpath: str, registry: str, tmp_path: Path) -> None:
    answer = fetch(classpath, registry, 1, tmp_path, **{flink.REGISTRY_USER_INFO_ENV: f"{USER}:wrong-secret"})
    assert "refused the credentials" in answer and "wrong-secret" not in answer


def test_only_a_registry_user_puts_credentials_in_the_taskmanagers_environment(classpath: str, tmp_path: Path) -> None:
    def taskmanager_env(state: str, **values: str) -> dict[str, str]:
        settings = load_settings(state_dir=tmp_path / state, **values)
        taskmanager = next(spec for spec in flink.specs(settings) if spec.name == "flink-taskmanager")
        assert taskmanager.prepare is not None
        return taskmanager.prepare().env

    with_user = taskmanager_env("auth", schema_registry_username=USER, schema_registry_password=PASSWORD)
    assert with_user[flink.REGISTRY_USER_INFO_ENV] == f"{USER}:{PASSWORD}"
    assert flink.REGISTRY_USER_INFO_ENV not in taskmanager_env("open")
