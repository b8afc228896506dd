"""Chicago's service-health job on the real Flink: a held train is alerted, so is the gap behind it, and
both clear when the train moves on; headways and dwells are measured; bad arrivals are dead letters.

The arrivals go through the real producer (EventProducer: Avro through the registry) into private
topics, with the schedule written from the real network as the pipeline writes it. Two scenarios:

* constructed, so every time is known: train A runs the Red Line's first stations on schedule and keeps
  going; train B follows one headway behind and is held at its third station for 15 minutes; train C
  is first reported (as a restarted simulation places its trains) at a platform A left 20 s before.
  One partition, so A's reports alone move the watermark;
* the simulation with a seed and a known breakdown (the issue's test): its Red Line arrivals as they come.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import read_all
from tests.processes import wait_until
from tests.streams.support import produce_raw, unique_settings
from transit_status.config import Settings
from transit_status.networks import Network
from transit_status.pipeline.schedule import ScheduledPlatform, cta_schedule, publish_cta_schedule
from transit_status.pipeline.sql_jobs import CTA_SERVICE_HEALTH, cancel_job, cluster_jobs, ensure_job
from transit_status.producers.kafka import EventProducer
from transit_status.simulation import (
    ArrivalEvent,
    BreakdownPolicy,
    ForcedBreakdown,
    SimulationConfig,
    SimulationEngine,
    TrainStatus,
)
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

START = datetime(2024, 4, 10, 13, 0, tzinfo=UTC)
HOLD = timedelta(minutes=15)
HELD_AT = 2  # B is held at the route's third station


@pytest.fixture
def settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    private = unique_settings(platform, "health").with_overrides(partitions=1)
    ensure_topics(private)
    yield private
    for job in cluster_jobs(private):
        if job["name"] == CTA_SERVICE_HEALTH.job_name(private) and job["state"] == "RUNNING":
            cancel_job(private, job["jid"])


class Run:
    """One train's reports along the Red Line's 'a' direction, on the schedule's run times."""

    def __init__(self, network: Network, schedule: dict[tuple[int, str], ScheduledPlatform], train_id: str) -> None:
        self.stations = network.route("red").station_ids
        self.network, self.schedule, self.train_id = network, schedule, train_id

    def reports(
        self, start: datetime, until: datetime, held_at: int | None = None, hold: timedelta = timedelta(0)
    ) -> list[ArrivalEvent]:
        events, at, departed, previous = [], start, None, None
        for index, station_id in enumerate(self.stations):
            if at >= until:
                break
            held = index == held_at
            events.append(
                ArrivalEvent(
                    station_id=station_id,
                    station_name=self.network.stations[station_id].name,
                    train_id=self.train_id,
                    direction="a",
                    line="red",
                    route="red",
                    train_status=TrainStatus.BROKEN_DOWN if held else TrainStatus.IN_SERVICE,
                    prev_station_id=previous,
                    prev_direction="a" if previous else None,
                    stop_id=None,
                    at=at,
                    prev_departed_at=departed,
                )
            )
            run = timedelta(seconds=self.schedule[(station_id, "a")].run_s) + (hold if held else timedelta(0))
            departed, previous = at + run - timedelta(seconds=45), station_id  # ~45 s of it is the run
            at += run
        return events


def send(settings: Settings, events: list[ArrivalEvent]) -> None:
    with EventProducer(settings) as producer:
        for event in sorted(events, key=lambda e: e.at):
            producer.send_arrival(event)
        producer.flush()


def alerts(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(message.value()) for message in read_all(settings, settings.topic_cta_service_alerts)]


