"""London's ticket barriers, simulated: every Underground station's entries and exits. Pure: no
Kafka, no wall clock (``run_realtime`` and ``SimulationClock`` from :mod:`transit_status.simulation`
drive it in real time).

    barriers = BarrierSimulation(load_network_from("tfl", data_dir), start=datetime(2023, 6, 7, 8), seed=7)
    events = barriers.advance(datetime(2023, 6, 7, 8, 5))  # every tap in [08:00, 08:05) London time

**How many.** Entries at a station in a minute = the day type's typical-day entries
(``Station.daily_entries``, TfL's 2023 counts) x the station's share of the day in that hour x the
minute's fraction of the hour x ``ridership_scale``; sampled like the CTA turnstiles (each minute's
expectation jittered by up to +-``noise``, rounded randomly with the remainder carried forward), so
a simulated day is within a fraction of a percent of the data at every station.

**When.** The network's hours (``Network.hourly_shares_on``) are London's as a whole. On weekdays
they are tilted by direction: travel in the morning goes *to* work, in the evening back home. A
station's *residential weight* comes from its fare zone (zone 1: 0.15, zone 2: 0.6, further out:
0.9; a boundary station takes its inner zone). Its entries follow
``weight x morning-heavy + (1 - weight) x evening-heavy`` and its exits the mirror image, where the
morning-heavy curve is the network's hours x (1 + ``peak_tilt`` x :func:`towards_morning`) and
the evening-heavy one x (1 - ...). So in the morning peak the suburbs' barriers let people in and
zone 1's let them out, and in the evening the reverse; weekends have no tilt.

**Journeys.** Every entry is a new card (``user``) starting a journey: its destination is drawn
among the other stations in proportion to their typical-day exits x their exit share of the hour
of the entry, calibrated so each station's expected daily exits are its count
(:meth:`BarrierProfiles.destination_weights`), and the card taps out there after
``access_s + seconds_per_km x`` the straight-line distance, jittered by +-``travel_jitter``. Card
numbers are 12 digits, unique per run (journey number x an odd constant + a seeded offset, modulo
10^12), and the same seed gives the same cards.

Events come in time order (ties keep generation order), each at its simulated instant; calls cover
consecutive half-open intervals [now, to), so the output does not depend on how time is cut up.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Final

from transit_status.networks.london import WEEKDAY_TYPES
from transit_status.networks.model import Network, Station
from transit_status.simulation.engine import DEFAULT_SEED
from transit_status.simulation.timebase import SteppedTime

ENTRY: Final = 1
EXIT: Final = -1
CARD_DIGITS = 12
_CARD_MODULUS = 10**CARD_DIGITS
_CARD_STRIDE = 738_219_457_169
"""Odd and not a multiple of 5, so journey -> card number is one-to-one modulo 10^12."""
RESIDENTIAL_WEIGHT_BY_ZONE = {1: 0.15, 2: 0.6}
OUTER_RESIDENTIAL_WEIGHT = 0.9
MORNING_PEAK_HOUR = 8.5
EVENING_PEAK_HOUR = 17.5
_CALIBRATION_ROUNDS = 100
_CALIBRATION_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class BarrierEvent:
    """A card at a station's ticket barrier: ``delta`` +1 tapping in, -1 tapping out."""

    station_id: int
    """The station's nlc."""
    station_name: str
    card: str
    delta: int
    at: datetime

    @property
    def is_entry(self) -> bool:
        return self.delta == ENTRY


# Tuning values with defaults, a dataclass shape TrainTiming and Settings share; no logic in common.
@dataclass(frozen=True, slots=True)
class BarrierConfig:
    ridership_scale: float = 1.0
    """Share of the data's travellers simulated (1: every typical-day entry and exit)."""
    tick_s: int = 60
    noise: float = 0.3
    peak_tilt: float = 0.6
    """How far a weekday's morning and evening differ by direction (0: not at all, below 1)."""
    access_s: float = 300.0
    """Barrier to platform, the wait, and platform to barrier at the other end."""
    seconds_per_km: float = 140.0
    """Per straight-line km: about 26 km/h, for trains (~33 km/h) on tracks longer than the line, and changes."""
    travel_jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.ridership_scale <= 0:
            raise ValueError("ridership_scale must be positive")
        if self.tick_s <= 0 or 3600 % self.tick_s:
            raise ValueError("tick_s must divide an hour")
        if not 0.0 <= self.noise < 1.0 or not 0.0 <= self.peak_tilt < 1.0 or not 0.0 <= self.travel_jitter < 1.0:
            raise ValueError("noise, peak_tilt and travel_jitter must be in [0, 1)")


def residential_weight(station: Station) -> float:
    """How much a station is where people live (1) rather than where they go to (0), from its zone."""
    inner_zone = min(station.zones, default=1)
    return RESIDENTIAL_WEIGHT_BY_ZONE.get(inner_zone, OUTER_RESIDENTIAL_WEIGHT)


