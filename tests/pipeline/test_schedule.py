"""The schedule the service-health job joins, as the pipeline derives it from the network."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from transit_status.config import Settings
from transit_status.networks import Network
from transit_status.pipeline import schedule
from transit_status.pipeline.schedule import cta_schedule


def test_branches_sharing_track_add_up_and_part_time_service_never_makes_a_gap(network: Network) -> None:
    rows = {(row.line, row.station_id, row.direction): row for row in cta_schedule(network)}
    red = network.route("red")
    howard = rows[("red", red.station_ids[0], "a")]
    assert (howard.headway_s, howard.min_headway_s) == (red.headway_s, red.headway_s)
    # Green's two branches, 12 min each, share the trunk: a train every 6 min there.
    trunk = set(network.route("green-ashland-63rd").station_ids) & set(network.route("green-cottage-grove").station_ids)
    assert {rows[("green", s, "a")].headway_s for s in trunk} == {360.0}
    # Purple Express alone on the Loop: no all-day headway (no gap alerts), but a bunching threshold.
    express_only = set(network.route("purple-express").station_ids) - set(network.route("purple-local").station_ids)
    assert express_only and all(rows[("purple", s, "a")].headway_s is None for s in express_only)
    assert all(rows[("purple", s, "a")].min_headway_s == 600.0 for s in express_only)
    # Where both run, gaps are judged against the local alone and bunching against both together.
    shared = rows[("purple", network.route("purple-local").station_ids[0], "a")]
    assert shared.headway_s == 720.0 and shared.min_headway_s < 600.0
    assert all(row.run_s > 0 for row in rows.values())


def test_a_reference_topic_kafka_cannot_read_yet_is_read_again_and_a_lasting_error_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A topic created a moment ago has no partition leader yet: `run` waits for it instead of stopping
    (freshM). The retry policy alone, pure: the read itself is tested against Kafka in
    test_reference_topics_platform.py."""
    calls: list[str] = []

    def not_led_yet(_settings: Settings, topic: str) -> dict[bytes, int]:
        calls.append(topic)
        if len(calls) < 3:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return {b'{"line": "red"}': 0}

    monkeypatch.setattr(schedule, "held_keys", not_led_yet)
    assert schedule.read_held_keys(Settings(), "reference", retry_s=30) == {b'{"line": "red"}': 0}
    assert len(calls) == 3

    def denied(_settings: Settings, topic: str) -> dict[bytes, int]:
        calls.append(topic)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    calls.clear()
    monkeypatch.setattr(schedule, "held_keys", denied)
    with pytest.raises(KafkaException):
        schedule.read_held_keys(Settings(), "reference", retry_s=30)
    assert len(calls) == 1  # not a passing error: said at once
