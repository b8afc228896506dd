"""The registry's durable log: one compacted, single-partition Kafka topic (``_schemas`` by default).

A reader thread consumes the topic from the beginning for the registry's whole life and applies each
record to the in-memory state, so state always equals "the topic read up to some offset". A write
produces (acks=all, idempotent), waits for the broker's acknowledgement and then for the reader to
have applied it; only then does the HTTP request get its answer. Writes from another registry
process on the same topic are picked up the same way (and each write first catches up to the end
of the topic, so it decides on ids and versions with everything already written).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_before_delay, wait_fixed

log = logging.getLogger(__name__)

Applier = Callable[[bytes | None, bytes | None], None]
Record = tuple[bytes, bytes | None]  # key, value (None: tombstone)


class SchemaLogUnavailable(RuntimeError):
    """The schemas topic cannot be opened at start: Kafka is unreachable or refused to host the topic."""


class StoreWriteError(RuntimeError):
    """A write to the schemas topic failed (the registry answers 500 / 50001)."""


class StoreTimeoutError(RuntimeError):
    """A write or read of the schemas topic did not finish in time (500 / 50002)."""


class KafkaLog:
    """Append to and continuously read the schemas topic; ``apply`` receives every record in order."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        apply: Applier,
        *,
        replication_factor: int = 1,
        startup_timeout_s: float = 15.0,
        write_timeout_s: float = 10.0,
    ) -> None:
        if replication_factor < 1:
            raise ValueError("replication_factor must be at least 1")
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.replication_factor = replication_factor
        self.startup_timeout_s = startup_timeout_s
        self.write_timeout_s = write_timeout_s
        self._apply = apply
        self._partition = TopicPartition(topic, 0)
        self._applied = threading.Condition()
        self._next_offset = 0  # every record below this offset has been applied
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._offsets_consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._kafka_logger = logging.getLogger(f"{__name__}.librdkafka")

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect, create the topic if needed, and read it to its end; raise SchemaLogUnavailable."""
        base = {"bootstrap.servers": self.bootstrap_servers, "logger": self._kafka_logger}
        admin = AdminClient(dict(base))
        try:
            metadata = admin.list_topics(timeout=self.startup_timeout_s)
        except KafkaException as exc:
            raise SchemaLogUnavailable(f"Kafka is not reachable at {self.bootstrap_servers} ({_reason(exc)})") from None
        self._ensure_topic(admin, metadata.topics)

        group = f"schema-registry-{uuid.uuid4().hex[:12]}"  # required by librdkafka; never committed
        consumer_config = {
            **base,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,  # keeps "written -> applied" latency low
            "topic.metadata.refresh.interval.ms": 10_000,
        }
        self._consumer = Consumer(dict(consumer_config))
        self._offsets_consumer = Consumer(dict(consumer_config))
        self._producer = self._new_producer()
        self._consumer.assign([TopicPartition(self.topic, 0, 0)])
        self._reader = threading.Thread(target=self._read_forever, name="schemas-topic-reader", daemon=True)
        self._reader.start()
        try:
            self.catch_up(self.startup_timeout_s + 30.0)
        except StoreTimeoutError as exc:
            self.close()
            raise SchemaLogUnavailable(f"could not read topic '{self.topic}' to its end: {exc}") from None
        log.info("Read schemas topic '%s' up to offset %d", self.topic, self._next_offset)

    def _new_producer(self) -> Producer:
        timeout_ms = int(self.write_timeout_s * 1000)
        return Producer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "logger": self._kafka_logger,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                "delivery.timeout.ms": timeout_ms,
                "request.timeout.ms": min(timeout_ms, 30_000),
            }
        )

    def close(self) -> None:
        self._stopping.set()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self._producer is not None:
            self._producer.flush(5)
        for consumer in (self._consumer, self._offsets_consumer):
            if consumer is not None:
                with contextlib.suppress(KafkaException, RuntimeError):
                    consumer.close()
        self._consumer = self._offsets_consumer = self._producer = None

    def _ensure_topic(self, admin: AdminClient, topics: dict[str, object]) -> None:
        if self.topic not in topics:
            new = NewTopic(
                self.topic,
                num_partitions=1,
                replication_factor=self.replication_factor,
                # Like Confluent's registry: a schema is acknowledged once two of three replicas have it.
                config={"cleanup.policy": "compact", "min.insync.replicas": str(min(2, self.replication_factor))},
            )
            try:
                admin.create_topics([new], request_timeout=self.startup_timeout_s)[self.topic].result(
                    timeout=self.startup_timeout_s + 5
                )
                log.info(
                    "Created schemas topic '%s' (1 partition, compacted, replication factor %d)",
                    self.topic,
                    self.replication_factor,
                )
                return
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise SchemaLogUnavailable(
                        f"could not create the schemas topic '{self.topic}': {_reason(exc)}"
                    ) from None
            except Exception as exc:  # a future that timed out, ...
                raise SchemaLogUnavailable(f"could not create the schemas topic '{self.topic}': {exc}") from None
        metadata = admin.list_topics(topic=self.topic, timeout=self.startup_timeout_s).topics[self.topic]
        if len(metadata.partitions) != 1:
            raise SchemaLogUnavailable(
                f"the schemas topic '{self.topic}' has {len(metadata.partitions)} partitions; it must have 1"
            )
        resource = ConfigResource(ResourceType.TOPIC, self.topic)
        try:
            configs = admin.describe_configs([resource])[resource].result(timeout=self.startup_timeout_s)
        except Exception as exc:
            raise SchemaLogUnavailable(f"could not read the configuration of '{self.topic}': {exc}") from None
        policy = configs["cleanup.policy"].value if "cleanup.policy" in configs else ""
        if "compact" not in (policy or "").split(","):
            raise SchemaLogUnavailable(
                f"the schemas topic '{self.topic}' has cleanup.policy={policy!r}; it must be 'compact' "
                "or old schemas would be deleted"
            )

    # ---- reading -------------------------------------------------------------------------------------
    def _read_forever(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stopping.is_set():
            try:
                message = consumer.poll(0.2)
            except (KafkaException, RuntimeError) as exc:
                log.warning("Reading the schemas topic failed (%s); retrying", exc)
                time.sleep(0.5)
                continue
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("Reading the schemas topic: %s", error.str())
                continue
            try:
                self._apply(message.key(), message.value())
            except Exception:  # never let one bad record stop the reader
                log.exception("Could not apply schemas-topic record at offset %s", message.offset())
            with self._applied:
                self._next_offset = message.offset() + 1
                self._applied.notify_all()

    def _wait_applied(self, offset: int, deadline: float) -> None:
        with self._applied:
            while self._next_offset < offset:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreTimeoutError(
                        f"the registry has read the schemas topic up to offset {self._next_offset}, not yet to {offset}"
                    )
                self._applied.wait(min(remaining, 0.5))

    def catch_up(self, timeout_s: float | None = None) -> None:
        """Return once every record written to the topic before this call has been applied."""
        consumer = self._offsets_consumer
        if consumer is None:
            raise StoreWriteError("the registry is not connected to Kafka")
        timeout = self.write_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        # Retried: right after the topic is created, or while a broker restarts, the partition
        # briefly has no leader ("Not leader for partition").
        attempts = Retrying(
            retry=retry_if_exception_type(KafkaException),
            wait=wait_fixed(0.2),
            stop=stop_before_delay(timeout),
            before_sleep=lambda state: log.debug(
                "End offset of '%s' not available yet (%s); retrying", self.topic, state.outcome.exception()
            ),
        )

        def end_offsets() -> tuple[int, int]:
            remaining = deadline - time.monotonic()
            return consumer.get_watermark_offsets(self._partition, timeout=max(min(remaining, 5.0), 0.1), cached=False)

        try:
            low, high = attempts(end_offsets)
        except RetryError as exc:
            reason = _reason(exc.last_attempt.exception())  # type: ignore[arg-type]
            raise StoreTimeoutError(f"could not get the end offset of '{self.topic}' from Kafka: {reason}") from None
        if high > low:
            self._wait_applied(high, deadline)

    # ---- writing -------------------------------------------------------------------------------------
    def append(self, records: Sequence[Record]) -> None:
        """Write records in order; return once Kafka has them and the reader has applied them.

        Callers serialise writes themselves (the registry holds one write lock).
        """
        producer = self._producer
        if producer is None:
            raise StoreWriteError("the registry is not connected to Kafka")
        outcomes: list[tuple[KafkaError | None, int]] = []

        def delivered(error: KafkaError | None, message: object) -> None:
            outcomes.append((error, -1 if error is not None else message.offset()))  # type: ignore[attr-defined]

        deadline = time.monotonic() + self.write_timeout_s + 5.0
        try:
            for key, value in records:
                producer.produce(self.topic, key=key, value=value, partition=0, on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            producer.flush(self.write_timeout_s)
            raise StoreWriteError(f"could not write to the schemas topic: {exc}") from None
        if producer.flush(self.write_timeout_s + 5.0) > 0:
            raise StoreTimeoutError(f"Kafka did not acknowledge the write within {self.write_timeout_s:g}s")
        failures = [error for error, _ in outcomes if error is not None]
        if failures:
            error = failures[0]
            if any(failure.fatal() for failure in failures):
                # A fatal idempotence error poisons the producer for good: start a fresh one.
                log.error("Schemas-topic producer failed fatally (%s); replacing it", error.str())
                self._producer = self._new_producer()
            timeouts = (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT)
            if error.code() in timeouts:
                raise StoreTimeoutError(f"Kafka did not acknowledge the write in time: {error.str()}")
            raise StoreWriteError(f"Kafka rejected the write: {error.str()}")
        last_offset = max(offset for _, offset in outcomes)
        self._wait_applied(last_offset + 1, deadline)


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
