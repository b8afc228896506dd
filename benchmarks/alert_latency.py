"""Benchmark: held-train alert latency, from the missed arrival to the alert on the page (issue 18).

The whole stack for Chicago (`transit-status run --network cta` minus the terminal) runs on free ports
with the simulation at its default speed; its 130-odd trains move the network's clock (event time) and
the Flink job's watermark as they do live. Beside them, through the real producer (EventProducer: Avro
through the registry), the benchmark runs ``--trains`` trains of its own on the Red Line ('a'
direction), RL900 and up, in real time on the simulation's clock: each reports at two stations on the
schedule's run times, then arrives at a third and is not reported again for a while (held), then is
reported at the next station out of service (the alert clears; no further alert opens). The scenario
is constructed, like tests/pipeline/test_cta_service_health.py's, so that every due time is known.

**The missed arrival.** ``sql/cta_service_health.sql`` holds a train when it is not reported again
within its scheduled time to the next report (the schedule's ``run_s`` for that platform) plus
``service_held_margin_s`` (120 s) of event time. So the missed arrival is the moment the network's clock
(the simulation's, which is what Flink's watermark follows) shows ``arrived + run_s + margin``; its
wall-clock moment comes from the simulation's own (``produced_at``, ``simulated_at``) pairs on
``/api/trains`` (the clock is linear at ``simulation_speed``). The margin itself (12 s of wall clock at
10x) is the rule, not latency: latency starts when the margin has run out.

Measured per held train, in seconds after that moment (wall clock of this one machine):
- ``kafka``: the alert's open record readable by a read_committed consumer of the alerts topic;
- ``api``: ``/api/alerts`` listing it among the open alerts (polled every 0.1 s: that resolution);
- ``page``: the page showing it: a headless Chromium on the Chicago page, to which the dashboard pushes
  the alerts over its WebSocket as they change (as to everyone); a MutationObserver stamps
  (``Date.now()``, 1 ms) when the alert's row enters ``#service-alerts``. **This is the figure against
  the goal.**
Where the time goes, per alert: the tick (the job's hopping window fires at the end of the slide in
which the due time falls: ``at_ms`` - due, at most ``service_tick_s`` of event time), the watermark
(2 s of event time), the exactly-once commit (the record is readable once the checkpoint after it
completes: ``flink_checkpoint_interval_s`` plus the checkpoint's duration), the dashboard's consumer,
and the push to the page. The clear is timed too: from the moment the train is reported again to the row
leaving the page.

Goal: <= 5 s from the missed arrival to the page, for every held train (the max; p50/p90 beside it).
A held train whose alert never shows, shows before it was due, or carries the wrong station or since,
or a held alert for one of these trains anywhere else, ends the run with exit 1 ("WRONG RESULT").
Results: benchmarks/results/alert_latency.json, with the machine.

    .venv/bin/python benchmarks/alert_latency.py [--trains 10] [--stagger 7.3] [--hold-extra 30]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from tests.conftest import CHROMIUM_ARGS, find_chromium

from stack import distribution, machine, require_correct, running_stack, timed_until, write_results
from transit_status.avro.wire import AvroDecoder, BadRecord, registry_client
from transit_status.config import Settings
from transit_status.networks import Network, load_network
from transit_status.pipeline.schedule import ScheduledPlatform, cta_schedule
from transit_status.pipeline.sql_jobs import CTA_SERVICE_HEALTH, active_job_id
from transit_status.producers.kafka import EventProducer
from transit_status.simulation.events import ArrivalEvent, TrainStatus

GOAL_S = 5.0
LINE, DIRECTION = "red", "a"
FIRST_TRAIN = 900
"""RL900 and up: far above the simulation's Red Line fleet (RL001...)."""
LEGS_BEFORE = 2
"""On-schedule reports before the one it is held at: a train the job has seen running normally."""
API_POLL_S = 0.1

# Stamps (Date.now(), ms) when each alert's row enters and leaves the page's list of open alerts.
OBSERVER = """
window.__alerts = {};
document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("service-alerts");
  if (!list) return;
  new MutationObserver(() => {
    const now = Date.now();
    const present = new Set(Array.from(list.querySelectorAll("li[data-alert-id]"), (li) => li.dataset.alertId));
    for (const id of present) if (!(id in window.__alerts)) window.__alerts[id] = { shown: now, gone: null };
    for (const [id, seen] of Object.entries(window.__alerts)) {
      if (!present.has(id) && seen.gone === null) seen.gone = now;
    }
  }).observe(list, { childList: true });
});
"""