def test_a_held_train_and_the_gap_behind_it_are_alerted_and_clear_when_it_moves(
    settings: Settings, network: Network
) -> None:
    publish_cta_schedule(settings, network)
    ensure_job(settings, CTA_SERVICE_HEALTH)
    schedule = {(row.station_id, row.direction): row for row in cta_schedule(network) if row.line == "red"}
    headway = timedelta(seconds=schedule[(network.route("red").station_ids[0], "a")].headway_s or 0)
    a, b = Run(network, schedule, "RL901"), Run(network, schedule, "RL902")
    stations = a.stations
    held_station, next_station = stations[HELD_AT], stations[HELD_AT + 1]
    b_start = START + headway

    # Phase 1: B arrives at its third station and stays there; A runs on for most of the hold.
    b_reports = b.reports(b_start, START + timedelta(hours=2), held_at=HELD_AT, hold=HOLD)
    b_held_at = b_reports[HELD_AT].at
    phase_1_end = b_held_at + HOLD - timedelta(minutes=1)
    a_reports = a.reports(START, START + timedelta(hours=2))
    # At one platform, D arrives 10 s behind A (bunched), then C is first reported there 20 s behind A: a
    # first report is no arrival, so no headway and no bunching of its own, but the bunched pair has left.
    a_before_c = [e for e in a_reports if e.at < phase_1_end][-2]
    d_bunched = dataclasses.replace(a_before_c, train_id="RL904", at=a_before_c.at + timedelta(seconds=10))
    c_first = dataclasses.replace(
        a_before_c, train_id="RL903", at=a_before_c.at + timedelta(seconds=20),
        prev_station_id=None, prev_direction=None, prev_departed_at=None,
    )  # fmt: skip
    assert schedule[(c_first.station_id, "a")].min_headway_s / 4 > 20
    phase_1 = [e for e in a_reports if e.at < phase_1_end] + b_reports[: HELD_AT + 1] + [d_bunched, c_first]
    send(settings, phase_1)
    # A record that is no arrival: dead-lettered, and the job goes on.
    produce_raw(settings, settings.topic_arrivals, [(b"not avro", b"\x00\x00\x00\x00\x01garbage")])

    held_id = f"held:RL902:red:{held_station}:a"
    gap_id = f"gap:red:{next_station}:a"

    def opened() -> dict[str, dict[str, Any]] | None:
        found = {alert["alert_id"]: alert for alert in alerts(settings)}
        return found if held_id in found and gap_id in found else None

    found = wait_until(opened, 150, "the held-train and gap alerts")
    held, gap = found[held_id], found[gap_id]
    assert (held["state"], held["train_id"], held["station_id"]) == ("open", "RL902", held_station)
    assert held["since_ms"] == int(b_held_at.timestamp() * 1000)  # since it arrived there
    run_s = schedule[(held_station, "a")].run_s
    # Due at run + margin after arriving; alerted within one tick of it, with why.
    due_s = run_s + settings.service_held_margin_s
    assert due_s <= held["measured_s"] <= due_s + settings.service_tick_s
    assert "RL902" in held["reason"] and "not seen" in held["reason"]
    a_at_next = next(e.at for e in a_reports if e.station_id == next_station)
    assert gap["state"] == "open" and gap["since_ms"] == int(a_at_next.timestamp() * 1000)
    assert 2 * headway.total_seconds() <= gap["measured_s"] <= 2 * headway.total_seconds() + settings.service_tick_s
    assert gap["scheduled_s"] == headway.total_seconds() and "twice" in gap["reason"]
    assert not [x for x in alerts(settings) if x["state"] == "clear" and x["alert_id"] in (held_id, gap_id)]
    # A, on schedule all along, is never held.
    assert not [x for x in found.values() if x["kind"] == "held" and x["train_id"] == "RL901"]

    # Phase 2: B moves on (A runs further); both alerts clear.
    send(settings, [e for e in a_reports if e.at >= phase_1_end] + b_reports[HELD_AT + 1 :])

    def cleared() -> list[dict[str, Any]] | None:
        records = alerts(settings)
        clears = {x["alert_id"]: x for x in records if x["state"] == "clear"}
        return records if held_id in clears and gap_id in clears else None

    records = wait_until(cleared, 120, "the alerts to clear")
    b_next = b_reports[HELD_AT + 1].at
    # In event-time order, as a consumer orders them (the job's parallel writers commit side by side).
    records.sort(key=lambda x: x["at_ms"])
    held_records = [(x["state"], x["at_ms"]) for x in records if x["alert_id"] == held_id]
    assert held_records == [("open", held["at_ms"]), ("clear", int(b_next.timestamp() * 1000))]
    # The gap closes when B gets there; no train follows B in this scenario, so the next gap behind
    # it may open later: since B's arrival, never since A's again.
    gap_records = [x for x in records if x["alert_id"] == gap_id]
    assert [x["state"] for x in gap_records[:2]] == ["open", "clear"]
    closed = gap_records[1]
    assert closed["at_ms"] == int(b_next.timestamp() * 1000) and closed["measured_s"] > 2 * headway.total_seconds()
    assert all(x["since_ms"] == closed["at_ms"] for x in gap_records[2:])

    # Measured: headways at every platform, B's dwell at the station it was held at.
    headways = [json.loads(m.value()) for m in read_all(settings, settings.topic_cta_headways)]
    at_next = [h for h in headways if h["station_id"] == next_station and h["train_id"] == "RL902"]
    assert at_next and at_next[0]["previous_train_id"] == "RL901"
    assert at_next[0]["headway_s"] == pytest.approx((b_next - a_at_next).total_seconds())
    dwells = [json.loads(m.value()) for m in read_all(settings, settings.topic_cta_dwells)]
    held_dwell = [d for d in dwells if d["train_id"] == "RL902" and d["station_id"] == held_station]
    assert held_dwell and held_dwell[0]["dwell_s"] >= HOLD.total_seconds()
    # C's first report: seen at its platform, but no headway; it clears D's bunching, measuring nothing.
    at_c = [h for h in headways if h["station_id"] == c_first.station_id and h["train_id"] in ("RL903", "RL904")]
    at_c.sort(key=lambda h: h["arrived_ms"])
    assert [(h["train_id"], h["previous_train_id"], h["headway_s"]) for h in at_c] == [
        ("RL904", "RL901", 10.0),
        ("RL903", "RL904", None),
    ]
    bunching = [x for x in records if x["alert_id"] == f"bunching:red:{c_first.station_id}:a"]
    assert [(x["state"], x["train_id"], x["measured_s"]) for x in bunching] == [
        ("open", "RL904", 10.0),
        ("clear", "RL903", None),
    ]
    assert "first reported" in bunching[1]["reason"]

    dead = [m for m in read_all(settings, settings.topic_dead_letters)]
    consumers = [dict(m.headers() or [])["dlq.consumer"] for m in dead]
    assert b"flink.cta-service-health" in consumers


