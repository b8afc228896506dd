"""The London series' failures: every kind is logged once when it starts, and the status says it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from transit_status.config import load_settings
from transit_status.dashboard.london.map import LondonMap
from transit_status.dashboard.london.series import LondonSeries
from transit_status.networks import load_network


class FailingClient:
    """Stands in for OpenSearch's client (this is a unit test of the error path): every search raises."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def search(self, **request: Any) -> dict[str, Any]:
        raise self.error


def test_an_unexpected_failure_is_logged_once_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(network="tfl")
    client = FailingClient(RuntimeError("a bug in the query"))
    series = LondonSeries(settings, LondonMap.of(load_network(settings)), client=client)  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="transit_status.dashboard.london.series")

    assert asyncio.run(series.refresh()) is None
    assert asyncio.run(series.refresh()) is None  # the same failure again: no second line
    [record] = caplog.records
    assert "RuntimeError: a bug in the query" in record.getMessage() and record.exc_info is not None
    assert "RuntimeError" in (series.status().error or "")
    since = series.status().error_since_ms

    client.error = OpenSearchConnectionError("N/A", "connection refused", None)
    assert asyncio.run(series.refresh()) is None  # another kind of failure: a new line, no traceback
    assert len(caplog.records) == 2 and caplog.records[1].exc_info is None
    assert "ConnectionError" in caplog.records[1].getMessage()
    assert series.status().error_since_ms == since  # still the same outage
