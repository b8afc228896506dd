"""A restarted simulation resumes its network clock (producers/resume.py), pure: the rule, and the mark
a run keeps in its file, which bounds everything it sent even when it is killed between two writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from transit_status.producers.resume import MAX_AHEAD, ClockMark, resume_start

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_new_run_starts_after_the_last_runs_clock_when_it_is_ahead_of_the_wall_clock() -> None:
    # The last run (10x for an hour) ended 9 hours ahead of the wall clock: the new one goes on from there.
    assert resume_start(NOW + timedelta(hours=9), NOW) == NOW + timedelta(hours=9, seconds=1)
    # Long after (the wall clock has passed it), or with no last run: the wall clock.
    assert resume_start(NOW - timedelta(hours=2), NOW) == NOW
    assert resume_start(None, NOW) == NOW


def test_the_mark_is_ahead_of_everything_sent_until_the_next_write_and_exact_at_a_clean_stop(tmp_path: Path) -> None:
    path = tmp_path / "state" / "clock.json"
    mark = ClockMark(path, ahead=timedelta(seconds=20))
    assert mark.load() is None
    mark.passed(NOW)  # a batch up to NOW is about to be sent
    assert ClockMark(path, timedelta()).load() == NOW + timedelta(seconds=20)
    mark.passed(NOW + timedelta(seconds=19))  # within the mark: no write
    assert ClockMark(path, timedelta()).load() == NOW + timedelta(seconds=20)
    mark.passed(NOW + timedelta(seconds=21))  # past it (a batch after a stall): written before it is sent
    assert ClockMark(path, timedelta()).load() == NOW + timedelta(seconds=41)
    mark.stopped(NOW + timedelta(seconds=25))
    assert ClockMark(path, timedelta()).load() == NOW + timedelta(seconds=25)
    assert [p.name for p in path.parent.iterdir()] == ["clock.json"]  # no temporary left behind


def test_an_unreadable_or_implausible_mark_starts_the_run_at_the_wall_clock(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text("{not json")
    assert resume_start(ClockMark(path, timedelta()).load(), NOW) == NOW
    path.write_text('{"network_time": "9999-12-31T23:59:59.999999+00:00"}')  # the last moment there is
    assert resume_start(ClockMark(path, timedelta()).load(), NOW) == NOW
    assert resume_start(NOW + MAX_AHEAD + timedelta(hours=1), NOW) == NOW
