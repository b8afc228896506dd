"""What `transit-status run` says while it waits for data to flow, before it shows the dashboard's URL."""

from __future__ import annotations

from typing import Any

from transit_status.cli import DataFlowWait

JOB = "job transit-status.turnstile-summary (starting: created, 0/2 tasks running)"


def health(status: str, waiting: list[str] | None = None, problems: list[str] | None = None) -> dict[str, Any]:
    return {"status": status, "waiting_for": waiting or [], "problems": problems or []}


def test_it_says_what_it_waits_for_when_that_changes_at_most_every_few_seconds_then_is_done_once_ok() -> None:
    wait = DataFlowWait(began=100.0, bound_s=180.0, say_every_s=5.0)

    assert wait.observe(None, "ConnectError", 100.0) == ["  waiting for: the dashboard (ConnectError)"]
    starting = health("starting", ["arrivals (no record yet)", JOB])
    assert wait.observe(starting, None, 101.0) == []  # changed, but too soon after the last line
    assert wait.observe(starting, None, 105.0) == [f"  waiting for: arrivals (no record yet), {JOB}"]
    assert wait.observe(starting, None, 111.0) == []  # nothing new: nothing said
    assert not wait.done

    assert wait.observe(health("ok"), None, 112.0) == ["Data is flowing (12 s)."]
    assert wait.done and wait.flowing
    assert wait.observe(health("ok"), None, 113.0) == []


def test_problems_are_named_and_after_the_bound_it_gives_up_waiting_with_what_is_still_missing() -> None:
    wait = DataFlowWait(began=0.0, bound_s=180.0)
    degraded = health("degraded", ["weather (no record yet)"], ["connector stations (failed: task 0 failed: boom)"])
    assert wait.observe(degraded, None, 10.0) == [
        "  waiting for: weather (no record yet) | problems: connector stations (failed: task 0 failed: boom)"
    ]
    assert wait.observe(degraded, None, 180.0) == [
        "Not all data flows after 180 s; still waiting for: weather (no record yet)"
        " | problems: connector stations (failed: task 0 failed: boom)"
    ]
    assert wait.done and not wait.flowing
