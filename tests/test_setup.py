"""Setting up other machines: scripts/setup-system.sh's checks, the JDK the platform picks, the browser
the tests find, the Makefile's venv. Fake `java`/`chromium` binaries stand in for installed ones."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ChromiumNotFound, find_chromium
from transit_status.config import PROJECT_ROOT
from transit_status.platform.errors import MissingDependencyError
from transit_status.platform.jvm import java_executable, java_major

SCRIPT = PROJECT_ROOT / "scripts" / "setup-system.sh"
JAVA_OUTPUTS = {
    "8": 'openjdk version "1.8.0_392"\nOpenJDK Runtime Environment (build 1.8.0_392-b08)',
    "11": 'openjdk version "11.0.21" 2023-10-17\nOpenJDK 64-Bit Server VM (build 11.0.21+9, mixed mode)',
    "17": 'openjdk version "17.0.9" 2023-10-17\nOpenJDK 64-Bit Server VM (build 17.0.9+9, mixed mode)',
    "21": 'openjdk version "21-ea" 2023-09-19\nOpenJDK 64-Bit Server VM (build 21-ea+30, mixed mode)',
}


def executable(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_jdk(home: Path, version: str) -> Path:
    """A JDK home whose java and javac say ``version`` as the real ones do (java on stderr, javac on stdout)."""
    executable(home / "bin" / "java", f"cat >&2 <<'EOF'\n{JAVA_OUTPUTS[version]}\nEOF")
    javac_version = "1.8.0_392" if version == "8" else JAVA_OUTPUTS[version].split('"')[1]
    executable(home / "bin" / "javac", f"echo 'javac {javac_version}'")
    return home


def script_function(call: str, env: dict[str, str], faked: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Source the script (defines its functions only) and run one of them (``faked``: tools the test fakes)."""
    with tempfile.TemporaryDirectory() as guard:
        # Should the script ever install from a test, it finds these first: never the machine's.
        for tool in {"apt-get", "sudo", "snap", "systemctl"} - set(faked):
            executable(Path(guard) / tool, f"echo 'a test ran {tool}' >&2; exit 97")
        path = f"{guard}:{env.get('PATH', os.environ['PATH'])}"
        # $0 must not be the script: that is how the script tells being run (it installs) from being sourced.
        return subprocess.run(
            ["bash", "-c", f'source "$1"; {call}', "setup-test", str(SCRIPT)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env, "PATH": path},
            check=False,
        )


def test_the_setup_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("version", "major"), [("8", "8"), ("11", "11"), ("17", "17"), ("21", "21")])
def test_the_script_reads_the_major_version_of_java_and_javac(tmp_path: Path, version: str, major: str) -> None:
    home = fake_jdk(tmp_path / "jdk", version)
    for tool in ("java", "javac"):
        result = script_function(f'java_major "{home / "bin" / tool}"', {})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == major


def test_an_old_default_java_needs_a_jdk_17_unless_one_is_installed_beside_it(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path / "jdk-11", "11")
    jvm_root = tmp_path / "jvm"
    jvm_root.mkdir()
    env = {"PATH": f"{old / 'bin'}:{os.environ['PATH']}", "JVM_ROOT": str(jvm_root), "JAVA_HOME": ""}

    assert script_function("jdk_ok", env).returncode == 1  # `command -v java` alone would have accepted it

    fake_jdk(jvm_root / "java-17-openjdk-amd64", "17")
    assert script_function("jdk_ok", env).returncode == 0


def test_a_jre_without_javac_is_not_a_jdk(tmp_path: Path) -> None:
    home = fake_jdk(tmp_path / "jre-17", "17")
    (home / "bin" / "javac").unlink()
    env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "JVM_ROOT": str(tmp_path / "none"), "JAVA_HOME": ""}
    assert script_function("jdk_ok", env).returncode == 1


