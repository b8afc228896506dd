"""One log line when Kafka goes away, one when it is back, and a count of what was in between.

aiokafka (under Faust) logs every failed connection, metadata update, fetch and heartbeat of every
client it runs, each retry again: a 23 s broker outage wrote 1,362 ERROR lines to the stream
worker's log (issue 16). :class:`KafkaOutageFilter` sits on the log handlers: the first warning or
error of a Kafka client passes and opens an outage; the ones after it are counted, not written; when
the broker accepts connections again (a probe thread, :func:`broker_answers`) it writes
``Kafka back after N s; M similar errors suppressed``. Every other record passes unchanged.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

KAFKA_CLIENT_LOGGERS = ("aiokafka", "faust.transport", "kafka")
"""Loggers whose warnings and errors say Kafka cannot be reached (or trouble that comes with it)."""
PROBE_EVERY_S = 1.0
QUIET_S = 3.0
"""An outage ends once the broker answers and its clients have logged no trouble for this long: a
stopping broker still accepts connections for a few seconds while its clients already fail."""
DECIDED = "kafka_outage_passes"


def broker_answers(bootstrap_servers: str, timeout_s: float = 1.0) -> bool:
    """Some bootstrap broker accepts a TCP connection (a Kafka broker listens only once it serves)."""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


class KafkaOutageFilter(logging.Filter):
    """Collapses the Kafka clients' repeated warnings and errors during an outage (see the module).

    ``monotonic`` is the clock, ``probe`` says whether Kafka answers; :meth:`check` ends an outage when
    it does (the probe thread calls it every ``PROBE_EVERY_S`` while an outage lasts; tests call it).
    """

    def __init__(
        self,
        probe: Callable[[], bool],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        loggers: Iterable[str] = KAFKA_CLIENT_LOGGERS,
        start_probe_thread: bool = True,
    ) -> None:
        super().__init__()
        self.probe = probe
        self.monotonic = monotonic
        self.prefixes = tuple(loggers)
        self.start_probe_thread = start_probe_thread
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last_trouble = 0.0
        self._suppressed = 0
        self._thread: threading.Thread | None = None

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return self._since is not None

    @property
    def suppressed(self) -> int:
        with self._lock:
            return self._suppressed

    def _is_kafka_trouble(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        name = record.name
        return any(name == prefix or name.startswith(prefix + ".") for prefix in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._is_kafka_trouble(record):
            return True
        decided = getattr(record, DECIDED, None)
        if decided is not None:  # another handler with this filter saw this record already
            return bool(decided)
        with self._lock:
            self._last_trouble = self.monotonic()
            if self._since is not None:
                self._suppressed += 1
                setattr(record, DECIDED, False)
                return False
            self._since = self.monotonic()
            self._suppressed = 0
            start = self.start_probe_thread and (self._thread is None or not self._thread.is_alive())
            if start:
                self._thread = threading.Thread(target=self._probe_until_back, name="kafka-outage-probe", daemon=True)
        setattr(record, DECIDED, True)
        record.msg = f"{record.msg} [Kafka trouble: similar errors are counted until it answers again]"
        if start and self._thread is not None:
            self._thread.start()
        return True

    def check(self) -> bool:
        """End the outage if Kafka answers and its clients have been quiet for ``QUIET_S``; True when
        there is none (any more)."""
        if not self.in_outage:
            return True
        with self._lock:
            quiet = self.monotonic() - self._last_trouble >= QUIET_S
        if not quiet or not self.probe():
            return False
        with self._lock:
            since, suppressed = self._since, self._suppressed
            self._since, self._suppressed = None, 0
        if since is not None:
            # Through a logger of our own: this filter lets it pass.
            log.warning("Kafka back after %.0f s; %d similar errors suppressed", self.monotonic() - since, suppressed)
        return True

    def _probe_until_back(self) -> None:
        while not self.check():
            time.sleep(PROBE_EVERY_S)


def install(outage_filter: KafkaOutageFilter, handlers: Iterable[logging.Handler]) -> None:
    """Put the filter on ``handlers`` (handler filters see every record that reaches them, whatever
    logger it came from; a logger's filter sees only records logged on that very logger)."""
    for handler in handlers:
        if outage_filter not in handler.filters:
            handler.addFilter(outage_filter)
