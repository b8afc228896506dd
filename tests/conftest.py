"""Shared fixtures: one real embedded platform per test session, on free ports, in its own state dir."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from transit_status.config import Settings, load_settings
from transit_status.networks import Network, load_network
from transit_status.platform.ports import isolated_settings
from transit_status.platform.supervisor import Platform


@pytest.fixture(scope="session")
def network() -> Network:
    """The CTA network as every layer loads it (pure: no platform needed)."""
    return load_network(load_settings(network="cta"))


@pytest.fixture(scope="session")
def platform_state_dir(pytestconfig: pytest.Config) -> Iterator[Path]:
    # Not pytest's tmp_path: it is private to root (0700), and PostgreSQL runs as 'postgres'.
    # KEEP_TEST_STATE=1 keeps it (every service's log, Flink's checkpoints) to look into a failure.
    directory = Path(tempfile.mkdtemp(prefix="transit-test-"))
    os.chmod(directory, 0o755)
    try:
        yield directory
    finally:
        if os.environ.get("KEEP_TEST_STATE") == "1":
            # Past pytest's output capture, which would show a print only for a failed test.
            with pytestconfig.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
                print(f"\nthe test platform's state (logs in logs/) is kept in {directory}", flush=True)
        else:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def platform_supervisor(platform_state_dir: Path) -> Iterator[Platform]:
    # A start slowed by a busy machine is not what the tests measure: wait longer than `platform up` does.
    settings = isolated_settings(platform_state_dir, ready_timeout_s=300.0)
    supervisor = Platform(settings, report=lambda line: print(line, flush=True))
    try:
        supervisor.up()
        yield supervisor
    finally:
        supervisor.down()


@pytest.fixture(scope="session")
def platform(platform_supervisor: Platform) -> Settings:
    """Settings of a running embedded platform (Kafka, Connect, PostgreSQL, registry, REST proxy)."""
    return platform_supervisor.settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on the shared platform is marked ``platform`` (``make test-fast`` leaves those out);
    tests that restart it run last, so the others see one steady stack."""
    for item in items:
        if "platform" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.platform)
    items.sort(key=lambda item: item.get_closest_marker("restarts_platform") is not None)


# ---- the browser tests' Chromium: the distribution's, headless, driven by Playwright ---------------
# Debian has /usr/bin/chromium; Ubuntu only the snap (/snap/bin/chromium, or its chromium-browser
# wrapper); a Chrome works too. TRANSIT_TEST_CHROMIUM (or CHROMIUM) names another one.
CHROMIUM_VARIABLES = ("TRANSIT_TEST_CHROMIUM", "CHROMIUM")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/snap/bin/chromium", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class ChromiumNotFound(Exception):
    pass


def find_chromium(environ: Mapping[str, str] = os.environ, path: str | None = None) -> str:
    """The browser the tests drive: the one a variable names, else the first known one on the PATH."""
    for variable in CHROMIUM_VARIABLES:
        if value := environ.get(variable):
            # A browser asked for by name is that one or none: never silently another.
            if found := shutil.which(value, path=path):
                return found
            raise ChromiumNotFound(f"{variable}={value} is not an executable browser")
    for candidate in CHROMIUM_CANDIDATES:
        if found := shutil.which(candidate, path=path):
            return found
    raise ChromiumNotFound(
        f"no Chromium found (looked for {', '.join(CHROMIUM_CANDIDATES)} on the PATH): run "
        "`scripts/setup-system.sh --with-browser` (or `make test`), or set TRANSIT_TEST_CHROMIUM to a Chromium "
        "or Chrome"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        chromium = find_chromium()
    except ChromiumNotFound as missing:
        # A missing browser fails the run (never a silent skip): `make test` installs it.
        pytest.fail(str(missing))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
