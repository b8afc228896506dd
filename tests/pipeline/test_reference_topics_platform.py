"""The reference topics against real Kafka: when the network changes, the platforms it no longer has go
from the schedule topic (a tombstone each), read from the topic itself, not from local state."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tests.helpers import read_all
from tests.streams.support import produce_raw, unique_settings
from transit_status.config import Settings
from transit_status.networks import Network
from transit_status.pipeline.schedule import cta_schedule, publish_cta_schedule
from transit_status.topics import cta_service_topics, ensure_topics


def newest_by_key(settings: Settings) -> dict[tuple[str, int, str], Any]:
    """The schedule topic as the job reads it: each platform's newest value (None: a tombstone)."""
    newest: dict[tuple[str, int, str], Any] = {}
    for message in read_all(settings, settings.topic_cta_schedule):
        key = json.loads(message.key())
        value = message.value()
        newest[(key["line"], key["station_id"], key["direction"])] = json.loads(value) if value is not None else None
    return newest


def tombstones(settings: Settings) -> int:
    return sum(1 for message in read_all(settings, settings.topic_cta_schedule) if message.value() is None)


def test_platforms_gone_from_the_network_are_tombstoned_and_the_rest_stay(platform: Settings, network: Network) -> None:
    settings = unique_settings(platform, "schedule-gone")
    ensure_topics(settings, cta_service_topics(settings))
    # A platform an earlier version of the network had (as an earlier run wrote it), and a platform the
    # network still has, written by another writer with its key's fields in another order.
    kept_platform = cta_schedule(network)[0]
    produce_raw(
        settings,
        settings.topic_cta_schedule,
        [
            (json.dumps({"line": "red", "station_id": 99_999, "direction": "a"}).encode(), b'{"headway_s": 360.0}'),
            (
                json.dumps(
                    {
                        "direction": kept_platform.direction,
                        "station_id": kept_platform.station_id,
                        "line": kept_platform.line,
                    }
                ).encode(),
                b'{"headway_s": 1.0}',
            ),
        ],
    )

    publish_cta_schedule(settings, network)
    held = newest_by_key(settings)
    assert held[("red", 99_999, "a")] is None  # gone: a tombstone is its newest record
    every = {(row.line, row.station_id, row.direction) for row in cta_schedule(network)}
    assert {key for key, value in held.items() if value is not None} == every
    assert tombstones(settings) == 1  # the differently written key of a kept platform is not one

    # The network changes: the Yellow Line's routes are gone (a new static GTFS without it, say).
    smaller = dataclasses.replace(network, routes=tuple(r for r in network.routes if r.line != "yellow"))
    yellow = {key for key in every if key[0] == "yellow"}
    assert yellow
    publish_cta_schedule(settings, smaller)
    held = newest_by_key(settings)
    assert {key for key, value in held.items() if value is not None} == every - yellow
    assert all(held[key] is None for key in yellow)
    written = tombstones(settings)
    assert written == 1 + len(yellow)

    publish_cta_schedule(settings, smaller)  # the next start with the same network: nothing more to remove
    assert tombstones(settings) == written