# ---- the scenario (pure) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HeldTrain:
    train_id: str
    station_id: int
    station_name: str
    arrived_ms: int
    """Event time of its arrival at the station it is held at (the alert's ``since_ms``)."""
    run_s: float
    due_ms: int
    """The missed arrival: ``arrived + run_s + margin`` (event time)."""
    moves_ms: int
    """When it is reported again, at the next station (the alert clears)."""

    @property
    def alert_id(self) -> str:
        return f"held:{self.train_id}:{LINE}:{self.station_id}:{DIRECTION}"


@dataclass(frozen=True)
class Plan:
    reports: list[ArrivalEvent]
    held: list[HeldTrain]


def _event(
    network: Network, train_id: str, station_id: int, previous: int | None, at_ms: int, status: TrainStatus
) -> ArrivalEvent:
    return ArrivalEvent(
        station_id=station_id,
        station_name=network.stations[station_id].name,
        train_id=train_id,
        direction=DIRECTION,
        line=LINE,
        route=LINE,
        train_status=status,
        prev_station_id=previous,
        prev_direction=DIRECTION if previous is not None else None,
        stop_id=None,
        at=datetime.fromtimestamp(at_ms / 1000, UTC),
        prev_departed_at=None,
    )


def plan(
    network: Network,
    schedule: Mapping[tuple[int, str], ScheduledPlatform],
    start_ms: int,
    trains: int,
    stagger_ms: int,
    margin_s: float,
    hold_extra_ms: int,
) -> Plan:
    """``trains`` trains, the n-th starting ``n * stagger_ms`` after ``start_ms`` (event time) at its own
    stretch of the line: two legs on schedule, held at the third station until ``hold_extra_ms`` past its
    due time, then reported at the next station out of service (clears the alert, opens no other)."""
    stations = network.route(LINE).station_ids
    stretches = len(stations) - LEGS_BEFORE - 2  # never at a terminal (its run_s is a layover)
    reports: list[ArrivalEvent] = []
    held: list[HeldTrain] = []
    for n in range(trains):
        train_id = f"{network.line(LINE).train_prefix}{FIRST_TRAIN + n}"
        first = (n * (LEGS_BEFORE + 1)) % stretches
        at_ms, previous = start_ms + n * stagger_ms, None
        for index in range(first, first + LEGS_BEFORE + 1):
            station_id = stations[index]
            reports.append(_event(network, train_id, station_id, previous, at_ms, TrainStatus.IN_SERVICE))
            run_s = schedule[(station_id, DIRECTION)].run_s
            if index < first + LEGS_BEFORE:
                at_ms, previous = at_ms + round(run_s * 1000), station_id
        held_at = stations[first + LEGS_BEFORE]
        due_ms = at_ms + round((run_s + margin_s) * 1000)
        moves_ms = due_ms + hold_extra_ms
        held.append(HeldTrain(train_id, held_at, network.stations[held_at].name, at_ms, run_s, due_ms, moves_ms))
        nxt = stations[first + LEGS_BEFORE + 1]
        reports.append(_event(network, train_id, nxt, held_at, moves_ms, TrainStatus.OUT_OF_SERVICE))
    reports.sort(key=lambda event: event.at)
    return Plan(reports, held)


