"""`run --source`: a real source runs the `feed` process instead of the simulation, derived from the same
ServiceSpec list (so `run` starts no REST Proxy for it), and a bad --source is one clear line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from transit_status.cli import app
from transit_status.config import load_settings
from transit_status.pipeline import pipeline_services, whole_stack
from transit_status.pipeline.external import required_services
from transit_status.serve import SERVICES

RECORDING = Path(__file__).parents[1] / "feeds" / "recordings" / "cta-train-tracker-constructed"
KEY = "cli-s3cret-key-0042"
SOURCE_VARIABLES = ("TRANSIT_SOURCE", "TRANSIT_CTA_", "TRANSIT_GTFS_", "TRANSIT_REPLAY_", "TRANSIT_RUN_NETWORKS")


@pytest.fixture(autouse=True)
def no_source_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's exported key or source (the README says to export the key) must not turn these tests into
    a real run (`run` with a valid source starts the platform): each test's settings are its own."""
    for name in list(os.environ):
        if name.startswith(SOURCE_VARIABLES):
            monkeypatch.delenv(name)


def names(settings_values: dict[str, object]) -> tuple[set[str], set[str]]:
    settings = load_settings(**settings_values)  # type: ignore[arg-type]
    return {spec.name for spec in pipeline_services(settings)}, {spec.name for spec in whole_stack(settings)}


@pytest.mark.parametrize(
    "source",
    [
        {"source": f"replay:{RECORDING}"},
        {"source": "cta-train-tracker", "cta_train_tracker_key": KEY},
    ],
)
def test_a_real_source_runs_the_feed_instead_of_the_simulation_and_needs_no_rest_proxy(
    source: dict[str, object],
) -> None:
    pipeline, stack = names({"run_networks": "cta", **source})
    assert pipeline == {"dashboard", "streams", "feed", "watchdog"}
    assert "rest-proxy" not in stack and "simulation" not in stack
    assert "rest-proxy" not in required_services(load_settings(run_networks="cta", **source))  # --pipeline-only
    assert "feed" in SERVICES  # `serve feed` is what the supervisor starts

    simulated, simulated_stack = names({"run_networks": "cta"})
    assert simulated == {"dashboard", "streams", "simulation", "watchdog"} and "rest-proxy" in simulated_stack


def test_the_feed_starts_after_the_stream_processor_and_the_dashboard_like_the_simulation() -> None:
    settings = load_settings(source=f"replay:{RECORDING}")
    feed = next(spec for spec in pipeline_services(settings) if spec.name == "feed")
    assert set(feed.after) == {"streams", "dashboard"}
    assert "serve" in feed.prepare().command and feed.prepare().command[-1] == "feed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--source", "tfl"], "expected one of simulation, cta-train-tracker, gtfs-rt or replay:DIR"),
        (["--source", "cta-train-tracker"], "source cta-train-tracker needs cta_train_tracker_key"),
        (["--source", "replay:/nowhere/at/all"], "holds no recording"),
        (["--source", f"replay:{RECORDING}", "--replay-speed", "0"], "replay_speed"),
        # The spelling: with a replay, --speed is the recording's speed (and checked as such).
        (["--source", f"replay:{RECORDING}", "--speed", "0"], "replay_speed"),
        (["--source", f"replay:{RECORDING}", "--speed", "5", "--replay-speed", "10"], "disagree"),
    ],
)
def test_a_bad_source_is_one_clear_line_before_anything_starts(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "run", *arguments])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "logs").exists()  # nothing was started


def command_paths() -> list[list[str]]:
    """Every command of the CLI, subcommands included (``[]`` is the top level)."""
    import typer.main

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str], ctx: Any) -> None:
        paths.append(path)
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                child = command.get_command(ctx, name)
                walk(child, [*path, name], type(ctx)(child, parent=ctx, info_name=name))

    walk(root, [], type(root.context_class(root))(root, info_name="transit-status"))
    return paths


def test_run_help_offers_the_sources(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "run", "--help"])
    assert result.exit_code == 0
    assert "--source" in result.output and "--replay-speed" in result.output and "replay:DIR" in result.output
    words = " ".join(word for word in result.output.split() if word != "│")  # the help's box, unwrapped
    assert "--speed <float> Simulated seconds per real second; with --source replay:DIR, how many times" in words


def test_no_help_of_any_command_shows_the_key_set_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSIT_CTA_TRAIN_TRACKER_KEY", KEY)
    monkeypatch.setenv("TRANSIT_SOURCE", "cta-train-tracker")  # a user running on the real feed
    paths = command_paths()
    assert {("run",), ("record",), ("serve",), ("platform", "up")} <= {tuple(path) for path in paths}
    for path in paths:
        result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), *path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        assert KEY not in result.output, path


@pytest.mark.parametrize(
    ("arguments", "environment", "message"),
    [
        # A URL that carries the key in its query, rejected: its error must not quote it.
        (["run", "--source", "cta-train-tracker"], {"TRANSIT_CTA_TRAIN_TRACKER_URL": f"ftp://cta.example/tt?key={KEY}"},
         "expected an http:// or https:// URL"),
        (["run", "--source", "cta-train-tracker"], {"TRANSIT_CTA_TRAIN_TRACKER_POLL_S": "1"},
         "cta_train_tracker_poll_s"),
        (["record", "--source", "cta-train-tracker", "--out", "OUT"],
         {"TRANSIT_CTA_TRAIN_TRACKER_URL": f"ftp://cta.example/tt?key={KEY}"}, "expected an http:// or https:// URL"),
        (["record", "--source", "cta-train-tracker", "--out", "OUT"], {"TRANSIT_CTA_TRAIN_TRACKER_POLL_S": "1"},
         "cta_train_tracker_poll_s"),
    ],
)  # fmt: skip
def test_the_error_of_a_bad_setting_next_to_the_key_never_shows_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], environment: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("TRANSIT_CTA_TRAIN_TRACKER_KEY", KEY)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    arguments = [str(tmp_path / "out") if argument == "OUT" else argument for argument in arguments]
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), *arguments])
    assert result.exit_code != 0 and message in result.output  # the error was given...
    assert KEY not in result.output and "Traceback" not in result.output  # ...without the key
    assert not (tmp_path / "logs").exists()  # nothing was started
