"""The OpenSearch sink's data streams against the original design's index template (pure: no platform;
test_opensearch_sink.py creates them on the real server)."""

from __future__ import annotations

import pytest

from transit_status.config import load_settings
from transit_status.london.opensearch_sink import data_streams, index_template

# The original design's index template, as far as names go: its Kibana data views expect these too.
ORIGINAL_TEMPLATE = {"index_patterns": ["station_entries", "station_exits"], "data_stream": {}}


def test_the_data_streams_have_the_original_designs_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("TRANSIT_OPENSEARCH_ENTRIES_STREAM", "TRANSIT_OPENSEARCH_EXITS_STREAM"):
        monkeypatch.delenv(variable, raising=False)
    settings = load_settings()
    streams = data_streams(settings)
    assert sorted(streams.values()) == ORIGINAL_TEMPLATE["index_patterns"]
    # Named like the topics they load, as in the original design.
    assert streams == {topic: topic for topic in streams}
    for stream in streams.values():
        template = index_template(stream)
        assert template["index_patterns"] == [stream] and "data_stream" in template


def test_the_names_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSIT_OPENSEARCH_ENTRIES_STREAM", "tfl_entries")
    monkeypatch.setenv("TRANSIT_OPENSEARCH_EXITS_STREAM", "tfl_exits")
    assert sorted(data_streams(load_settings()).values()) == ["tfl_entries", "tfl_exits"]
