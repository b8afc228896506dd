"""When the dashboard gives memory back after browsers leave (memory.py): the rule, and that trimming works."""

from __future__ import annotations

from transit_status.dashboard.memory import MemoryReleaser, _glibc_malloc_trim


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
