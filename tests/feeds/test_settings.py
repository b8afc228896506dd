"""The source settings: a real source without what it needs is one clear error, and the key stays secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from transit_status.config import CTA_TRAIN_TRACKER_DAILY_LIMIT, CTA_TRAIN_TRACKER_MIN_POLL_S, load_settings
from transit_status.errors import describe_validation_error

KEY = "s3cret-train-key-42"


def problem(tmp_path: Path, **values: object) -> str:
    with pytest.raises(ValidationError) as invalid:
        load_settings(state_dir=tmp_path, **values)
    return describe_validation_error(invalid.value)


def test_the_simulation_stays_the_default_and_needs_nothing(tmp_path: Path) -> None:
    assert load_settings(state_dir=tmp_path).source == "simulation"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"source": "cta-train-tracker"}, "source cta-train-tracker needs cta_train_tracker_key"),
        ({"source": "gtfs-rt", "gtfs_rt_vehicle_positions_url": "https://x.test/vp"}, "needs gtfs_static"),
        ({"source": "gtfs-rt", "gtfs_static": "https://x.test/g.zip"}, "needs gtfs_rt_vehicle_positions_url or"),
        ({"source": "gtfs-rt", "gtfs_static": "/nowhere.zip", "gtfs_rt_trip_updates_url": "https://x"}, "is no file"),
        ({"source": "replay:/nowhere"}, "holds no recording"),
        ({"source": "tfl"}, "expected one of simulation, cta-train-tracker, gtfs-rt or replay:DIR"),
        ({"gtfs_rt_alerts_url": "ftp://x.test/a"}, "expected an http:// or https:// URL"),
    ],
)
def test_a_source_without_what_it_needs_is_one_clear_error(tmp_path: Path, values: dict, message: str) -> None:
    assert message in problem(tmp_path, **values)


def test_the_poll_interval_keeps_inside_the_documented_daily_limit(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    worst_case_per_day = 86_400 / settings.cta_train_tracker_poll_s * settings.feed_retry_attempts
    assert worst_case_per_day <= CTA_TRAIN_TRACKER_DAILY_LIMIT
    assert "over its 100,000 limit" in problem(tmp_path, cta_train_tracker_poll_s=CTA_TRAIN_TRACKER_MIN_POLL_S / 2)


@pytest.mark.parametrize("attempts", [1, 3, 7, 10])
def test_the_shortest_poll_interval_follows_the_tries_a_poll_may_make(tmp_path: Path, attempts: int) -> None:
    floor = 86_400 / CTA_TRAIN_TRACKER_DAILY_LIMIT * attempts  # every poll using all its tries
    settings = load_settings(state_dir=tmp_path, feed_retry_attempts=attempts, cta_train_tracker_poll_s=floor)
    assert 86_400 / settings.cta_train_tracker_poll_s * attempts <= CTA_TRAIN_TRACKER_DAILY_LIMIT * 1.000001
    message = problem(tmp_path, feed_retry_attempts=attempts, cta_train_tracker_poll_s=floor * 0.99)
    assert f"with feed_retry_attempts {attempts} may make" in message
    assert f"poll every {floor:g} s or more, or allow fewer tries" in message


def test_ten_tries_a_poll_refuse_an_interval_three_allow(tmp_path: Path) -> None:
    assert load_settings(state_dir=tmp_path, cta_train_tracker_poll_s=3.0).cta_train_tracker_poll_s == 3.0
    assert "may make 288,000 Train Tracker requests a day" in problem(
        tmp_path, cta_train_tracker_poll_s=3.0, feed_retry_attempts=10
    )


def test_the_key_is_never_printed(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, source="cta-train-tracker", cta_train_tracker_key=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    assert settings.redact(f"GET /ttpositions.aspx?key={KEY}&rt=red") == "GET /ttpositions.aspx?key=***&rt=red"
    # A rejected value is not echoed either (hide_input_in_errors).
    assert KEY not in problem(tmp_path, source="cta-train-tracker", cta_train_tracker_key=KEY, replay_speed=-1)
