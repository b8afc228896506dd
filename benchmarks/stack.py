"""What the dashboard benchmarks share: the whole stack on free ports in a temporary state directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transit_status.config import Settings
from transit_status.pipeline import whole_stack
from transit_status.platform.ports import isolated_settings
from transit_status.platform.supervisor import Platform

READY_TIMEOUT_S = 600.0
"""Benchmarks run on shared, loaded machines: a slow start is not what they measure."""


def stack_rss_mib(supervisor: Platform) -> dict[str, float]:
    """Resident memory (MiB) of every running service, its forked children included."""
    per_service = {}
    for name, record in supervisor.running().items():
        process = record.process()
        if process is None:
            continue
        family = [process, *process.children(recursive=True)]
        per_service[name] = sum(p.memory_info().rss for p in family if p.is_running()) / 2**20
    return per_service


def stack_of(settings: Settings) -> Platform:
    return Platform(settings, report=lambda _line: None, services=whole_stack(settings))


@contextmanager
def running_stack(prefix: str) -> Iterator[tuple[Settings, Platform]]:
    """`transit-status run` minus the terminal: platform and pipeline up, stopped (and deleted) afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as state:
        os.chmod(state, 0o755)  # PostgreSQL runs as its own user and must reach its data below it
        settings = isolated_settings(Path(state)).with_overrides(ready_timeout_s=READY_TIMEOUT_S)
        stack = stack_of(settings)
        try:
            stack.up()
            yield settings, stack
        finally:
            stack.down()
