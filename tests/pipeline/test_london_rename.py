"""A renamed London station, end to end: MariaDB UPDATE -> Debezium -> stations topic (by nlc) -> London's
Flink job -> the name-keyed stations topic, the enriched taps, the station activity -> the page's state.

What a rename means: the station (its nlc) answers to its new name only. Taps under the new name are
known from the rename on; taps under the old name are known before it and unknown after it, and the old
name's row leaves the name-keyed topic (a tombstone). Real processes throughout: the session's MariaDB,
Kafka Connect (Debezium), Kafka and Flink; nothing stands in for them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.helpers import read_all
from tests.pipeline.support import private_job_settings, records_when
from tests.processes import wait_until
from tests.streams.support import latest_json_by_key
from transit_status.config import Settings
from transit_status.dashboard.london import contracts
from transit_status.dashboard.london.state import LondonState
from transit_status.dashboard.state import Received
from transit_status.pipeline.connectors import ensure_london_stations_connector
from transit_status.pipeline.sql_jobs import LONDON_BARRIERS, ensure_job, wait_until_running
from transit_status.platform.services import mariadb

pytestmark = pytest.mark.platform


@pytest.fixture(params=["avro", "json"])
def job_settings(platform: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Private topics and job, the station rows in each format (Avro through the registry, or JSON)."""
    with private_job_settings(platform, request, LONDON_BARRIERS) as settings:
        yield settings.with_overrides(london_station_format=request.param)


@pytest.fixture
def station_nlc(platform: Settings) -> Iterator[int]:
    """A free nlc for the test's station; its row is removed from the shared table afterwards."""
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(nlc), 0) + 1 FROM stations")
        (nlc,) = cursor.fetchone()
    yield nlc
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM stations WHERE nlc = %s", (nlc,))


def now_ms() -> int:
    return int(time.time() * 1000)


def tap(settings: Settings, station: str, user: str, at_ms: int) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    value = json.dumps({"user": user, "delta": 1}).encode()
    producer.produce(settings.topic_london_entries, key=station.encode(), value=value, timestamp=at_ms)
    assert producer.flush(30) == 0


def names(settings: Settings) -> dict[str, bytes | None]:
    """The name-keyed stations topic, latest value per name (None: a tombstone)."""
    return {m.key().decode(): m.value() for m in read_all(settings, settings.topic_london_stations)}


def test_a_renamed_station_answers_to_its_new_name_only(job_settings: Settings, station_nlc: int) -> None:
    settings, nlc = job_settings, station_nlc
    old, new = f"Old Street {uuid.uuid4().hex[:6]}", f"New Street {uuid.uuid4().hex[:6]}"
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO stations (nlc, name, location, zone, `lines`, latitude, longitude)"
            " VALUES (%s, %s, '51.52,-0.08', '1', 'Northern', 51.52, -0.08)",
            (nlc, old),
        )
    ensure_london_stations_connector(settings)
    wait_until_running(settings, ensure_job(settings, LONDON_BARRIERS).name, timeout_s=180)
    wait_until(lambda: names(settings).get(old), 120, f"{old} on the name-keyed stations topic")

    # Tapped under the old name before the rename (modified_date has whole seconds: a clear second apart).
    time.sleep(1.5)
    before = now_ms()
    tap(settings, old, "card-before", before)
    # A tap a second later moves the job's event time past the first, so the job joins it now, before
    # the rename. Without it the taps' source goes idle (2 s), and the rename's version can move event
    # time on before a slow source has read the first tap: it then arrives late, and the join has
    # already dropped the version it was valid in (it keeps the versions from the watermark on).
    tap(settings, "Bank", "card-advance", before + 1_001)
    records_when(settings, settings.topic_london_station_entries, 1)
    time.sleep(1.5)
    with mariadb.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("UPDATE stations SET name = %s, modified_date = now() WHERE nlc = %s", (new, nlc))
    renamed_at = time.monotonic()
    # The old name leaves the name-keyed topic (a tombstone); the new one takes its row.
    latest = wait_until(
        lambda: (lambda found: found if new in found and found.get(old, b"") is None else None)(names(settings)),
        120,
        f"{old} replaced by {new} on the name-keyed stations topic",
    )
    print(f"rename reached the name-keyed topic in {time.monotonic() - renamed_at:.2f} s")
    row = json.loads(latest[new])
    assert (row["nlc"], row["name"], row["location"]) == (nlc, new, "51.52,-0.08")

    # After the rename: the old name is an unknown station, the new one is known.
    time.sleep(1.5)
    after = now_ms()
    tap(settings, old, "card-after-old", after)
    tap(settings, new, "card-after-new", after)
    # Later taps move event time past the ones above (taps wait for it), within Kafka's 1 h limit on
    # timestamps ahead of the broker's clock.
    tap(settings, "Bank", "card-later", after + 5 * 60_000)

    entries = records_when(settings, settings.topic_london_station_entries, 4)
    joined = {json.loads(m.value())["user"]: json.loads(m.value()) for m in entries}
    assert (joined["card-before"]["station"], joined["card-before"]["known"]) == (old, True)
    assert joined["card-before"]["location"] == "51.52,-0.08"
    assert (joined["card-after-old"]["station"], joined["card-after-old"]["known"]) == (old, False)
    assert joined["card-after-old"]["location"] is None
    assert (joined["card-after-new"]["station"], joined["card-after-new"]["known"]) == (new, True)
    assert joined["card-after-new"]["location"] == "51.52,-0.08"

    # Station activity: the old name counted so far, now unknown; the new name known.
    def activity() -> dict[str, Any] | None:
        latest = latest_json_by_key(settings, settings.topic_london_station_activity)
        counts = {json.loads(key)["station"]: value for key, value in latest.items()}
        return counts if counts.get(old, {}).get("entries") == 2 and new in counts else None

    counts = wait_until(activity, 60, "station activity of both names")
    assert counts[old] == {"station": old, "known": False, "entries": 2, "exits": 0, "inside": 2}
    assert counts[new] == {"station": new, "known": True, "entries": 1, "exits": 0, "inside": 1}

    # The page: the dashboard's London state, fed the activity topic as its consumer decodes it, lists
    # the old name among the unknown stations and not the new one.
    state = LondonState()
    for message in read_all(settings, settings.topic_london_station_activity):
        change = contracts.activity_change(message.key(), message.value())
        state.apply(Received("station_activity", change, message.timestamp()[1], now_ms()))
    unknown = {activity.station for activity in state.unknown_stations()}
    assert old in unknown and new not in unknown
    assert state.station(new) is not None and state.station(new).known