def test_the_platform_runs_a_java_17_over_an_older_default_one(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path / "jdk-11", "11")
    jvm_root = tmp_path / "jvm"
    newer = fake_jdk(jvm_root / "java-21-openjdk-amd64", "21")
    fake_jdk(jvm_root / "java-17-openjdk-amd64", "17")

    assert java_major(old / "bin" / "java") == 11
    chosen = java_executable(java_home="", path=str(old / "bin"), jvm_root=jvm_root)
    assert chosen == str(jvm_root / "java-17-openjdk-amd64" / "bin" / "java")  # 17 before 21
    assert java_executable(java_home=str(newer), path=str(old / "bin"), jvm_root=jvm_root) == str(
        newer / "bin" / "java"
    )


def test_only_an_old_java_is_a_clear_error(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path / "jdk-11", "11")
    with pytest.raises(MissingDependencyError, match=r"needs Java 17\+, found only .*jdk-11/bin/java \(version 11\)"):
        java_executable(java_home="", path=str(old / "bin"), jvm_root=tmp_path / "none")


def test_apt_runs_noninteractive_through_sudo_too(tmp_path: Path) -> None:
    # sudo resets the environment: DEBIAN_FRONTEND must be on its command line, or a prompt hangs.
    executable(tmp_path / "id", "echo 1000")
    executable(tmp_path / "sudo", 'echo "sudo $*"')
    result = script_function("as_root apt-get update -q", {"PATH": f"{tmp_path}:/usr/bin:/bin"}, faked=("sudo",))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q"


def test_the_browser_is_the_one_a_variable_names_or_the_first_known_one(tmp_path: Path) -> None:
    snap = executable(tmp_path / "snap" / "chromium", "exit 0")
    chrome = executable(tmp_path / "bin" / "google-chrome", "exit 0")
    path = str(tmp_path / "bin")

    assert find_chromium({}, path=path) == str(chrome)
    assert find_chromium({"TRANSIT_TEST_CHROMIUM": str(snap)}, path=path) == str(snap)
    assert find_chromium({"CHROMIUM": "google-chrome"}, path=path) == str(chrome)
    with pytest.raises(ChromiumNotFound, match="TRANSIT_TEST_CHROMIUM=/nowhere/chromium is not"):
        find_chromium({"TRANSIT_TEST_CHROMIUM": "/nowhere/chromium"}, path=path)
    with pytest.raises(ChromiumNotFound, match=r"no Chromium found .*TRANSIT_TEST_CHROMIUM"):
        find_chromium({}, path=str(tmp_path / "empty"))


def test_the_script_finds_the_browser_the_tests_find(tmp_path: Path) -> None:
    executable(tmp_path / "bin" / "chromium-browser", "exit 0")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "TRANSIT_TEST_CHROMIUM": "", "CHROMIUM": ""}
    if shutil.which("chromium", path=env["PATH"]):
        env["PATH"] = f"{tmp_path / 'bin'}:/bin"  # this machine's /usr/bin/chromium would come first
    result = script_function("chromium_path", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == find_chromium(env, path=env["PATH"])


def test_the_makefile_recreates_a_venv_left_without_pip(tmp_path: Path) -> None:
    # A venv as a failed `python3 -m venv` leaves it (no python3-venv): bin/python, no pip.
    shutil.copy(PROJECT_ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    executable(tmp_path / ".venv" / "bin" / "python", "echo 'No module named pip' >&2; exit 1")
    (tmp_path / ".venv" / "left-over").write_text("")
    # The "python" creating the venv: one whose bin/python answers for pip and records the installs.
    log = tmp_path / "calls.log"
    python = executable(
        tmp_path / "python3",
        f'[ "$1 $2" = "-m venv" ] || exit 9\nmkdir -p "$3/bin"\n'
        f'printf \'#!/bin/sh\\necho "$@" >> {log}\\n\' > "$3/bin/python"\nchmod +x "$3/bin/python"',
    )
    result = subprocess.run(
        ["make", "-C", str(tmp_path), f"PYTHON={python}", ".cache/stamps/venv"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / ".venv" / "left-over").exists()
    assert "calls.log" in (tmp_path / ".venv" / "bin" / "python").read_text()  # the new venv's, not the broken one
    assert "-m pip install --quiet -e .[dev]" in log.read_text()
    assert (tmp_path / ".cache" / "stamps" / "venv").exists()
