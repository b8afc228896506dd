"""Turnstile entries: one event per passenger, per station, following the data's averages.

Expected entries at a station in a tick = the day type's average daily entries x the local hour's
share of the day (``Network.hourly_shares``) x the tick's fraction of the hour. Ticks are
``tick_s`` long and aligned to the clock (every minute by default), so the outcome does not depend
on how the engine is stepped.

Sampling (deterministic under the seed): each station-tick's expectation is jittered by up to
+-``noise`` (uniform, mean zero) so minute counts vary, then rounded *randomly with the remainder
carried forward* (add the expectation to the station's running remainder, emit
``floor(remainder + U)`` entries with U uniform in [0, 1), keep what is left). Per tick this
looks random, but a station's running total never drifts more than one entry from the jittered
expectation, so a simulated day lands within a fraction of a percent of the dataset's average
(plain Poisson draws would miss small stations by 10 % on a bad day). Each entry gets a uniform
random time inside its tick. Stations with no entries in the data emit nothing.

Line attribution: a station served by several lines gives its entries to them in rotation (the
station's lines in the network's line order), i.e. an even split; single-line stations always
use their line.
"""

from __future__ import annotations

import random
from collections import deque
from operator import itemgetter

from transit_status.networks.model import Network
from transit_status.simulation.events import TurnstileEvent
from transit_status.simulation.timebase import TimeBase


class TurnstileModel:
    __slots__ = (
        "_carry",
        "_next_tick",
        "_pending",
        "_rates",
        "_rng",
        "_rotation",
        "_stations",
        "network",
        "noise",
        "tick_s",
        "timebase",
    )

    def __init__(
        self, network: Network, timebase: TimeBase, seed: int | str, tick_s: int = 60, noise: float = 0.3
    ) -> None:
        if tick_s <= 0 or 3600 % tick_s:
            raise ValueError("tick_s must divide an hour")
        if not 0.0 <= noise < 1.0:
            raise ValueError("noise must be in [0, 1)")
        self.network = network
        self.timebase = timebase
        self.tick_s = tick_s
        self.noise = noise
        self._rng = random.Random(f"{seed}:turnstiles")
        self._stations = [
            (station.station_id, station.name, station.lines)
            for station in sorted(network.stations.values(), key=lambda s: s.station_id)
        ]
        self._carry = [0.0] * len(self._stations)
        self._rotation = [0] * len(self._stations)
        self._rates: dict[tuple[str, int], list[tuple[int, float]]] = {}
        self._pending: deque[tuple[float, TurnstileEvent]] = deque()
        # Ticks are aligned to the clock: the first one ends at the next multiple of tick_s.
        into_tick = timebase.epoch.timestamp() % tick_s
        self._next_tick = -into_tick

    def expected_entries(self, station_id: int, day_type: str, hour: int) -> float:
        """Average entries at a station during one local hour of a day of ``day_type``."""
        return self.network.stations[station_id].daily_entries[day_type] * self.network.hourly_shares[hour]

    def _rates_for(self, day_type: str, hour: int) -> list[tuple[int, float]]:
        """(station index, expected entries per second) for stations with any entries."""
        key = (day_type, hour)
        rates = self._rates.get(key)
        if rates is None:
            rates = []
            for index, (station_id, _, lines) in enumerate(self._stations):
                per_hour = self.expected_entries(station_id, day_type, hour)
                if per_hour > 0 and lines:
                    rates.append((index, per_hour / 3600.0))
            self._rates[key] = rates
        return rates

    def take_until(self, end: float) -> list[tuple[float, TurnstileEvent]]:
        """Entries before ``end`` (engine seconds), in time order."""
        while self._next_tick < end:
            self._generate_tick()
        pending = self._pending
        out = []
        while pending and pending[0][0] < end:
            out.append(pending.popleft())
        return out

    def _generate_tick(self) -> None:
        low = max(self._next_tick, 0.0)
        high = self._next_tick + self.tick_s
        self._next_tick = high
        duration = high - low
        if duration <= 0:
            return
        # The middle of the tick names its hour; tick edges may sit a float hair before the hour.
        local = self.timebase.local((low + high) / 2.0)
        rates = self._rates_for(self.timebase.day_type(local.date()), local.hour)
        rnd = self._rng.random
        noise = self.noise
        carry = self._carry
        rotation = self._rotation
        stations = self._stations
        to_datetime = self.timebase.to_datetime
        entries: list[tuple[float, TurnstileEvent]] = []
        append = entries.append
        for index, rate in rates:
            remainder = carry[index] + rate * duration * (1.0 + noise * (2.0 * rnd() - 1.0))
            count = int(remainder + rnd())
            if count <= 0:
                carry[index] = remainder
                continue
            carry[index] = remainder - count
            station_id, name, lines = stations[index]
            first = rotation[index]
            rotation[index] = first + count
            width = len(lines)
            for k in range(first, first + count):
                when = low + rnd() * duration
                append((when, TurnstileEvent(station_id, name, lines[k % width], to_datetime(when))))
        entries.sort(key=_by_time)
        self._pending.extend(entries)


_by_time = itemgetter(0)
