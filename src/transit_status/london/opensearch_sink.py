"""London's enriched barrier events into OpenSearch: ``transit-status serve opensearch-sink``.

Reads ``station_entries`` and ``station_exits`` (docs/ARCHITECTURE.md, "London") with confluent-kafka
and bulk-loads them into the data streams of the same names (settings ``opensearch_entries_stream``,
``opensearch_exits_stream``) with opensearch-py, as the original design's consumer loaded Elasticsearch.

Guarantees:

* **At least once, never a duplicate.** Offsets are committed only after OpenSearch acknowledged every
  document of a batch (or the record went to the dead-letter topic). Each document's ``_id`` is its
  record's ``<topic>-<partition>-<offset>`` and is written with ``create`` (the only operation a data
  stream accepts), so a batch replayed after a crash or a kill -9 finds its documents there already:
  that 409 "version conflict, document already exists" is counted as indexed, not as an error.
* **Bad records are data.** A value that is not a JSON object with an ``@timestamp``, or a document
  OpenSearch rejects (e.g. a ``location`` that is no ``"lat,lon"``), goes byte for byte to the
  dead-letter topic with the ``dlq.*`` headers; the rest of the batch is indexed and the sink goes on.
* **OpenSearch down is waited out.** Connection errors, 429 and 5xx are retried with exponential
  backoff (tenacity) for as long as it takes; the sink never exits for it and never commits past
  what was indexed. A stop during that wait leaves the batch uncommitted: the next start replays it.
* **A stop is quick.** SIGTERM ends the loop after the batch in hand is indexed and committed (a
  batch waits at most :data:`BATCH_WAIT_S` for records).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import RequestError, TransportError
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from transit_status import dead_letters
from transit_status.config import Settings
from transit_status.dead_letters import DeadLetter
from transit_status.topics import dead_letters_topic, ensure_topics, london_derived_topics

log = logging.getLogger(__name__)

CONSUMER_NAME = "opensearch-sink"
BATCH_MAX = 5000  # records per bulk request: a few MB, well under OpenSearch's 100 MB request limit
BATCH_WAIT_S = 0.5  # how long a batch waits to fill: the sink's latency when traffic is light
LOG_EVERY_S = 30.0
ALREADY_EXISTS = 409  # `create` of an _id the data stream holds: this record was indexed before a replay
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

# The original design's time-series mapping, field for field. Elasticsearch's version was a TSDS
# (`index.mode: time_series`): `user` and `station` with `time_series_dimension: true`, `delta` with
# `time_series_metric: gauge`, documents routed by their dimensions (`index.routing_path`), backing
# indices bounded in time, and a document with the same dimensions and @timestamp rejected as a
# duplicate. OpenSearch 2.19 has no index mode, no dimension or metric parameters and no
# downsampling: the same fields are mapped with the same types (keyword, integer, date, geo_point)
# in an ordinary data stream, a document is routed by its _id, and duplicates are prevented by the
# _id this sink derives from the record's Kafka coordinates instead. Aggregations (terms on
# station/user, date_histogram on @timestamp, sum of delta, geo on location) work the same.
STATION_EVENT_MAPPING: dict[str, Any] = {
    # Fields outside the contract are kept in _source but not indexed: a new field from the join must
    # not turn every following record into a dead letter (strict) or grow the mapping unasked (true).
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
        "user": {"type": "keyword"},  # a dimension in the original design
        "station": {"type": "keyword"},  # a dimension in the original design
        "delta": {"type": "integer"},  # the original design's gauge
        "location": {"type": "geo_point"},  # "lat,lon" text, or null for a station the table does not know
        "known": {"type": "boolean"},
    },
}


def index_template(stream: str) -> dict[str, Any]:
    return {
        "index_patterns": [stream],
        "data_stream": {"timestamp_field": {"name": "@timestamp"}},
        "priority": 200,  # above any catch-all template
        # One node: replicas could never be placed (the stream would stay yellow).
        "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": STATION_EVENT_MAPPING},
        "_meta": {"written_by": "transit-status opensearch-sink", "contract": "docs/ARCHITECTURE.md, London"},
    }


def data_streams(settings: Settings) -> dict[str, str]:
    """Topic -> the data stream its records go to."""
    return {
        settings.topic_london_station_entries: settings.opensearch_entries_stream,
        settings.topic_london_station_exits: settings.opensearch_exits_stream,
    }


def opensearch_client(settings: Settings) -> OpenSearch:
    # No retries inside the client: the sink's own backoff (tenacity) decides, and it watches for a stop.
    return OpenSearch(**settings.opensearch_client_options(), timeout=30, max_retries=0, retry_on_timeout=False)


def ensure_data_streams(client: OpenSearch, settings: Settings) -> None:
    """Put both index templates (an update if they exist) and create both data streams if missing."""
    for stream in data_streams(settings).values():
        client.indices.put_index_template(name=stream, body=index_template(stream))
        try:
            client.indices.create_data_stream(name=stream)
        except RequestError as error:
            if error.error != "resource_already_exists_exception":
                raise


class MalformedRecordError(ValueError):
    """A record whose value cannot be a document of the contract."""


def document_of(message: Message) -> dict[str, Any]:
    """The record's JSON object; checks only what OpenSearch cannot (the mapping checks the types)."""
    value = message.value()
    if value is None:
        raise MalformedRecordError("no value (a tombstone)")
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedRecordError(f"value is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedRecordError(f"value is JSON {type(document).__name__}, not an object")
    if not isinstance(document.get("@timestamp"), str | int):
        raise MalformedRecordError("no @timestamp (a data stream needs one)")
    return document


def document_id(message: Message) -> str:
    return f"{message.topic()}-{message.partition()}-{message.offset()}"


@dataclass(frozen=True)
class Pending:
    """One record of a batch on its way into OpenSearch."""

    message: Message
    stream: str
    document: dict[str, Any]


class TransientFailureError(Exception):
    """Something that passes: part of a bulk refused for now (429, 5xx), or dead letters not yet delivered."""


def is_transient(error: BaseException) -> bool:
    if isinstance(error, OpenSearchConnectionError | TransientFailureError):
        return True  # unreachable, timed out, or a partial bulk to redo
    return isinstance(error, TransportError) and error.status_code in TRANSIENT_STATUSES


def short_reason(error: Any) -> str:
    """OpenSearch's item error (``{"type", "reason", "caused_by"}``) as one line."""
    if not isinstance(error, dict):
        return str(error)
    reason = f"{error.get('type')}: {error.get('reason')}"
    cause = error.get("caused_by")
    return f"{reason} ({cause.get('type')}: {cause.get('reason')})" if isinstance(cause, dict) else reason


class OpenSearchSink:
    """The consume → bulk → dead-letter → commit loop (see the module docstring for its guarantees)."""

    def __init__(self, settings: Settings, stop: threading.Event, client: OpenSearch | None = None) -> None:
        self.settings = settings
        self.stop = stop
        self.streams = data_streams(settings)
        self.client = client or opensearch_client(settings)
        self.stats: Counter[str] = Counter()
        self.consumer = Consumer(
            {
                **settings.kafka_client_config(),
                "group.id": settings.london_opensearch_sink_group,
                "client.id": CONSUMER_NAME,
                "enable.auto.commit": False,  # committed by hand, after OpenSearch acknowledged
                "auto.offset.reset": "earliest",
                # Flink's exactly-once Kafka sink writes in transactions: an aborted one is never indexed.
                "isolation.level": "read_committed",
                # After a crash (kill -9) the group waits this long for the dead member before the
                # restarted sink gets its partitions: 10 s instead of librdkafka's 45. Heartbeats run in
                # librdkafka's own thread, so a long wait for OpenSearch does not end the session.
                "session.timeout.ms": 10_000,
            }
        )
        self.producer = Producer(
            {**settings.kafka_client_config(), "client.id": CONSUMER_NAME, "enable.idempotence": True}
        )

    def _retrying(self, what: str) -> Retrying:
        """Transient failures retried with backoff from 0.2 s to 10 s, forever, until a stop is requested
        (then the last error is raised); anything else is raised at once."""

        def report(state: RetryCallState) -> None:
            wait_s = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s failed (attempt %d: %s); again in %.1f s", what, state.attempt_number, error, wait_s)

        return Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_exponential(multiplier=0.2, max=10),
            stop=lambda _state: self.stop.is_set(),
            sleep=self.stop.wait,  # a stop cuts a backoff short
            before_sleep=report,
            reraise=True,
        )

    def run(self) -> None:
        topics = [spec for spec in london_derived_topics(self.settings) if spec.name in self.streams]
        ensure_topics(self.settings, [*topics, dead_letters_topic(self.settings)])
        try:
            for attempt in self._retrying("preparing the data streams"):
                with attempt:
                    ensure_data_streams(self.client, self.settings)
        except Exception as error:
            if self.stop.is_set() and is_transient(error):
                log.info("stopped before OpenSearch answered (%s)", error)
                return
            raise
        self.consumer.subscribe(list(self.streams))
        log.info("indexing %s into OpenSearch at %s", self.streams, self.settings.opensearch_url)
        last_report = 0.0
        try:
            while not self.stop.is_set():
                messages = self.consumer.consume(BATCH_MAX, timeout=BATCH_WAIT_S)
                if messages and not self.sink(messages):
                    break  # stopped while OpenSearch was down: that batch stays uncommitted
                last_report = self._report_now_and_then(last_report)
        finally:
            self.consumer.close()
            self.producer.flush(10)
            log.info("stopped; %s", dict(self.stats))

    def sink(self, messages: list[Message]) -> bool:
        """Index one batch, dead-letter its bad records, then commit it. False: stopped before it was indexed."""
        pending: list[Pending] = []
        letters: list[DeadLetter] = []
        for message in messages:
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            try:
                pending.append(Pending(message, self.streams[message.topic()], document_of(message)))
            except MalformedRecordError as problem:
                letters.append(DeadLetter.from_message(message, str(problem), CONSUMER_NAME))
        try:
            for attempt in self._retrying("indexing a batch"):
                with attempt:
                    self.index(pending, letters)
            for attempt in self._retrying("publishing dead letters"):
                with attempt:
                    self.send_dead_letters(letters)
        except Exception as error:
            if self.stop.is_set() and is_transient(error):
                log.warning("stopping with %d records not committed (%s); they are replayed on the next start",
                            len(messages), error)  # fmt: skip
                return False
            raise
        self.commit(messages)
        return True

    def index(self, pending: list[Pending], letters: list[DeadLetter]) -> None:
        """Bulk-create ``pending``; a document OpenSearch refuses for good becomes a dead letter in ``letters``.

        Documents refused for a passing reason stay in ``pending`` (the others are removed) and
        :class:`TransientFailureError` is raised, so a retry sends only what is still missing.
        """
        if not pending:
            return
        body: list[dict[str, Any]] = []
        for item in pending:
            body += [{"create": {"_index": item.stream, "_id": document_id(item.message)}}, item.document]
        response = self.client.bulk(body=body)
        retry: list[Pending] = []
        for item, result in zip(pending, response["items"], strict=True):
            outcome = result["create"]
            status = outcome["status"]
            if status < 300:
                self.stats["indexed"] += 1
            elif status == ALREADY_EXISTS:
                self.stats["already indexed"] += 1
            elif status in TRANSIENT_STATUSES:
                retry.append(item)
            else:
                reason = f"OpenSearch refused it: {short_reason(outcome.get('error'))}"
                letters.append(DeadLetter.from_message(item.message, reason, CONSUMER_NAME))
        pending[:] = retry
        if retry:
            raise TransientFailureError(f"{len(retry)} documents refused for now (status {TRANSIENT_STATUSES})")

    def send_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Publish and wait for the broker: a record's offset is committed only once its letter is kept.

        Delivered letters are removed from ``letters``; a retry publishes only the others.
        """
        if not letters:
            return
        undelivered: list[DeadLetter] = []
        for letter in letters:
            dead_letters.publish(
                self.producer, self.settings, letter, on_failure=lambda _error, kept=letter: undelivered.append(kept)
            )
        remaining = self.producer.flush(10)
        delivered = len(letters) - len(undelivered)
        self.stats["dead-lettered"] += delivered
        if remaining:  # still queued after 10 s: Kafka is unreachable; count none of this round as kept
            raise TransientFailureError(f"{remaining} dead letters not delivered yet")
        letters[:] = undelivered
        if undelivered:
            raise TransientFailureError(f"{len(undelivered)} dead letters not delivered")

    def commit(self, messages: list[Message]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            if not message.error():
                key = (message.topic(), message.partition())
                next_offsets[key] = max(next_offsets.get(key, 0), message.offset() + 1)
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # E.g. a rebalance took the partitions away: their next owner replays from the last
            # commit, and the replayed documents are recognised by their _id (409), not duplicated.
            log.warning("could not commit %s: %s", offsets, error)

    def _report_now_and_then(self, last_report: float) -> float:
        now = time.monotonic()
        if now - last_report < LOG_EVERY_S:
            return last_report
        if self.stats:
            log.info("so far: %s", dict(self.stats))
        return now


def run_opensearch_sink(settings: Settings, stop: threading.Event) -> None:
    """``transit-status serve opensearch-sink``: index London's enriched events until ``stop`` is set."""
    # The client logs every request, and every refused connection with its traceback: the sink's own
    # retry messages say what matters.
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    OpenSearchSink(settings, stop).run()
