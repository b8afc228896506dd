"""The static GTFS the feed saves for the other processes: an append-only stop-id map, a pair of files a
reader takes only whole, and a wait that never gives up (pure: files in a temporary directory).

The agency is MADE UP (tests/feeds/made_up_agency.py, CONSTRUCTED: recordings/README.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.feeds import made_up_agency as agency
from transit_status.networks.gtfs import number_stops
from transit_status.networks.saved_gtfs import (
    SAVED_ZIP,
    StaticGtfsNotReady,
    read_saved_static_gtfs,
    save_static_gtfs,
    when_ready,
)

WHERE = "https://feeds.example/lakeside/gtfs.zip?key=secret"


def test_numbers_are_append_only_existing_ids_keep_theirs_new_ones_get_new_ones() -> None:
    first = number_stops(["b", "c"])
    assert first == {"b": 1, "c": 2}
    # "a" sorts first: numbered afresh it would take 1 and shift the others; with the map it cannot.
    again = number_stops(["a", "b", "c"], first)
    assert (again["b"], again["c"]) == (1, 2) and again["a"] == 3
    # A removed id keeps its number in the map (it is never given to another stop).
    assert number_stops(["c", "d"], again) == {"a": 3, "b": 1, "c": 2, "d": 4}
    # Decimal ids keep their value, in a fresh map and as new ids beside one, while that number is free.
    assert number_stops(["40380", "30074"]) == {"40380": 40380, "30074": 30074}
    assert number_stops(["41000", "x"], {"40380": 40380})["41000"] == 41000
    assert number_stops(["7"], {"a": 7}) == {"a": 7, "7": 8}


def test_the_saved_copy_is_read_with_the_feeds_numbers_and_names_no_url(tmp_path: Path) -> None:
    saved = save_static_gtfs(tmp_path, WHERE, agency.static_gtfs_zip())
    read = read_saved_static_gtfs(tmp_path, WHERE)
    assert read.stop_numbers == saved.feed.stop_numbers and read.network.stations == saved.feed.network.stations
    assert saved.new_ids == len(read.stop_numbers) and not saved.replaced
    assert not any(
        b"feeds.example" in path.read_bytes() or b"secret" in path.read_bytes() for path in tmp_path.iterdir()
    )


def test_a_zip_that_is_not_the_one_the_map_names_is_waited_for_not_read(tmp_path: Path) -> None:
    save_static_gtfs(tmp_path, WHERE, agency.static_gtfs_zip())
    (tmp_path / SAVED_ZIP).write_bytes(b"half a zip")  # the feed writing a new version, say
    with pytest.raises(StaticGtfsNotReady, match="being saved"):
        read_saved_static_gtfs(tmp_path, WHERE)


def test_a_reader_waits_until_the_feed_has_saved_it(tmp_path: Path) -> None:
    tries: list[int] = []

    def load() -> object:
        tries.append(1)
        if len(tries) == 3:  # the feed saves it while the reader waits
            save_static_gtfs(tmp_path, WHERE, agency.static_gtfs_zip())
        return read_saved_static_gtfs(tmp_path, WHERE)

    feed = asyncio.run(asyncio.wait_for(when_ready(load, "test"), timeout=30))
    assert len(tries) == 3 and set(feed.network.line_ids) == set(agency.COLOURS)  # type: ignore[attr-defined]