def epoch_ms(value: datetime | int) -> int:
    """An Avro ``timestamp-millis`` as decoded (fastavro makes it a datetime) in epoch milliseconds."""
    return round(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


def clock_offset_ms(trains: Iterable[Mapping[str, Any]], speed: float) -> float:
    """The simulation's clock as ``simulated_ms = offset + speed * wall_ms``: an arrival is produced at or
    after the moment the clock showed it, so each (produced_at, simulated_at) pair bounds the offset from
    below, and the largest bound is the tightest."""
    bounds = [t["simulated_at"] - speed * t["produced_at"] for t in trains if t.get("produced_at")]
    if not bounds:
        raise ValueError("no train with produced_at: the simulation's clock is unknown")
    return max(bounds)


# ---- what was seen (pure) ----------------------------------------------------------------------------
@dataclass
class Seen:
    """Wall-clock moments (epoch seconds) an alert first showed and left, per alert id."""

    shown: dict[str, float] = field(default_factory=dict)
    gone: dict[str, float] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The open record of each alert (as the job wrote it)."""


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    return distribution(values, "s", 2)


def passed(watermarks: list[tuple[float, int]], event_ms: int) -> float | None:
    """The wall-clock moment the watermark first reached ``event_ms`` (``watermarks``: rising (wall, ms))."""
    moments = [wall for wall, mark in watermarks if mark >= event_ms]
    return min(moments) if moments else None


def measure(
    held: list[HeldTrain],
    offset_ms: float,
    speed: float,
    kafka: Seen,
    api: Seen,
    page: Seen,
    watermarks: list[tuple[float, int]],
) -> dict[str, Any]:
    """Per held train: each stage's moment after its missed arrival, where the time went, and what was wrong.
    ``watermarks``: the job's watermark as rebuilt from the arrivals (wall moment, event ms)."""

    def wall(event_ms: float) -> float:
        return (event_ms - offset_ms) / speed / 1000

    rows, problems = [], []
    ours = {train.train_id for train in held}
    expected = {train.alert_id for train in held}
    for alert_id, record in kafka.records.items():
        if record.get("kind") == "held" and record.get("train_id") in ours and alert_id not in expected:
            problems.append(f"{alert_id}: a held alert where no train was held")
    for train in held:
        due = wall(train.due_ms)
        record = kafka.records.get(train.alert_id)
        if train.alert_id not in page.shown:
            problems.append(f"{train.alert_id}: never shown on the page")
            continue
        row: dict[str, Any] = {"alert_id": train.alert_id, "run_s": train.run_s}
        if record is not None:
            if record["since_ms"] != train.arrived_ms or record["station_id"] != train.station_id:
                problems.append(f"{train.alert_id}: since {record['since_ms']} at {record['station_id']}, wrong")
            row["tick_s"] = round(wall(record["at_ms"]) - due, 3)
            # The slide's window fires once the watermark reaches its end (at_ms).
            if (fired := passed(watermarks, record["at_ms"])) is not None:
                row["fired_s"] = round(fired - due, 3)
        for stage, seen in (("kafka", kafka), ("api", api), ("page", page)):
            if train.alert_id in seen.shown:
                row[f"{stage}_s"] = round(seen.shown[train.alert_id] - due, 3)
        if row["page_s"] < 0:
            problems.append(f"{train.alert_id}: shown {-row['page_s']:.1f} s before the train was due")
        if train.alert_id in page.gone:
            row["page_clear_s"] = round(page.gone[train.alert_id] - wall(train.moves_ms), 3)
        rows.append(row)
    stages = ("tick_s", "fired_s", "kafka_s", "api_s", "page_s", "page_clear_s")
    summary = {stage: percentiles([row[stage] for row in rows if stage in row]) for stage in stages}

    def between(first: str, then: str) -> dict[str, float | int | None]:
        return percentiles([row[then] - row[first] for row in rows if first in row and then in row])

    split = {
        "tick (due -> slide end)": summary["tick_s"],
        "watermark (slide end -> window fires)": between("tick_s", "fired_s"),
        "checkpoint (fires -> readable in kafka)": between("fired_s", "kafka_s"),
        "dashboard (kafka -> api)": between("kafka_s", "api_s"),
        # The push may beat the 0.1 s poll of the api: this stage can be slightly negative.
        "push (api -> page; the api is polled every 0.1 s)": between("api_s", "page_s"),
    }
    return {"alerts": rows, "summary": summary, "split": split, "problems": problems}


# ---- the live run ----------------------------------------------------------------------------------
class KafkaWatch(threading.Thread):
    """The alerts topic from its end, read_committed: when each record became readable."""

    def __init__(self, settings: Settings, seen: Seen) -> None:
        super().__init__(daemon=True)
        self.settings, self.seen, self.stop = settings, seen, threading.Event()
        self.consumer = Consumer(
            settings.kafka_client_config(
                **{
                    "group.id": "bench-alert-latency",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 10,
                }
            )
        )
        topic = settings.topic_cta_service_alerts
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])

    def run(self) -> None:
        while not self.stop.is_set():
            message = self.consumer.poll(0.05)
            if message is None or message.error():
                continue
            at = time.time()
            record = json.loads(message.value())
            alert_id = record["alert_id"]
            if record["state"] == "open":
                self.seen.shown.setdefault(alert_id, at)
                self.seen.records.setdefault(alert_id, record)
            else:
                self.seen.gone.setdefault(alert_id, at)
        self.consumer.close()


