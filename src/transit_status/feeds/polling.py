"""Polling real feeds over HTTP: what one poll fetched, retried with backoff, never raising.

A source is a set of :class:`FeedRequest` (the Train Tracker's positions; GTFS-realtime's vehicle
positions, trip updates, alerts). :class:`LiveSource` fetches each of them once per interval and yields
a :class:`Poll` of their :class:`FeedResponse`. A timeout, a refused connection, an HTTP error or a body
the adapter rejects (``check``: malformed JSON or protobuf, an API error code) is retried with
exponential backoff (tenacity) up to ``attempts`` times; what the last try got is handed on as it is,
so the adapter reports it and the loop goes on. A recording (``recording.py``) yields the same polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from transit_status.feeds.health import utc_now

log = logging.getLogger(__name__)

USER_AGENT = "transit-status/0.1 (feeds adapter)"


class _RequestLineWithoutQuery(logging.Filter):
    """httpx logs each request's URL at INFO, query included, and the Train Tracker's key is in the query:
    the line keeps the URL without it, whoever configures logging."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) > 1 and isinstance(record.args[1], httpx.URL):
            record.args = (record.args[0], record.args[1].copy_with(query=None), *record.args[2:])
        return True


logging.getLogger("httpx").addFilter(_RequestLineWithoutQuery())


class FeedProblem(Exception):
    """What is wrong with a response, phrased for the log and the dashboard (never quoting a key).

    ``retry`` False: trying again at once cannot help (an invalid key, the daily limit reached).
    """

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class FeedResponse:
    """What one request of a feed got: a status and body, or the transport error that came instead."""

    feed: str
    fetched_at: datetime
    status: int | None
    body: bytes | None
    error: str | None = None
    content_type: str = ""

    def problem(self) -> str | None:
        """The transport or HTTP problem of this response (None: a 200 with a body to parse)."""
        if self.error is not None:
            return self.error
        if self.status != 200:
            return f"HTTP {self.status}"
        if not self.body:
            return "empty body"
        return None


@dataclass(frozen=True)
class Poll:
    """One round of a source: every feed's response, fetched around ``fetched_at``."""

    number: int
    fetched_at: datetime
    responses: Mapping[str, FeedResponse]


@dataclass(frozen=True)
class FeedRequest:
    """One feed of a source: where it is and how a body is checked (raises :class:`FeedProblem`)."""

    feed: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[bytes], None] = lambda body: None


class Source(Protocol):
    """Anything that yields polls until ``stop`` is set: live HTTP, or a recording."""

    def polls(self, stop: threading.Event) -> Iterator[Poll]: ...


class _Retry(Exception):
    def __init__(self, response: FeedResponse) -> None:
        super().__init__(response.problem() or "rejected")
        self.response = response


class LiveSource:
    """Polls ``requests`` every ``interval_s`` over one HTTP client (keep-alive), with retries."""

    def __init__(
        self,
        requests: list[FeedRequest],
        interval_s: float,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.requests = requests
        self.interval_s = interval_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.client = client or httpx.Client(
            timeout=timeout_s, follow_redirects=True, headers={"User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self.client.close()

    def polls(self, stop: threading.Event) -> Iterator[Poll]:
        number = 0
        while not stop.is_set():
            began = time.monotonic()
            number += 1
            fetched_at = utc_now()
            responses = {request.feed: self.fetch(request, stop) for request in self.requests}
            yield Poll(number, fetched_at, responses)
            stop.wait(max(0.0, self.interval_s - (time.monotonic() - began)))

    def fetch(self, request: FeedRequest, stop: threading.Event) -> FeedResponse:
        """The feed's response after at most ``attempts`` tries; the last one's, good or bad."""

        def attempt() -> FeedResponse:
            response = self._get(request)
            if response.problem() is not None:
                raise _Retry(response)
            try:
                request.check(response.body or b"")
            except FeedProblem as problem:
                if problem.retry:
                    raise _Retry(response) from None
            return response

        def last(state: RetryCallState) -> FeedResponse:
            error = state.outcome.exception() if state.outcome is not None else None
            assert isinstance(error, _Retry)
            return error.response

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            log.info("%s: try %d failed (%s); trying again", request.feed, state.attempt_number, error)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_when_event_set(stop),
            wait=wait_exponential(multiplier=self.backoff_s, max=30.0),
            retry=retry_if_exception_type(_Retry),
            sleep=stop.wait,  # a stop ends the backoff at once
            before_sleep=before_sleep,
            retry_error_callback=last,
        )
        return retrying(attempt)

    def _get(self, request: FeedRequest) -> FeedResponse:
        fetched_at = utc_now()
        try:
            reply = self.client.get(request.url, params=dict(request.params))
        except httpx.TimeoutException:
            return FeedResponse(request.feed, fetched_at, None, None, "timed out")
        except httpx.HTTPError as error:
            # The exception's text may quote the URL, and with it an API key: name the kind only.
            return FeedResponse(request.feed, fetched_at, None, None, f"request failed ({type(error).__name__})")
        return FeedResponse(
            request.feed, fetched_at, reply.status_code, reply.content, None, reply.headers.get("content-type", "")
        )
