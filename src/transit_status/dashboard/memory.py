"""Giving memory back to the system after many browsers have left.

A thousand WebSocket clients cost the dashboard some 37 MB (each connection's buffers, tasks and
protocol state). When they leave, Python frees those objects, but the memory stays with the process:
pymalloc keeps every 1 MiB arena that still holds one live object, and glibc keeps freed pages inside
its heaps (only memory at a heap's top is returned on its own), so the RSS stayed at its peak (issue
16: 118 → 153 MB). The dashboard therefore runs on glibc's malloc (``PYTHONMALLOC=malloc``, set where
the pipeline launches it), and ``malloc_trim(0)`` returns every free page: :class:`MemoryReleaser`
calls it (after a ``gc.collect()`` for whatever cycles the closed connections left) once the number
of clients has fallen by ``drop`` since its peak, at most every ``min_interval_s``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CLIENTS_DROP = 100
"""So many clients fewer than at the peak: worth a trim (a few browsers coming and going are not)."""
MIN_INTERVAL_S = 10.0


def _glibc_malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class MemoryReleaser:
    """Trims the allocator once clients have left (see the module docstring); pure but for ``trim``."""

    def __init__(
        self,
        trim: Callable[[], object] | None = None,
        drop: int = CLIENTS_DROP,
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        collect: Callable[[], object] = gc.collect,
    ) -> None:
        self.trim = trim if trim is not None else _glibc_malloc_trim()
        self.drop = drop
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.collect = collect
        self.peak = 0
        self.trims = 0
        self._last = float("-inf")

    def observe(self, clients: int) -> bool:
        """The current number of clients; True when this call released memory."""
        self.peak = max(self.peak, clients)
        now = self.clock()
        if self.trim is None or self.peak - clients < self.drop or now - self._last < self.min_interval_s:
            return False
        left = self.peak - clients
        self.collect()
        self.trim()
        self.trims += 1
        self.peak, self._last = clients, now
        log.info("%d browsers left since the peak: freed memory returned to the system", left)
        return True
