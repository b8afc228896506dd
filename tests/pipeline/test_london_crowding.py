"""London's crowding alerts on the real Flink: a station's quarter hour far above its typical one opens
an alert, the next ordinary quarter clears it.

The quarters go straight into the (private) 15-minute windows topic, as London's job writes them, so
their counts are known; the typical day and the calendar are written from the real network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import read_all
from tests.processes import wait_until
from tests.streams.support import produce_raw, unique_settings
from transit_status.config import Settings
from transit_status.pipeline.schedule import publish_london_typical_day
from transit_status.pipeline.sql_jobs import LONDON_CROWDING, cancel_job, cluster_jobs, ensure_job, london_network
from transit_status.topics import ensure_topics

pytestmark = pytest.mark.platform

# A Wednesday in June: 08:00 in London is 07:00 UTC (summer time), a weekday's morning peak.
FIRST_QUARTER = datetime(2023, 6, 7, 7, 0, tzinfo=UTC)


@pytest.fixture
def settings(platform: Settings) -> Iterator[Settings]:
    private = unique_settings(platform, "crowding").with_overrides(partitions=1)
    ensure_topics(private)
    yield private
    for job in cluster_jobs(private):
        if job["name"] == LONDON_CROWDING.job_name(private) and job["state"] == "RUNNING":
            cancel_job(private, job["jid"])


def quarter(station: str, index: int, entries: int) -> tuple[bytes, bytes]:
    start = FIRST_QUARTER + timedelta(minutes=15 * index)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    key = {"station": station, "window_minutes": 15, "window_start": start.strftime(iso)}
    value = {**key, "window_end": (start + timedelta(minutes=15)).strftime(iso), "entries": entries, "exits": 0}
    return json.dumps(key).encode(), json.dumps(value).encode()


def test_a_station_far_above_its_typical_quarter_is_alerted_until_it_is_ordinary_again(settings: Settings) -> None:
    network = london_network(settings)
    publish_london_typical_day(settings, network)
    ensure_job(settings, LONDON_CROWDING)
    day_type = network.day_type_of(FIRST_QUARTER.date())  # TfL's Tuesday-Thursday
    busiest = max(network.stations.values(), key=lambda s: s.daily_entries[day_type])
    share = network.hourly_shares_on(day_type)[8]
    typical = busiest.daily_entries[day_type] * settings.london_barrier_scale * share
    typical_quarter = typical / 4
    ordinary, crowded = round(typical_quarter), round(3 * typical_quarter)
    other = next(s.name for s in network.stations.values() if s.name != busiest.name)
    # Quarters 0 and 2 are ordinary, 1 is three times the typical; another station's later quarter
    # moves event time past the last one.
    records = [quarter(busiest.name, 0, ordinary), quarter(busiest.name, 1, crowded)]
    records += [quarter(busiest.name, 2, ordinary), quarter(other, 3, 1)]
    produce_raw(settings, settings.topic_london_station_windows, records)

    def alerts() -> list[dict[str, Any]] | None:
        found = [json.loads(m.value()) for m in read_all(settings, settings.topic_london_crowding_alerts)]
        return found if len(found) >= 2 else None

    opened, cleared = wait_until(alerts, 150, "the crowding alert to open and clear")
    assert (opened["alert_id"], opened["state"], opened["entries"]) == (f"crowding:{busiest.name}", "open", crowded)
    assert opened["since"] == "2023-06-07T07:15:00Z" and opened["day_type"] == day_type
    assert opened["typical_entries"] == pytest.approx(typical_quarter, rel=1e-6)
    assert opened["ratio"] == pytest.approx(crowded / typical_quarter, abs=0.01)
    assert "08:15" in opened["reason"]  # the local time of day it compares
    assert (cleared["alert_id"], cleared["state"], cleared["since"]) == (
        opened["alert_id"],
        "clear",
        "2023-06-07T07:30:00Z",
    )
