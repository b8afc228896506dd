"""The proxy's one Kafka producer, its delivery reports as asyncio futures, and cached topic metadata."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from tenacity import AsyncRetrying, retry_if_result, stop_after_delay, wait_fixed

from transit_status.config import Settings
from transit_status.platform.rest_proxy import errors

log = logging.getLogger(__name__)

METADATA_TIMEOUT_S = 5.0
# A topic seen in metadata this recently is trusted; a miss always triggers a fresh look-up, so a topic
# created a moment ago is found and a deleted one is noticed within this time.
METADATA_MAX_AGE_S = 10.0
# A topic the broker does not list yet may just have been created: its metadata reaches the broker a
# moment after the controller committed it (1-4 s on a busy broker). A produce waits this long for it to
# appear, as librdkafka itself would (topic.metadata.propagation.max.ms), before answering 40401.
TOPIC_PROPAGATION_S = 4.0
TOPIC_POLL_INTERVAL_S = 0.25
# Delivery is awaited at most this long (librdkafka's message timeout) before a record is reported failed.
DELIVERY_TIMEOUT_MS = 30_000
BUFFER_FULL_WAIT_S = 10.0
# librdkafka refuses larger records; the proxy checks this before sending so such a request writes nothing.
MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: dict[int, PartitionInfo]


@dataclass(frozen=True)
class OutgoingRecord:
    key: bytes | None
    value: bytes | None
    partition: int | None


_UNKNOWN_TOPIC_CODES = frozenset({KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART})


@dataclass(frozen=True)
class DeliveryResult:
    partition: int | None
    offset: int | None
    error_code: int | None
    error: str | None
    # The broker does not have the topic (deleted, or never created): the request answers 40401.
    topic_missing: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "error_code": self.error_code,
            "error": self.error,
        }


def _delivery_failure(error: KafkaError | KafkaException) -> DeliveryResult:
    kafka_error = error.args[0] if isinstance(error, KafkaException) and error.args else error
    if isinstance(kafka_error, KafkaError):
        code = errors.KAFKA_RETRIABLE_ERROR if kafka_error.retriable() else errors.KAFKA_ERROR
        reason = kafka_error.str()
        missing = kafka_error.code() in _UNKNOWN_TOPIC_CODES
    else:
        code, reason, missing = errors.KAFKA_ERROR, str(error), False
    return DeliveryResult(partition=None, offset=None, error_code=code, error=reason, topic_missing=missing)


class KafkaGateway:
    """One shared producer (polled by a background thread) and an admin client for metadata."""

    def __init__(self, settings: Settings) -> None:
        self._bootstrap = settings.bootstrap_servers
        self._producer = Producer(
            {
                **settings.kafka_client_config(),
                "client.id": "transit-status-rest-proxy",
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                "message.max.bytes": MAX_RECORD_BYTES + 10_000,  # headroom for librdkafka's framing
                # Same key -> partition mapping as the Java producer (and so as Confluent's proxy).
                "partitioner": "murmur2_random",
                "allow.auto.create.topics": False,
            }
        )
        self._admin = AdminClient(settings.kafka_client_config(**{"client.id": "transit-status-rest-proxy"}))
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="rest-proxy-producer-poll", daemon=True)
        self._topics: dict[str, TopicInfo] = {}
        self._topics_at = float("-inf")
        self._refresh_lock = asyncio.Lock()

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._poller.start()

    def close(self, timeout_s: float = 15.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop polling."""
        self._stop.set()
        if self._poller.is_alive():
            self._poller.join(timeout=5)
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log.warning("rest-proxy: %d record(s) were still undelivered at shutdown", remaining)

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:  # a failing callback must not stop delivery reports for everyone else
                log.exception("rest-proxy: error while serving delivery reports")

    # ---- metadata ------------------------------------------------------------------------------
    def _fetch_topics(self) -> dict[str, TopicInfo]:
        # All-topics metadata (never a single named topic) so the broker never auto-creates one for us.
        metadata = self._admin.list_topics(timeout=METADATA_TIMEOUT_S)
        topics: dict[str, TopicInfo] = {}
        for name, topic in metadata.topics.items():
            # Only "unknown topic" means absent. Other errors (a new topic's partitions still without
            # a leader) describe a topic that exists; the producer waits for its leaders.
            if topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            partitions = {
                pid: PartitionInfo(pid, p.leader, tuple(p.replicas), tuple(p.isrs))
                for pid, p in topic.partitions.items()
            }
            topics[name] = TopicInfo(name=name, partitions=partitions)
        return topics

    async def _refresh(self, requested_at: float) -> None:
        """Make the snapshot one whose fetch started no earlier than ``requested_at``.

        Concurrent callers share one fetch; a snapshot counts from the moment its fetch started, so a
        topic created before a request arrived is always seen by that request.
        """
        async with self._refresh_lock:
            if self._topics_at >= requested_at:
                return  # another request refreshed while we waited
            started = time.monotonic()
            try:
                topics = await asyncio.to_thread(self._fetch_topics)
            except KafkaException as exc:
                raise errors.kafka_error(
                    f"cannot read topic metadata from {self._bootstrap}: {exc.args[0] if exc.args else exc}"
                ) from None
            self._topics, self._topics_at = topics, started

    async def topics(self) -> dict[str, TopicInfo]:
        """Every topic, as of now (requests arriving together share one metadata fetch)."""
        await self._refresh(time.monotonic())
        return self._topics

    async def topic(self, name: str) -> TopicInfo | None:
        """The topic's metadata, or None if the cluster does not have it (looked up fresh on a miss)."""
        now = time.monotonic()
        info = self._topics.get(name)
        if info is not None and now - self._topics_at <= METADATA_MAX_AGE_S:
            return info
        await self._refresh(now)
        return self._topics.get(name)

    async def topic_with_partitions(self, name: str, wanted: Sequence[int]) -> TopicInfo | None:
        """Like :meth:`topic`, re-reading metadata once if a wanted partition is not known yet."""
        now = time.monotonic()
        info = await self.topic(name)
        if info is not None and any(p not in info.partitions for p in wanted):
            await self._refresh(now)
            info = self._topics.get(name)
        return info

    async def topic_for_produce(
        self, name: str, wanted: Sequence[int], wait_s: float = TOPIC_PROPAGATION_S
    ) -> TopicInfo | None:
        """The topic to produce to, waiting up to ``wait_s`` for one the broker does not list yet.

        None only once the topic stayed absent that long: a topic that exists is never refused, while
        one that does not is refused before any schema is registered or record sent.
        """
        waiting = AsyncRetrying(
            retry=retry_if_result(lambda info: info is None),
            wait=wait_fixed(TOPIC_POLL_INTERVAL_S),
            stop=stop_after_delay(wait_s),
            retry_error_callback=lambda _: None,
        )
        info = await waiting(self.topic, name)
        return None if info is None else await self.topic_with_partitions(name, wanted)

    def _describe_configs(self, name: str) -> dict[str, str | None]:
        futures = self._admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
        (future,) = futures.values()
        entries = future.result(timeout=METADATA_TIMEOUT_S + 5)
        return {entry_name: entry.value for entry_name, entry in sorted(entries.items())}

    async def topic_configs(self, name: str) -> dict[str, str | None]:
        try:
            return await asyncio.to_thread(self._describe_configs, name)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise errors.topic_not_found() from None
            raise errors.kafka_error(f"cannot describe topic {name}: {error}") from None

    # ---- producing -----------------------------------------------------------------------------
    async def produce(self, topic: str, records: Sequence[OutgoingRecord]) -> list[DeliveryResult]:
        """Send ``records`` in order and wait for every delivery report; failures are per record."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[DeliveryResult]] = []
        for record in records:
            future: asyncio.Future[DeliveryResult] = loop.create_future()
            futures.append(future)
            await self._send(loop, topic, record, future)
        return list(await asyncio.gather(*futures))

    async def _send(
        self, loop: asyncio.AbstractEventLoop, topic: str, record: OutgoingRecord, future: asyncio.Future
    ) -> None:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                result = _delivery_failure(error)
            else:
                result = DeliveryResult(message.partition(), message.offset(), None, None)
            # RuntimeError: the event loop is gone (shutdown), nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result)

        kwargs: dict[str, Any] = {"key": record.key, "value": record.value, "on_delivery": on_delivery}
        if record.partition is not None:
            kwargs["partition"] = record.partition
        deadline = time.monotonic() + BUFFER_FULL_WAIT_S
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:
                # The local queue is full: give the poll thread time to drain it, then retry.
                if time.monotonic() > deadline:
                    _settle(future, DeliveryResult(None, None, errors.KAFKA_RETRIABLE_ERROR, "Local: Queue full"))
                    return
                await asyncio.sleep(0.05)
            except KafkaException as exc:
                _settle(future, _delivery_failure(exc))
                return


def _settle(future: asyncio.Future, result: DeliveryResult) -> None:
    if not future.done():
        future.set_result(result)
