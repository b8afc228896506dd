"""The feed's health: what it remembers stays bounded however long it runs, and what it counts stays exact."""

from __future__ import annotations

import logging

import pytest

from transit_status.feeds.health import KEPT_UNKNOWN_IDS, LOGGED_UNKNOWN_IDS, FeedHealth


def test_unknown_ids_are_kept_by_name_up_to_a_bound_and_all_counted(caplog: pytest.LogCaptureFixture) -> None:
    health = FeedHealth("gtfs-rt")
    caplog.set_level(logging.WARNING)
    # A static GTFS that does not match: months of new trip ids every day.
    for day in range(5):
        for trip in range(KEPT_UNKNOWN_IDS):
            health.unknown("trip", f"{day}-{trip}")
    health.unknown("trip", "0-0")  # one kept already: still counted by name
    assert len(health.unknown_ids) == KEPT_UNKNOWN_IDS
    assert health.unknown_ids["trip:0-0"] == 2
    assert health.counts["unknown_trip_ids"] == 5 * KEPT_UNKNOWN_IDS + 1  # every sighting counted
    assert health.counts["unknown_ids_not_kept"] == 4 * KEPT_UNKNOWN_IDS
    assert len(caplog.records) == LOGGED_UNKNOWN_IDS + 1  # ten named, then one line saying the rest are not