def towards_morning(hour: float) -> float:
    """+1 at the morning peak (travel to work), -1 at the evening peak (home), smooth in between.

    A cosine of a phase that runs 0 -> pi from the morning peak to the evening one and pi -> 2 pi
    through the night to the next morning's, so both peaks are equally pronounced.
    """
    since_morning = (hour - MORNING_PEAK_HOUR) % 24
    day_length = EVENING_PEAK_HOUR - MORNING_PEAK_HOUR
    if since_morning <= day_length:
        phase = math.pi * since_morning / day_length
    else:
        phase = math.pi * (1 + (since_morning - day_length) / (24 - day_length))
    return math.cos(phase)


def _normalised(weights: list[float]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(weight / total for weight in weights) if total > 0 else tuple(weights)


def _distance_km(a: Station, b: Station) -> float:
    """Great-circle distance (haversine)."""
    lat_a, lat_b = math.radians(a.latitude), math.radians(b.latitude)
    half_dlat, half_dlon = (lat_b - lat_a) / 2, math.radians(b.longitude - a.longitude) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(half_dlon) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class BarrierProfiles:
    """Each station's share of a day's entries and exits per local hour, by day type."""

    def __init__(self, network: Network, peak_tilt: float) -> None:
        self.network = network
        self.peak_tilt = peak_tilt
        self._cache: dict[tuple[str, int], tuple[tuple[float, ...], tuple[float, ...]]] = {}

    def _tilted(self, day_type: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(morning-heavy, evening-heavy) hours of a day type; both the network's own at weekends."""
        hours = self.network.hourly_shares_on(day_type)
        tilt = self.peak_tilt if day_type in WEEKDAY_TYPES else 0.0
        direction = [towards_morning(hour + 0.5) for hour in range(24)]
        morning = _normalised([share * (1 + tilt * t) for share, t in zip(hours, direction, strict=True)])
        evening = _normalised([share * (1 - tilt * t) for share, t in zip(hours, direction, strict=True)])
        return morning, evening

    def of(self, station_id: int, day_type: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(entries, exits): the station's share of the day's entries, and of its exits, per local hour."""
        key = (day_type, station_id)
        profiles = self._cache.get(key)
        if profiles is None:
            morning, evening = self._tilted(day_type)
            weight = residential_weight(self.network.stations[station_id])
            entries = tuple(weight * m + (1 - weight) * e for m, e in zip(morning, evening, strict=True))
            exits = tuple(weight * e + (1 - weight) * m for m, e in zip(morning, evening, strict=True))
            profiles = self._cache[key] = (entries, exits)
        return profiles

    def destination_weights(self, day_type: str) -> list[list[float]]:
        """Per local hour, each station's weight (stations in id order) as where a journey begun then ends.

        A station's weight is its typical exits x its exit share of the hour x a calibration factor.
        Without the factor, stations would gain or lose exits wherever London's entries and exits
        differ in the hour: in the morning more exit weight sits in zone 1 than entries start in
        the suburbs, so zone 1 would fall short and the suburbs' evening exits overshoot. The
        factors are fitted (iterative proportional fitting) so each station's expected daily exits
        are its count, scaled to the day's entries.
        """
        stations = sorted(self.network.stations.values(), key=lambda station: station.station_id)
        entries_by_hour = [0.0] * 24
        weights: list[list[float]] = []
        for station in stations:
            entry_shares, exit_shares = self.of(station.station_id, day_type)
            for hour in range(24):
                entries_by_hour[hour] += station.daily_entries[day_type] * entry_shares[hour]
            weights.append([station.daily_exits[day_type] * share for share in exit_shares])
        total_exits = sum(station.daily_exits[day_type] for station in stations)
        targets = [station.daily_exits[day_type] * sum(entries_by_hour) / total_exits for station in stations]
        factors = [1.0] * len(stations)
        for _ in range(_CALIBRATION_ROUNDS):
            hour_totals = [sum(f * w[hour] for f, w in zip(factors, weights, strict=True)) for hour in range(24)]
            demand = [
                entries / total if total > 0 else 0.0
                for entries, total in zip(entries_by_hour, hour_totals, strict=True)
            ]
            expected = [
                f * sum(d * x for d, x in zip(demand, w, strict=True)) for f, w in zip(factors, weights, strict=True)
            ]
            if all(abs(e - t) <= _CALIBRATION_TOLERANCE * t for e, t in zip(expected, targets, strict=True)):
                break
            factors = [f * t / e if e > 0 else f for f, t, e in zip(factors, targets, expected, strict=True)]
        by_hour = [[f * w[hour] for f, w in zip(factors, weights, strict=True)] for hour in range(24)]
        # An hour in which nobody leaves anywhere (none, with London's hours) falls back on the day's exits.
        day_exits = [station.daily_exits[day_type] for station in stations]
        return [hour if sum(hour) > 0 else day_exits for hour in by_hour]


class BarrierSimulation(SteppedTime[BarrierEvent]):
    """Steps London's barriers through simulated time and returns every tap in time order."""

    # SimulationEngine's parameters, for the same roles; what they set up alike is SteppedTime._start_clock.
    def __init__(
        self,
        network: Network,
        start: datetime | None = None,
        seed: int = DEFAULT_SEED,
        config: BarrierConfig | None = None,
    ) -> None:
        """``start``: an aware datetime, or a naive one read as London time (default: now, to the second)."""
        if not all(station.daily_exits for station in network.stations.values()):
            raise ValueError(f"network {network.name} has no exit counts: barriers need entries and exits")
        self._start_clock(network, start, seed)
        self.config = config or BarrierConfig()
        self.profiles = BarrierProfiles(network, self.config.peak_tilt)
        self._stations = sorted(network.stations.values(), key=lambda station: station.station_id)
        self._base_travel_s = [
            [self.config.access_s + self.config.seconds_per_km * _distance_km(a, b) for b in self._stations]
            for a in self._stations
        ]
        self._rng = random.Random(f"{seed}:barriers")
        self._card_offset = random.Random(f"{seed}:cards").randrange(_CARD_MODULUS)
        self._journeys = 0
        self._carry = [0.0] * len(self._stations)
        self._rates: dict[tuple[str, int], list[tuple[int, float]]] = {}
        self._destinations: dict[tuple[str, int], tuple[list[float], float]] = {}
        self._calibrated: dict[str, list[list[float]]] = {}
        self._pending: list[tuple[float, int, BarrierEvent]] = []
        self._sequence = 0
        # Ticks are aligned to the clock: the first one ends at the next multiple of tick_s.
        self._next_tick = -(self._time.epoch.timestamp() % self.config.tick_s)

    def _events_until(self, end: float) -> list[BarrierEvent]:
        while self._next_tick < end:
            self._generate_tick()
        pending, out = self._pending, []
        while pending and pending[0][0] < end:
            out.append(heapq.heappop(pending)[2])
        return out

    # ---- the model ----------------------------------------------------------------------------------
    def expected_entries(self, station_id: int, day_type: str, hour: int) -> float:
        """Average entries at a station during one local hour of a day of ``day_type`` (scaled)."""
        station = self.network.stations[station_id]
        entries_share = self.profiles.of(station_id, day_type)[0][hour]
        return station.daily_entries[day_type] * entries_share * self.config.ridership_scale

    def _rates_for(self, day_type: str, hour: int) -> list[tuple[int, float]]:
        """(station index, expected entries per second) for stations with any entries."""
        key = (day_type, hour)
        rates = self._rates.get(key)
        if rates is None:
            rates = []
            for index, station in enumerate(self._stations):
                per_hour = self.expected_entries(station.station_id, day_type, hour)
                if per_hour > 0:
                    rates.append((index, per_hour / 3600.0))
            self._rates[key] = rates
        return rates

    def _destinations_for(self, day_type: str, hour: int) -> tuple[list[float], float]:
        """Cumulative destination weights of the hour (stations in id order) and their total."""
        key = (day_type, hour)
        found = self._destinations.get(key)
        if found is None:
            if day_type not in self._calibrated:
                self._calibrated[day_type] = self.profiles.destination_weights(day_type)
            cumulative = list(accumulate(self._calibrated[day_type][hour]))
            found = self._destinations[key] = (cumulative, cumulative[-1])
        return found

    def _generate_tick(self) -> None:
        tick_s = self.config.tick_s
        low = max(self._next_tick, 0.0)
        high = self._next_tick + tick_s
        self._next_tick = high
        duration = high - low
        if duration <= 0:
            return
        # The middle of the tick names its hour; tick edges may sit a float hair before the hour.
        local = self._time.local((low + high) / 2.0)
        day_type = self._time.day_type(local.date())
        rates = self._rates_for(day_type, local.hour)
        cumulative, total = self._destinations_for(day_type, local.hour)
        last = len(cumulative) - 1
        rnd, noise, jitter = self._rng.random, self.config.noise, self.config.travel_jitter
        carry, stations, base_travel = self._carry, self._stations, self._base_travel_s
        card_of, taps = self._card, []  # taps: (time, station index, card, delta)
        for index, rate in rates:
            remainder = carry[index] + rate * duration * (1.0 + noise * (2.0 * rnd() - 1.0))
            count = int(remainder + rnd())
            carry[index] = remainder - count
            for _ in range(count):
                destination = index
                while destination == index:  # a journey ends somewhere else
                    destination = min(bisect_right(cumulative, rnd() * total), last)
                entered = low + rnd() * duration
                travel = base_travel[index][destination] * (1.0 + jitter * (2.0 * rnd() - 1.0))
                card = card_of(self._journeys)
                self._journeys += 1
                taps.append((entered, index, card, ENTRY))
                taps.append((entered + travel, destination, card, EXIT))
        taps.sort()
        to_datetime, pending, sequence = self._time.to_datetime, self._pending, self._sequence
        for when, index, card, delta in taps:
            station = stations[index]
            heapq.heappush(
                pending,
                (when, sequence, BarrierEvent(station.station_id, station.name, card, delta, to_datetime(when))),
            )
            sequence += 1
        self._sequence = sequence

    def _card(self, journey: int) -> str:
        return f"{(journey * _CARD_STRIDE + self._card_offset) % _CARD_MODULUS:0{CARD_DIGITS}d}"