class ApiWatch(threading.Thread):
    """``/api/alerts`` every ``API_POLL_S``: when each alert first listed as open, and when it left."""

    def __init__(self, settings: Settings, seen: Seen) -> None:
        super().__init__(daemon=True)
        self.url, self.seen, self.stop = f"{settings.dashboard_url}/api/alerts", seen, threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                asked = time.time()
                try:
                    open_ids = {alert["alert_id"] for alert in client.get(self.url).json()["open"]}
                except (httpx.HTTPError, ValueError, KeyError):
                    open_ids = None
                if open_ids is not None:
                    for alert_id in open_ids:
                        self.seen.shown.setdefault(alert_id, asked)
                    for alert_id in set(self.seen.shown) - open_ids:
                        self.seen.gone.setdefault(alert_id, asked)
                time.sleep(max(0.0, API_POLL_S - (time.time() - asked)))


class ArrivalsWatch(threading.Thread):
    """The job's watermark rebuilt from the arrivals topic as its source sees it: per partition the newest
    ``simulated_at``, the lowest of those minus the 2 s slack (tables.sql). Flink's own watermark metric is
    refreshed only every 10 s on its REST API, too coarse here. This leaves out the source's 200 ms
    periodic emission and its 2 s idle timeout (a partition without arrivals for 2 s stops holding the
    watermark back; in the evening's thinner service some do), so it may trail the job's own watermark:
    the "watermark" stage is an upper bound, and "checkpoint" correspondingly low."""

    SLACK_MS = 2_000

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.decoder = AvroDecoder(registry_client(settings))
        self.watermarks: list[tuple[float, int]] = []
        self.consumer = Consumer(
            settings.kafka_client_config(
                **{"group.id": "bench-alert-latency-arrivals", "enable.auto.commit": False, "fetch.wait.max.ms": 10}
            )
        )
        topic = settings.topic_arrivals
        self.partitions = list(self.consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        self.consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in self.partitions])

    def run(self) -> None:
        newest: dict[int, int] = {}
        while not self.stop.is_set():
            message = self.consumer.poll(0.05)
            if message is None or message.error():
                continue
            at = time.time()
            try:
                simulated_at = epoch_ms(self.decoder.decode(message.value())["simulated_at"])
            except (BadRecord, KeyError, TypeError, ValueError):
                continue
            newest[message.partition()] = max(simulated_at, newest.get(message.partition(), 0))
            if len(newest) == len(self.partitions):
                mark = min(newest.values()) - self.SLACK_MS
                if not self.watermarks or mark > self.watermarks[-1][1]:
                    self.watermarks.append((at, mark))
        self.consumer.close()


def trains_clock(settings: Settings, samples: int = 5) -> float:
    """The simulation's clock offset from a few looks at /api/trains (one a second)."""
    seen: list[dict[str, Any]] = []
    for _ in range(samples):
        seen += httpx.get(f"{settings.dashboard_url}/api/trains", timeout=10).json()
        time.sleep(1.0)
    return clock_offset_ms(seen, settings.simulation_speed)


