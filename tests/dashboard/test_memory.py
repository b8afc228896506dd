"""When the dashboard gives memory back after browsers leave (memory.py): the rule, and that trimming works."""

from __future__ import annotations

from transit_status.config import load_settings
from transit_status.dashboard.memory import MemoryReleaser, _glibc_malloc_trim
from transit_status.pipeline.services import dashboard_launch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_is_trimmed_once_many_clients_have_left_and_not_for_a_few() -> None:
    clock, trims = Clock(), []
    releaser = MemoryReleaser(trim=lambda: trims.append(clock.now), drop=100, min_interval_s=30, clock=clock)
    for clients in (0, 400, 1000, 990, 950):  # a thousand arrive, a few come and go
        clock.now += 1
        assert releaser.observe(clients) is False
    clock.now += 1
    assert releaser.observe(0) is True and trims == [6.0]  # they all left
    clock.now += 1
    assert releaser.observe(0) is False  # nothing new left

    assert releaser.observe(500) is False
    clock.now += 1
    assert releaser.observe(300) is False  # 200 left again, but the last trim was 2 s ago
    clock.now = 40
    assert releaser.observe(300) is True and trims == [6.0, 40.0]


def test_glibc_trim_is_found_and_runs() -> None:
    trim = _glibc_malloc_trim()
    assert trim is not None  # the distributions we support use glibc
    trim()


def test_the_pipeline_runs_the_dashboard_on_glibc_malloc_so_the_trim_can_return_its_memory() -> None:
    launch = dashboard_launch(load_settings())
    assert launch.env["PYTHONMALLOC"] == "malloc" and launch.command[-2:] == ["serve", "dashboard"]
