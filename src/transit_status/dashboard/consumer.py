"""The dashboard's Kafka side: one consumer thread that feeds decoded changes to a sink.

:class:`TopicConsumer` is the loop every page's consumers share; each network says which topics it
reads, in which roles, from where, and how a record becomes a change (``cta/consumer.py``,
``london/consumer.py`` and the consumers of the alerts, headways and run times beside them).

* No consumer group: partitions are ``assign``-ed with explicit start offsets and nothing is
  committed. A topic is read from the beginning unless its consumer says otherwise (e.g. from
  ``now - dashboard_replay_s``: :func:`offsets_since`).
  ``isolation.level=read_committed`` so transactional outputs (Faust's, Flink's) show once committed.
* Topics that do not exist yet are looked for every second and assigned once they appear; Kafka
  being unreachable is reported in :meth:`TopicConsumer.status` and retried, never fatal.
* A partition's start-up load is done at its first end-of-partition event; a topic is ``live`` when
  all its partitions are. The dashboard's /healthz reports exactly that, with each role's freshness
  (its newest record) as this consumer read it.
* Changes are handed over as soon as the consumer has nothing more waiting locally (or after 20 ms
  / 500 records), so a browser hears of a record within milliseconds of the broker delivering it.
* Records that do not decode or break their contract go to the dead-letter topic; the loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from tenacity import RetryCallState, Retrying, stop_when_event_set, wait_exponential

from transit_status.avro.wire import AvroDecoder, BadRecord, RegistryUnavailable, registry_client
from transit_status.config import Settings
from transit_status.dashboard.dead_letters import DeadLetterPublisher
from transit_status.dashboard.state import Freshness, Received
from transit_status.wallclock import now_ms

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger("transit_status.dashboard.librdkafka")

TopicState = Literal["unknown", "missing", "loading", "live"]
Sink = Callable[[list[Received[Any]]], None]

FLUSH_AFTER_S = 0.02
FLUSH_EVERY = 500
MISSING_TOPIC_CHECK_S = 1.0
TOPIC_CHECK_S = 5.0
REGISTRY_RETRY_S = 1.0
NOT_CONNECTED_YET = "not connected yet"
"""The Kafka error until the first metadata call answers or fails: starting, not a fault yet."""


@dataclass(frozen=True, slots=True)
class TopicStatus:
    role: str
    topic: str
    state: TopicState
    partitions: int
    loading_partitions: int
    detail: str
    missing_since_ms: int | None
    """When the topic was first found missing (None while it exists or was never looked for)."""


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    running: bool
    kafka_connected: bool
    kafka_error: str | None
    kafka_down_since_ms: int | None
    """Since when Kafka has not answered (the consumer's start if it never has); None while connected."""
    registry_error: str | None
    registry_error_since_ms: int | None
    topics: dict[str, TopicStatus]
    records: dict[str, int]
    dead_letters: dict[str, int]
    freshness: dict[str, Freshness] = field(default_factory=dict)
    """Per role, the newest good record this consumer read (what a page without a state of its own,
    e.g. the alerts' views, is judged by)."""


@dataclass(slots=True)
class _Progress:
    topic: str
    seen: bool = False
    """Metadata was read at least once (until then the state is 'unknown')."""
    exists: bool = False
    assigned: set[int] = field(default_factory=set)
    loading: set[int] = field(default_factory=set)
    missing_since_ms: int | None = None

    def state(self) -> TopicState:
        if not self.seen:
            return "unknown"
        if not self.exists or not self.assigned:
            return "missing"
        return "loading" if self.loading else "live"


class TopicConsumer:
    """Runs the consumer loop in a daemon thread; :meth:`status` is safe to call from any thread.

    A subclass names its topics (:meth:`topic_roles`) and decodes their records (:meth:`_decode`);
    it may start some elsewhere than at the beginning (:meth:`_start_offsets`).
    """

    name = "dashboard"
    avro_roles: frozenset[str] = frozenset()
    """Roles whose records need the schema registry: a good one shows the registry answers again."""

    def __init__(self, settings: Settings, sink: Sink, dead_letters: DeadLetterPublisher | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.dead_letters = dead_letters or DeadLetterPublisher(settings)
        self.roles: dict[str, str] = self.topic_roles(settings)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._kafka_connected = False
        self._kafka_error: str | None = NOT_CONNECTED_YET
        self._kafka_down_since_ms: int | None = now_ms()
        self._registry_error: str | None = None
        self._registry_error_since_ms: int | None = None
        self._progress: dict[str, _Progress] = {role: _Progress(topic) for topic, role in self.roles.items()}
        self._records: Counter[str] = Counter()
        self._freshness: dict[str, Freshness] = {role: Freshness() for role in self.roles.values()}
        self._dead_lettered: Counter[str] = Counter()
        self._decoder = AvroDecoder(registry_client(settings, timeout_s=5))

    @staticmethod
    def topic_roles(settings: Settings) -> dict[str, str]:
        """Topic name -> the role its records play in the state."""
        raise NotImplementedError

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                # It closes its own clients when its current Kafka call returns (see _run).
                log.warning("%s consumer still busy after %.0f s; leaving it to finish", self.name, timeout_s)

    def status(self) -> ConsumerStatus:
        with self._lock:
            topics = {}
            for role, progress in self._progress.items():
                state = progress.state()
                topics[role] = TopicStatus(
                    role=role,
                    topic=progress.topic,
                    state=state,
                    partitions=len(progress.assigned),
                    loading_partitions=len(progress.loading),
                    detail=_DETAILS[state].format(topic=progress.topic, left=len(progress.loading)),
                    missing_since_ms=progress.missing_since_ms if state == "missing" else None,
                )
            return ConsumerStatus(
                running=self._running,
                kafka_connected=self._kafka_connected,
                kafka_error=self._kafka_error,
                kafka_down_since_ms=self._kafka_down_since_ms,
                registry_error=self._registry_error,
                registry_error_since_ms=self._registry_error_since_ms,
                topics=topics,
                records=dict(self._records),
                dead_letters=dict(self._dead_lettered),
                freshness={role: replace(fresh) for role, fresh in self._freshness.items()},
            )

    # ---- the loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        # A session only returns once stopped; one that fails (a bug or a fatal client error) is
        # reported and replaced by a new consumer, with growing pauses that a stop cuts short.
        sessions = Retrying(
            wait=wait_exponential(min=1, max=10),
            stop=stop_when_event_set(self._stop),
            sleep=self._stop.wait,
            before_sleep=self._session_failed,
            retry_error_callback=lambda _state: None,  # stopped while failing: nothing to re-raise
        )
        for attempt in sessions:
            with attempt:
                self._session()
        # Closed here, on this thread, so nothing can still be publishing a dead letter meanwhile.
        self.dead_letters.close()
        with self._lock:
            self._running = False

    def _session_failed(self, retry: RetryCallState) -> None:
        exc = retry.outcome.exception() if retry.outcome else None
        pause = retry.next_action.sleep if retry.next_action else 0
        log.error("dashboard consumer failed; starting a new one in %.0fs", pause, exc_info=exc)
        self._set_kafka(False, f"consumer failed: {exc}")

    def _config(self) -> dict[str, object]:
        return {
            **self.settings.kafka_client_config(),
            "client.id": f"transit-status-{self.name}",
            # Never joined (we assign), never committed: unique so it cannot disturb anyone.
            "group.id": f"transit-status-{self.name}-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
            "reconnect.backoff.max.ms": 2000,
            "error_cb": self._on_kafka_error,
            "logger": _librdkafka_log,
        }

    def _session(self) -> None:
        consumer = Consumer(self._config())
        with self._lock:
            self._running = True
            for progress in self._progress.values():
                progress.assigned.clear()
                progress.loading.clear()
                progress.exists = False
        pending: list[Received[Any]] = []
        first_pending_at = 0.0
        next_check = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_check:
                    self._check_topics(consumer)
                    waiting = not self._kafka_connected or any(not p.exists for p in self._progress.values())
                    next_check = now + (MISSING_TOPIC_CHECK_S if waiting else TOPIC_CHECK_S)
                message = consumer.poll(0 if pending else 0.1)
                retry_registry = False
                if message is not None:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            self._flush(pending)
                            pending = []
                            self._partition_loaded(message.topic(), message.partition())
                        else:
                            self._on_message_error(message, error)
                    else:
                        try:
                            received = self._receive(message)
                        except RegistryUnavailable as exc:
                            self._registry_unavailable(consumer, message, str(exc))
                            retry_registry = True
                        else:
                            if received is not None:
                                if not pending:
                                    first_pending_at = time.monotonic()
                                pending.append(received)
                if pending and (
                    message is None
                    or retry_registry
                    or len(pending) >= FLUSH_EVERY
                    or time.monotonic() - first_pending_at >= FLUSH_AFTER_S
                ):
                    self._flush(pending)
                    pending = []
                if retry_registry:
                    self._stop.wait(REGISTRY_RETRY_S)
                self.dead_letters.poll()
        finally:
            self._flush(pending)
            consumer.close()

    def _flush(self, pending: list[Received[Any]]) -> None:
        if pending:
            self.sink(pending)

    # ---- topics, partitions and start offsets ------------------------------------------------------
    def _check_topics(self, consumer: Consumer) -> None:
        try:
            metadata = consumer.list_topics(timeout=3)
        except KafkaException as exc:
            self._set_kafka(False, f"Kafka unreachable at {self.settings.bootstrap_servers}: {exc.args[0]}")
            return
        self._set_kafka(True, None)
        for topic, role in self.roles.items():
            progress = self._progress[role]
            found = metadata.topics.get(topic)
            unknown = found is None or (
                found.error is not None and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            )
            exists = not unknown
            if not exists:
                if progress.assigned:
                    log.warning("topic %s disappeared; waiting for it to come back", topic)
                    consumer.incremental_unassign([TopicPartition(topic, p) for p in progress.assigned])
                with self._lock:
                    progress.seen, progress.exists = True, False
                    if progress.missing_since_ms is None:
                        progress.missing_since_ms = now_ms()
                    progress.assigned.clear()
                    progress.loading.clear()
                continue
            assert found is not None
            ready = {p for p, info in found.partitions.items() if info.leader >= 0 and info.error is None}
            new = sorted(ready - progress.assigned)
            with self._lock:
                progress.seen = True
                progress.missing_since_ms = None
            if not new:
                continue
            try:
                start = self._start_offsets(consumer, topic, role, new, first=not progress.assigned)
                consumer.incremental_assign(start)
            except KafkaException as exc:
                log.warning("could not assign %s partitions %s yet: %s", topic, new, exc)
                continue
            with self._lock:
                progress.exists = True
                progress.assigned.update(new)
                progress.loading.update(new)
            log.info(
                "reading %s (%s) partitions %s from %s",
                topic,
                role,
                new,
                ", ".join(_describe_offset(tp.offset) for tp in start),
            )

    def _start_offsets(
        self, consumer: Consumer, topic: str, role: str, partitions: list[int], first: bool
    ) -> list[TopicPartition]:
        """Where each new partition is read from: the beginning (a subclass may start later on its
        ``first`` assignment; partitions added to a topic already read hold only new records)."""
        return [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]

    def _partition_loaded(self, topic: str | None, partition: int | None) -> None:
        role = self.roles.get(topic or "")
        if role is None:
            return
        progress = self._progress[role]
        if partition not in progress.loading:
            return
        with self._lock:
            progress.loading.discard(partition)  # type: ignore[arg-type]
            done = not progress.loading
        if done:
            log.info("loaded %s (%s); now live", topic, role)

    # ---- records ----------------------------------------------------------------------------------
    def _receive(self, message: Message) -> Received[Any] | None:
        topic = message.topic() or ""
        role = self.roles.get(topic)
        if role is None:
            return None
        try:
            change = self._decode(role, message)
        except BadRecord as exc:
            self._dead_letter(message, role, str(exc))
            return None
        except RegistryUnavailable:
            raise
        except Exception as exc:  # our bug must not stop the dashboard: the record is set aside
            log.exception("unexpected error decoding %s[%s]@%s", topic, message.partition(), message.offset())
            self._dead_letter(message, role, f"unexpected error: {type(exc).__name__}: {exc}")
            return None
        if role in self.avro_roles and self._registry_error is not None:
            log.info("schema registry reachable again")
            with self._lock:
                self._registry_error = self._registry_error_since_ms = None
        kind, stamp = message.timestamp()
        received = Received(
            role=role,
            change=change,
            record_ms=stamp if kind != TIMESTAMP_NOT_AVAILABLE and stamp >= 0 else None,
            received_ms=now_ms(),
            live=message.partition() not in self._progress[role].loading,
        )
        with self._lock:
            self._records[role] += 1
            self._freshness[role].note(received)
        return received

    def _decode(self, role: str, message: Message) -> Any:
        """One record of ``role``'s topic as its page's change; :class:`BadRecord` when it breaks its contract."""
        raise NotImplementedError

    def _dead_letter(self, message: Message, role: str, reason: str) -> None:
        with self._lock:
            self._dead_lettered[role] += 1
        self.dead_letters.publish(message, reason)  # logs where the record was and why it is bad

    def _registry_unavailable(self, consumer: Consumer, message: Message, reason: str) -> None:
        if self._registry_error is None:
            log.warning("%s; will retry %s[%s]@%s", reason, message.topic(), message.partition(), message.offset())
        with self._lock:
            self._registry_error = reason
            if self._registry_error_since_ms is None:
                self._registry_error_since_ms = now_ms()
        try:  # read the same record again after a pause
            consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
        except KafkaException as exc:
            log.warning("could not seek back on %s[%s]: %s", message.topic(), message.partition(), exc)

    # ---- Kafka health -------------------------------------------------------------------------------
    def _set_kafka(self, connected: bool, error: str | None) -> None:
        with self._lock:
            was = self._kafka_connected
            self._kafka_connected, self._kafka_error = connected, error
            if connected:
                self._kafka_down_since_ms = None
            elif self._kafka_down_since_ms is None:
                self._kafka_down_since_ms = now_ms()
        if was and not connected:
            log.warning("lost Kafka: %s", error)
        elif connected and not was:
            log.info("connected to Kafka at %s", self.settings.bootstrap_servers)

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._set_kafka(False, f"Kafka unreachable at {self.settings.bootstrap_servers}: all brokers down")
        elif error.fatal():
            log.error("fatal Kafka error: %s", error)
        else:
            log.debug("Kafka: %s", error)

    def _on_message_error(self, message: Message, error: KafkaError) -> None:
        if error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION):
            log.info("%s: %s", message.topic(), error.str())
        else:
            log.warning("consumer error on %s[%s]: %s", message.topic(), message.partition(), error.str())


CountedInput = tuple[Collection[str], TopicConsumer | None]
"""A consumer's roles and the consumer, for /metrics to count (None: it does not run; its counts are 0)."""


def offsets_since(consumer: Consumer, topic: str, partitions: list[int], since_ms: int) -> list[TopicPartition]:
    """Each partition's first offset at or after ``since_ms``; the end where nothing is that recent."""
    found = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in partitions], timeout=10)
    return [TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END) for tp in found]


_DETAILS: dict[TopicState, str] = {
    "unknown": "not known yet: Kafka has not answered",
    "missing": "waiting for topic {topic} to exist",
    "loading": "loading {topic} ({left} partitions to go)",
    "live": "live",
}


def as_bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def _describe_offset(offset: int) -> str:
    return {OFFSET_BEGINNING: "the beginning", OFFSET_END: "the end"}.get(offset, f"offset {offset}")