SIM_START = datetime(2024, 4, 10, 10, 0)  # Chicago time, a Wednesday
SIM_SEED = 18
BREAKDOWN_AFTER_S = 5 * 60


def test_a_simulated_breakdown_is_alerted_with_the_gap_behind_it_and_both_clear_when_the_train_moves(
    settings: Settings, network: Network
) -> None:
    """The issue's test on the simulation itself: a seed and a known breakdown (the first Red train to reach
    a station 5 minutes in is held there 15 minutes). The trains behind it do not pass it, so the platform
    after it sees no train until it moves on: a gap, cleared by the held train itself."""
    publish_cta_schedule(settings, network)
    ensure_job(settings, CTA_SERVICE_HEALTH)
    schedule = {(row.station_id, row.direction): row for row in cta_schedule(network) if row.line == "red"}
    forced = ForcedBreakdown(hold_s=HOLD.total_seconds(), after_s=BREAKDOWN_AFTER_S, route="red")
    config = SimulationConfig(breakdowns=BreakdownPolicy(probability=0.0, forced=(forced,)))
    engine = SimulationEngine(network, start=SIM_START, seed=SIM_SEED, config=config)
    # The Red Line's arrivals: the job's alerts are per line, so the others only add work here.
    events = [
        e for e in engine.step(BREAKDOWN_AFTER_S + HOLD.total_seconds() + 20 * 60)
        if isinstance(e, ArrivalEvent) and e.line == "red"
    ]  # fmt: skip
    held = next(e for e in events if e.train_status is TrainStatus.BROKEN_DOWN)
    moved = next(e for e in events if e.train_id == held.train_id and e.at > held.at)  # its next report
    assert (moved.at - held.at) >= HOLD
    ahead = max(
        (e for e in events if (e.station_id, e.direction) == (moved.station_id, moved.direction) and e.at < held.at),
        key=lambda e: e.at,
    )  # the last train at the next platform before the held one got stuck
    headway_s = schedule[(moved.station_id, moved.direction)].headway_s or 0.0

    # Phase 1: everything until a minute before the held train moves on.
    phase_1_end = held.at + HOLD - timedelta(minutes=1)
    send(settings, [e for e in events if e.at < phase_1_end])
    held_id = f"held:{held.train_id}:red:{held.station_id}:{held.direction}"
    gap_id = f"gap:red:{moved.station_id}:{moved.direction}"

    def opened() -> dict[str, dict[str, Any]] | None:
        found = {alert["alert_id"]: alert for alert in alerts(settings) if alert["state"] == "open"}
        return found if held_id in found and gap_id in found else None

    found = wait_until(opened, 150, "the held-train and gap alerts")
    alert, gap = found[held_id], found[gap_id]
    # Where, since when, why.
    assert (alert["train_id"], alert["station_name"]) == (held.train_id, held.station_name)
    assert alert["since_ms"] == int(held.at.timestamp() * 1000)
    due_s = schedule[(held.station_id, held.direction)].run_s + settings.service_held_margin_s
    assert due_s <= alert["measured_s"] <= due_s + settings.service_tick_s
    assert held.train_id in alert["reason"] and "not seen" in alert["reason"]
    assert gap["station_name"] == moved.station_name and gap["since_ms"] == int(ahead.at.timestamp() * 1000)
    assert 2 * headway_s <= gap["measured_s"] <= 2 * headway_s + settings.service_tick_s and "twice" in gap["reason"]
    assert not [x for x in alerts(settings) if x["state"] == "clear" and x["alert_id"] in (held_id, gap_id)]

    # Phase 2: the train moves on; both alerts clear, the gap by the held train itself (none passed it).
    send(settings, [e for e in events if e.at >= phase_1_end])

    def cleared() -> dict[str, dict[str, Any]] | None:
        clears = {x["alert_id"]: x for x in alerts(settings) if x["state"] == "clear"}
        return clears if held_id in clears and gap_id in clears else None

    clears = wait_until(cleared, 120, "the alerts to clear")
    moved_ms = int(moved.at.timestamp() * 1000)
    assert clears[held_id]["at_ms"] == moved_ms and "moved on" in clears[held_id]["reason"]
    assert clears[gap_id]["at_ms"] == moved_ms and held.train_id in clears[gap_id]["reason"]
    assert clears[gap_id]["measured_s"] >= HOLD.total_seconds()
