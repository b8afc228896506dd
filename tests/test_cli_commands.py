"""The command line's edges, without a platform: a bad SQL file, stop signals in a background job."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "transit_status.cli"]


def test_a_bare_dollar_in_an_sql_file_is_a_clear_error_naming_file_and_line(tmp_path: Path) -> None:
    script = tmp_path / "prices.sql"
    script.write_text("SELECT 1;\n-- ${bootstrap_servers} is filled in\nSELECT 'costs $5' FROM t;\n")
    result = subprocess.run([*CLI, "sql", "-f", str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert f"{script}, line 3:" in result.stderr and "`$$`" in result.stderr
    assert "Traceback" not in result.stderr


# A background job of a non-interactive shell starts with SIGINT ignored; the command then sleeps.
SLEEPER = """
import sys, time
from transit_status import cli
if sys.argv[1] == "installed":
    cli.interrupt_on_stop_signals()
try:
    print("ready", flush=True)  # inside the try: a SIGINT right after it is handled too
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def _sleeper(variant: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, variant],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_sigint_stops_a_command_started_with_sigint_ignored() -> None:
    # Without the handler, Python keeps the inherited "ignore": SIGINT does nothing.
    ignoring = _sleeper("default")
    try:
        ignoring.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert ignoring.poll() is None
    finally:
        ignoring.kill()
        ignoring.wait(10)

    stoppable = _sleeper("installed")
    stoppable.send_signal(signal.SIGINT)
    assert stoppable.wait(30) == 130
    assert stoppable.stdout is not None and stoppable.stdout.read() == "interrupted\n"