def flink_checkpoints(settings: Settings) -> dict[str, Any]:
    job = active_job_id(settings, CTA_SERVICE_HEALTH.job_name(settings))
    if job is None:
        return {}
    body = httpx.get(f"{settings.flink_rest_url}/jobs/{job}/checkpoints", timeout=10).json()
    duration = body.get("summary", {}).get("end_to_end_duration", {})
    return {
        "completed": body.get("counts", {}).get("completed"),
        "duration_ms": {key: duration.get(key) for key in ("min", "avg", "p50", "p90", "max") if key in duration},
        "interval_s": settings.flink_checkpoint_interval_s,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    overrides = {
        "run_networks": "cta",
        "flink_checkpoint_interval_s": args.checkpoint_interval,
    }
    with running_stack("transit-bench-alerts-", **overrides) as (settings, _stack):
        network = load_network(settings)
        schedule = {(row.station_id, row.direction): row for row in cta_schedule(network) if row.line == LINE}
        # The job is running and its output reaches the page: the strip has lines.
        timed_until(
            lambda: bool(httpx.get(f"{settings.dashboard_url}/api/alerts", timeout=5).json()["lines"]),
            "the service-health job's first headways on /api/alerts",
            every_s=2.0,
        )
        time.sleep(args.warmup)
        kafka, api, page_seen = Seen(), Seen(), Seen()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900}, bypass_csp=True)
            page.add_init_script(OBSERVER)
            page.goto(settings.dashboard_url + "/")
            page.wait_for_selector("#health-strip li", timeout=60_000)
            arrivals = ArrivalsWatch(settings)
            watchers = [KafkaWatch(settings, kafka), ApiWatch(settings, api), arrivals]
            for watcher in watchers:
                watcher.start()
            offset = trains_clock(settings)
            speed = settings.simulation_speed
            start_ms = round(offset + speed * (time.time() + 2.0) * 1000)
            scenario = plan(
                network, schedule, start_ms, args.trains, round(args.stagger * speed * 1000),
                settings.service_held_margin_s, round(args.hold_extra * speed * 1000),
            )  # fmt: skip
            with EventProducer(settings) as producer:
                for event in scenario.reports:
                    at_ms = event.at.timestamp() * 1000
                    time.sleep(max(0.0, (at_ms - offset) / speed / 1000 - time.time()))
                    producer.send_arrival(event)
                    producer.flush()
            # Every alert has shown and cleared on the page, or a minute past the last train's move.
            ids = {train.alert_id for train in scenario.held}

            def on_page() -> dict[str, dict[str, Any]]:
                return page.evaluate("window.__alerts")

            deadline = time.time() + 60.0
            while time.time() < deadline:
                shown = on_page()
                if all(alert_id in shown and shown[alert_id]["gone"] for alert_id in ids):
                    break
                time.sleep(1.0)
            for alert_id, stamps in on_page().items():
                page_seen.shown[alert_id] = stamps["shown"] / 1000
                if stamps["gone"]:
                    page_seen.gone[alert_id] = stamps["gone"] / 1000
            browser.close()
        for watcher in watchers:
            watcher.stop.set()
            watcher.join(timeout=5)
        checkpoints = flink_checkpoints(settings)
        result = measure(scenario.held, offset, speed, kafka, api, page_seen, arrivals.watermarks)
        result["settings"] = {
            "simulation_speed": speed,
            "service_tick_s": settings.service_tick_s,
            "service_tick_wall_s": settings.service_tick_s / speed,
            "service_held_margin_s": settings.service_held_margin_s,
            "flink_checkpoint_interval_s": settings.flink_checkpoint_interval_s,
            "api_poll_s": API_POLL_S,
        }
        result["flink_checkpoints"] = checkpoints
        result["held_trains"] = [asdict(train) for train in scenario.held]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trains", type=int, default=10, help="held trains in the run")
    parser.add_argument("--stagger", type=float, default=7.3, help="wall seconds between the trains' starts")
    parser.add_argument("--hold-extra", type=float, default=30.0, help="wall seconds a train stays held past due")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds to let the pipeline settle")
    defaults = Settings()
    parser.add_argument(
        "--checkpoint-interval", type=float, default=defaults.flink_checkpoint_interval_s, help="Flink's (s)"
    )
    args = parser.parse_args()
    tuned = args.checkpoint_interval != defaults.flink_checkpoint_interval_s
    facts = machine()
    result = run(args)
    page = result["summary"]["page_s"]
    result["goal"] = {
        "max_s": GOAL_S,
        "measured_max_s": page["max_s"],
        "met": page["max_s"] is not None and page["max_s"] <= GOAL_S,
    }
    for row in result["alerts"]:
        print(json.dumps(row))
    print(json.dumps(result["summary"]))
    print(json.dumps(result["split"]))
    print(json.dumps(result["goal"]))
    # Figures with other than the defaults go to a file of their own: the published ones stay the defaults'.
    name = "alert_latency_tuned" if tuned else "alert_latency"
    output = write_results(name, {"benchmark": "alert_latency", "machine": facts, **result})
    print(f"results in {output}")
    require_correct(result["problems"])


if __name__ == "__main__":
    main()
