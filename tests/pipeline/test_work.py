"""What counts as running work: the pure rules that read Flink's and Connect's answers and group offsets."""

from __future__ import annotations

from transit_status.config import SQL_JOBS_PER_NETWORK, load_settings
from transit_status.pipeline.sql_jobs import CTA_JOBS, LONDON_JOBS
from transit_status.pipeline.watchdog import Backoff
from transit_status.pipeline.work import GroupOffsets, ProgressTracker, connector_item, expected_work, job_item

NAME = "transit-status.turnstile-summary"


def job(state: str, started: int, running: int = 1, total: int = 1, name: str = NAME) -> dict[str, object]:
    return {"name": name, "state": state, "start-time": started, "tasks": {"running": running, "total": total}}


def test_a_job_runs_only_when_every_task_runs() -> None:
    assert job_item(NAME, [job("RUNNING", 1)]).state == "running"
    starting = job_item(NAME, [job("RUNNING", 1, running=1, total=3)])
    assert starting.state == "starting" and "1/3 tasks" in starting.detail
    assert job_item(NAME, [job("RESTARTING", 1, running=0)]).state == "starting"


def test_a_job_the_cluster_forgot_is_missing_and_one_that_ended_is_failed() -> None:
    assert job_item(NAME, []).state == "missing"
    assert job_item(NAME, [job("RUNNING", 1, name="someone-else")]).state == "missing"
    ended = job_item(NAME, [job("CANCELED", 5, running=0), job("FAILED", 1, running=0)])
    assert ended.state == "failed" and "canceled" in ended.detail  # the newest run says why


def test_an_active_run_wins_over_older_ended_ones() -> None:
    assert job_item(NAME, [job("FAILED", 1, running=0), job("RUNNING", 9)]).state == "running"


def test_a_failed_task_fails_the_connector_with_its_reason() -> None:
    status = {
        "connector": {"state": "RUNNING"},
        "tasks": [{"id": 0, "state": "FAILED", "trace": "org.postgresql.util.PSQLException: Connection refused\n\tat"}],
    }
    item = connector_item("sink", status)
    assert item.state == "failed"
    assert item.detail == "task 0 failed: org.postgresql.util.PSQLException: Connection refused"


def test_connector_states() -> None:
    assert connector_item("sink", None).state == "missing"
    assert connector_item("sink", {"connector": {"state": "RUNNING"}, "tasks": []}).state == "starting"
    paused = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "PAUSED"}]}
    assert connector_item("sink", paused).state == "starting"
    running = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}
    assert connector_item("sink", running).ok


def test_a_group_is_stalled_only_when_it_stands_still_while_its_input_grows() -> None:
    tracker = ProgressTracker(stall_after_s=60)
    assert tracker.item("g", GroupOffsets(committed=10, end=50), now=0).state == "running"
    assert tracker.item("g", GroupOffsets(committed=10, end=90), now=59).state == "running"
    stalled = tracker.item("g", GroupOffsets(committed=10, end=120), now=61)
    assert stalled.state == "stalled" and "70 records arrived" in stalled.detail
    assert tracker.item("g", GroupOffsets(committed=11, end=120), now=62).state == "running"  # it moved


def test_an_idle_input_is_not_a_stall_even_with_a_lag_left() -> None:
    # A transactional topic read to its end: the commit markers' offsets stay as lag, and nothing new comes.
    tracker = ProgressTracker(stall_after_s=60)
    for now in (0, 100, 200):
        assert tracker.item("g", GroupOffsets(committed=40, end=46), now=now).state == "running"
    assert tracker.item("g", None, now=300).state == "starting"  # its topics do not exist yet


def test_only_the_chosen_networks_work_is_expected() -> None:
    cta = expected_work(load_settings(run_networks="cta"))
    assert [job.name for job in cta.jobs] == ["turnstile-summary", "cta-run-times", "cta-service-health"]
    # Each job's source group is watched for lag, the new ones' on the arrivals they read.
    assert {group.group for group in cta.groups} >= {
        "transit-status.turnstile-summary",
        "transit-status.cta-run-times",
        "transit-status.cta-service-health",
    }
    assert [connector.name for connector in cta.connectors] == ["stations"]
    # The run-times job's source group is watched like the others (its lag, a stall).
    assert "transit-status.cta-run-times" in {group.group for group in cta.groups}
    london = expected_work(load_settings(run_networks="london"))
    assert [job.name for job in london.jobs] == ["london-barriers", "london-crowding"]
    assert {c.consumer_group for c in london.connectors} >= {"connect-london-postgres-sink"}
    assert "connect-london-postgres-sink" in {group.group for group in london.groups}


def test_the_backoff_doubles_up_to_a_minute() -> None:
    backoff = Backoff()
    waits = []
    for _ in range(8):
        assert backoff.due(backoff.next_at)
        before = backoff.next_at
        backoff.note_attempt(before)
        waits.append(backoff.next_at - before)
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]


def test_two_runs_of_one_job_are_a_duplicate_and_the_oldest_stays() -> None:
    runs = [job("RUNNING", 5) | {"jid": "new"}, job("RUNNING", 1) | {"jid": "old"}, job("CANCELED", 0) | {"jid": "x"}]
    item = job_item(NAME, runs)
    assert item.state == "duplicate" and item.surplus == ("new",) and "keeping old" in item.detail


def test_a_stalled_group_acted_on_gets_a_full_period_again() -> None:
    tracker = ProgressTracker(stall_after_s=60)
    tracker.item("g", GroupOffsets(committed=10, end=50), now=0)
    assert tracker.item("g", GroupOffsets(committed=10, end=90), now=61).state == "stalled"
    tracker.give_time("g", now=61)  # its tasks were restarted just now
    assert tracker.item("g", GroupOffsets(committed=10, end=95), now=100).state == "running"
    assert tracker.item("g", GroupOffsets(committed=10, end=99), now=122).state == "stalled"


def test_the_settings_count_the_slots_for_every_sql_job_each_network_runs() -> None:
    assert {"cta": len(CTA_JOBS), "london": len(LONDON_JOBS)} == SQL_JOBS_PER_NETWORK
