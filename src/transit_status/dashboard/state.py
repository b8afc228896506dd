"""What every page's live state shares: the changes it is fed, freshness per topic, and sequenced updates.

Each network's state (``cta/state.py``, ``london/state.py``) is a :class:`SequencedState`: a pure
model, no Kafka, no threads, no clock of its own. The consumer (``consumer.py``) turns records into
:class:`Received` changes; the hub (``hub.py``) applies them under a lock and pushes the updates
``apply`` returns, coalesced per tick by their :data:`UpdateKey`. Nothing here knows either network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

PageChange = TypeVar("PageChange")
PageUpdate = TypeVar("PageUpdate")
Key = TypeVar("Key")
Value = TypeVar("Value")


@dataclass(frozen=True, slots=True)
class Received(Generic[PageChange]):
    """A change decoded from one record of ``role``'s topic (each network's state reads its own roles)."""

    role: str
    change: PageChange
    record_ms: int | None
    """The Kafka record timestamp (epoch ms), if the broker gave one."""
    received_ms: int
    """When the dashboard read it (epoch ms)."""
    live: bool = True
    """False while the record is part of the start-up replay (not a fresh event)."""


@dataclass(slots=True)
class Freshness:
    records: int = 0
    last_record_ms: int | None = None
    last_received_ms: int | None = None

    def note(self, received: Received[Any]) -> None:
        """Count one good record: the newest record time seen and when it was read."""
        self.records += 1
        if received.record_ms is not None:
            self.last_record_ms = max(self.last_record_ms or received.record_ms, received.record_ms)
        self.last_received_ms = received.received_ms


UpdateKey = tuple[str | int, ...]
"""Within one push only the last update of a key is sent: it carries everything the earlier ones did."""


class SequencedState(Generic[PageChange, PageUpdate]):
    """What every page's state does alike: freshness per topic role, the ``seq`` each update takes, and
    keyed upserts and removals that make an update only when something visible changed.

    Every change gets the next ``seq``; a snapshot carries the ``seq`` it includes, so a browser can
    drop updates it already has."""

    def __init__(self, roles: Iterable[str]) -> None:
        self.seq = 0
        self._freshness: dict[str, Freshness] = {role: Freshness() for role in roles}

    def apply(self, received: Received[PageChange]) -> PageUpdate | None:
        """Apply one change; returns the update to push, or None when nothing visible changed."""
        self._freshness.setdefault(received.role, Freshness()).note(received)
        return self._change(received)

    def _change(self, received: Received[PageChange]) -> PageUpdate | None:
        """The page's own rules for one change (freshness is already counted)."""
        raise NotImplementedError

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _upsert(
        self, held: dict[Key, Value], key: Key, value: Value, update: Callable[[int], PageUpdate]
    ) -> PageUpdate | None:
        """Hold ``value`` under ``key``; ``update(seq)`` unless it was held already."""
        if held.get(key) == value:
            return None
        held[key] = value
        return update(self._next_seq())

    def _remove(self, held: dict[Key, Any], key: Key, update: Callable[[int], PageUpdate]) -> PageUpdate | None:
        """Drop what ``key`` holds; ``update(seq)`` unless nothing was held."""
        if held.pop(key, None) is None:
            return None
        return update(self._next_seq())

    def freshness(self) -> dict[str, Freshness]:
        return {role: Freshness(f.records, f.last_record_ms, f.last_received_ms) for role, f in self._freshness.items()}

    def snapshot(self) -> dict[str, Any]:
        """Everything a browser needs to draw the page from scratch, with the ``seq`` it includes."""
        return {"seq": self.seq, **self._views()}

    def _views(self) -> dict[str, Any]:
        raise NotImplementedError
