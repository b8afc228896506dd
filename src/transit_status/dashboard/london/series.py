"""The London charts' data, from OpenSearch aggregations as Kibana would draw them.

One refresh is one ``_search`` per data stream (``size: 0``, aggregations only):

* ``last_hour``: a ``date_histogram`` of the last 60 minutes per minute;
* ``today``: a ``date_histogram`` since local midnight per 15 minutes (London time);
* on the entries stream also ``by_station`` (a ``terms`` aggregation: today's entries per station)
  and ``first`` (the first event today), which the crowding comparison needs (``london/map.py``).

Counts are document counts (one document per barrier tap). The result is cached: the server refreshes
it every ``REFRESH_S`` and pushes it to the London pages, and ``/api/london/series`` serves the cached
copy (refreshing it first when older than ``MAX_AGE_S``, one query however many ask at once), so a
thousand browsers never make a thousand queries.

A data stream that does not exist yet (no sink has written) is not an error: the series is empty and
says it is waiting. OpenSearch not answering is: the last good series stays, and the feed is reported
degraded since the first failure.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, OpenSearchException
from starlette.concurrency import run_in_threadpool

from transit_status.config import Settings
from transit_status.dashboard.london.map import LondonMap
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)

REFRESH_S = 5.0
MAX_AGE_S = 5.0
QUERY_TIMEOUT_S = 5.0
LAST_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SeriesStatus:
    last_ok_ms: int | None
    error: str | None
    error_since_ms: int | None
    waiting_for: tuple[str, ...]
    """Data streams that do not exist yet."""


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _histogram(field: str, interval: str, start: datetime, end: datetime, zone: str) -> dict[str, Any]:
    """A date_histogram with every bucket from ``start`` to ``end`` present, empty ones as 0."""
    return {
        "filter": {"range": {"@timestamp": {"gte": _epoch_ms(start), "lte": _epoch_ms(end), "format": "epoch_millis"}}},
        "aggs": {
            "buckets": {
                "date_histogram": {
                    "field": field,
                    "fixed_interval": interval,
                    "time_zone": zone,
                    "min_doc_count": 0,
                    "extended_bounds": {"min": _epoch_ms(start), "max": _epoch_ms(end)},
                }
            }
        },
    }


def series_query(london: LondonMap, now: datetime, *, with_stations: bool) -> dict[str, Any]:
    """The search body of one data stream (see the module docstring)."""
    midnight = london.local_midnight(now)
    zone = london.network.timezone
    today = _histogram("@timestamp", "15m", midnight, now, zone)
    if with_stations:
        today["aggs"]["by_station"] = {"terms": {"field": "station", "size": 1000}}
        today["aggs"]["first"] = {"min": {"field": "@timestamp"}}
    start = min(now - LAST_HOUR, midnight)
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"range": {"@timestamp": {"gte": _epoch_ms(start), "format": "epoch_millis"}}},
        "aggs": {"last_hour": _histogram("@timestamp", "1m", now - LAST_HOUR, now, zone), "today": today},
    }


def _points(aggregation: dict[str, Any]) -> list[list[int]]:
    return [[bucket["key"], bucket["doc_count"]] for bucket in aggregation["buckets"]["buckets"]]


def series_view(
    london: LondonMap, now: datetime, entries: dict[str, Any] | None, exits: dict[str, Any] | None
) -> dict[str, Any]:
    """The series JSON from the two search responses (None: that data stream does not exist yet)."""
    empty: dict[str, Any] = {"last_hour": [], "today": []}
    result: dict[str, Any] = {"generated_at": _epoch_ms(now)}
    for name, response in (("entries", entries), ("exits", exits)):
        if response is None:
            result[name] = {**empty, "waiting": True}
            continue
        aggregations = response.get("aggregations", {})
        result[name] = {
            "last_hour": _points(aggregations["last_hour"]),
            "today": _points(aggregations["today"]),
            "waiting": False,
        }
    by_station: dict[str, int] = {}
    first: datetime | None = None
    if entries is not None:
        today = entries["aggregations"]["today"]
        by_station = {bucket["key"]: bucket["doc_count"] for bucket in today["by_station"]["buckets"]}
        if today["first"].get("value") is not None:
            first = datetime.fromtimestamp(today["first"]["value"] / 1000, UTC)
    result["crowding"] = london.crowding(by_station, first, now)
    return result


class LondonSeries:
    """The cached series and how OpenSearch answered; :meth:`refresh` runs the queries in a thread."""

    def __init__(self, settings: Settings, london: LondonMap, client: OpenSearch | None = None) -> None:
        self.settings = settings
        self.london = london
        self.client = client or OpenSearch(
            **settings.opensearch_client_options(), timeout=QUERY_TIMEOUT_S, max_retries=0, retry_on_timeout=False
        )
        self._lock = threading.Lock()
        self._refreshing: asyncio.Lock | None = None
        self._series: dict[str, Any] | None = None
        self._series_ms: int | None = None
        self._error: str | None = None
        self._error_since_ms: int | None = None
        self._error_type: type[Exception] | None = None
        self._waiting_for: tuple[str, ...] = ()

    def query(self, now: datetime | None = None) -> dict[str, Any]:
        """Query OpenSearch now (blocking); the new series, which is also cached. Raises on failure."""
        now = now or datetime.now(UTC)
        streams = {
            "entries": (self.settings.opensearch_entries_stream, True),
            "exits": (self.settings.opensearch_exits_stream, False),
        }
        responses: dict[str, dict[str, Any] | None] = {}
        waiting = []
        try:
            for name, (stream, with_stations) in streams.items():
                try:
                    body = series_query(self.london, now, with_stations=with_stations)
                    responses[name] = self.client.search(index=stream, body=body)
                except NotFoundError:
                    responses[name] = None
                    waiting.append(stream)
            series = series_view(self.london, now, responses["entries"], responses["exits"])
        except Exception as exc:  # whatever it is, the feed is degraded and the log says why
            self._failed(exc)
            raise
        with self._lock:
            if self._error is not None:
                log.info("OpenSearch answers again at %s", self.settings.opensearch_url)
            self._series, self._series_ms = series, now_ms()
            self._error = self._error_since_ms = self._error_type = None
            self._waiting_for = tuple(waiting)
        return series

    def _failed(self, exc: Exception) -> None:
        reason = f"OpenSearch at {self.settings.opensearch_url}: {type(exc).__name__}: {exc}"[:300]
        with self._lock:
            # Logged once per state change (a first failure, or another kind of failure), not every refresh.
            changed = self._error_type is not type(exc)
            if self._error is None:
                self._error_since_ms = now_ms()
            self._error, self._error_type = reason, type(exc)
        if changed:
            # OpenSearch's own errors and malformed answers are expected; anything else is a bug: its traceback.
            expected = isinstance(exc, OpenSearchException | KeyError | TypeError | ValueError)
            log.warning("%s; keeping the last series", reason, exc_info=None if expected else exc)

    async def refresh(self) -> dict[str, Any] | None:
        """Query in a worker thread; concurrent callers share one query. None when it failed."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        started = now_ms()
        async with self._refreshing:
            if self._series_ms is not None and self._series_ms >= started:
                return self._series  # someone refreshed while we waited
            try:
                return await run_in_threadpool(self.query)
            except Exception as exc:
                if self._error_type is not type(exc):  # failed outside query(), which records its own
                    self._failed(exc)
                return None

    async def current(self) -> dict[str, Any] | None:
        """The cached series, refreshed first when older than ``MAX_AGE_S`` (or missing)."""
        if self._series_ms is None or now_ms() - self._series_ms > MAX_AGE_S * 1000:
            await self.refresh()
        return self._series

    def status(self) -> SeriesStatus:
        with self._lock:
            return SeriesStatus(self._series_ms, self._error, self._error_since_ms, self._waiting_for)
