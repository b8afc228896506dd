"""Hourly weather: a seasonal + daily temperature curve with persistent noise, and a sky status.

Temperature (°F) at a local time = seasonal mean (monthly normals placed mid-month, linearly
interpolated by day of year) + daily swing (half the month's normal high-low range as a cosine
peaking at ``warmest_hour``) + an AR(1) anomaly (hour-to-hour persistence ``persistence``, long-run
standard deviation ``anomaly_sd_f``, so warm and cold spells last a day or two) + a small offset
for the sky status (clear afternoons warmer, precipitation cooler).

The status is a Markov chain: each hour it keeps the previous status with probability
``status_persistence``, otherwise it is drawn from the month's weights. Everything is drawn from
one ``random.Random`` seeded from the engine seed, one step per reading, so it is deterministic
and independent of how the engine is stepped.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from transit_status.simulation.events import WeatherStatus

STATUSES: tuple[WeatherStatus, ...] = tuple(WeatherStatus)


@dataclass(frozen=True, slots=True)
class Climate:
    """A city's climate as data (one value per month, January first)."""

    monthly_mean_f: tuple[float, ...]
    monthly_high_f: tuple[float, ...]
    monthly_low_f: tuple[float, ...]
    precipitation_days: tuple[float, ...]
    """Days per month with measurable precipitation; sets how often the status is 'precipitation'."""
    windy_weight: tuple[float, ...]
    warmest_hour: float = 15.0
    anomaly_sd_f: float = 6.0
    persistence: float = 0.97
    status_persistence: float = 0.8

    def __post_init__(self) -> None:
        for name in ("monthly_mean_f", "monthly_high_f", "monthly_low_f", "precipitation_days", "windy_weight"):
            if len(getattr(self, name)) != 12:
                raise ValueError(f"Climate.{name} needs 12 monthly values")

    def seasonal_mean_f(self, local: datetime) -> float:
        return _interpolate_monthly(self.monthly_mean_f, local)

    def daily_half_range_f(self, local: datetime) -> float:
        highs = _interpolate_monthly(self.monthly_high_f, local)
        lows = _interpolate_monthly(self.monthly_low_f, local)
        return (highs - lows) / 2.0

    def expected_temperature_f(self, local: datetime) -> float:
        """Normal temperature at this local time (no noise)."""
        hour = local.hour + local.minute / 60.0
        swing = math.cos(2.0 * math.pi * (hour - self.warmest_hour) / 24.0)
        return self.seasonal_mean_f(local) + self.daily_half_range_f(local) * swing

    def status_weights(self, month: int) -> tuple[float, ...]:
        """Weights for sunny, partly_cloudy, cloudy, windy, precipitation in ``month`` (1-12)."""
        # Measurable precipitation on ~1/3 of days, but only for some hours of such a day.
        precipitation = 0.35 * self.precipitation_days[month - 1] / 30.0
        windy = self.windy_weight[month - 1]
        # Summer is sunnier, winter greyer (a cosine peaking mid-July).
        summer = (1.0 + math.cos(2.0 * math.pi * (month - 7) / 12.0)) / 2.0
        sunny = 0.20 + 0.20 * summer
        cloudy = 0.30 - 0.15 * summer
        partly = max(0.0, 1.0 - precipitation - windy - sunny - cloudy)
        return (sunny, partly, cloudy, windy, precipitation)


def _interpolate_monthly(values: tuple[float, ...], local: datetime) -> float:
    # Each month's value sits on its 15th; interpolate linearly between neighbours (wrapping the year).
    position = local.month - 1 + (local.day - 15 + local.hour / 24.0) / 30.5
    lower = math.floor(position)
    fraction = position - lower
    return values[lower % 12] * (1.0 - fraction) + values[(lower + 1) % 12] * fraction


CHICAGO_CLIMATE = Climate(
    # NOAA 1981-2010 normals, Chicago O'Hare (station 094846), as published by the Illinois State
    # Climatologist: monthly mean / mean daily high / mean daily low (°F) and days with >= 0.01 in.
    monthly_mean_f=(23.8, 27.7, 37.9, 48.9, 59.1, 68.9, 74.0, 72.4, 64.6, 52.5, 40.3, 27.7),
    monthly_high_f=(31.0, 35.3, 46.6, 59.0, 70.0, 79.7, 84.1, 81.9, 74.8, 62.3, 48.2, 34.8),
    monthly_low_f=(16.5, 20.1, 29.2, 38.8, 48.3, 58.1, 63.9, 62.9, 54.3, 42.8, 32.4, 20.7),
    precipitation_days=(10.5, 8.8, 11.1, 12.0, 11.6, 10.2, 9.8, 9.8, 8.3, 10.2, 10.8, 11.0),
    # "The Windy City": windiest in late winter and spring, calmest in summer (our choice).
    windy_weight=(0.14, 0.14, 0.16, 0.16, 0.12, 0.08, 0.06, 0.06, 0.08, 0.11, 0.13, 0.14),
)

CLIMATES: dict[str, Climate] = {"cta": CHICAGO_CLIMATE}
"""Network name -> the climate its weather station reports (weather is not network data)."""


def climate_of(network_name: str) -> Climate:
    try:
        return CLIMATES[network_name]
    except KeyError:
        raise ValueError(f"no climate for network {network_name!r}: add one to CLIMATES or pass one") from None


# Status offsets (°F) on top of the curve; only applied in daylight for 'sunny'.
_STATUS_OFFSET_F = {
    WeatherStatus.SUNNY: 1.5,
    WeatherStatus.PARTLY_CLOUDY: 0.5,
    WeatherStatus.CLOUDY: -0.5,
    WeatherStatus.WINDY: -1.5,
    WeatherStatus.PRECIPITATION: -2.5,
}


class WeatherModel:
    """Produces one reading per call of :meth:`reading`, advancing the noise one step each time."""

    __slots__ = ("_anomaly", "_innovation_sd", "_rng", "_status", "climate")

    def __init__(self, climate: Climate, seed: int | str) -> None:
        self.climate = climate
        self._rng = random.Random(f"{seed}:weather")
        self._anomaly = self._rng.gauss(0.0, climate.anomaly_sd_f)
        self._innovation_sd = climate.anomaly_sd_f * math.sqrt(1.0 - climate.persistence**2)
        self._status: WeatherStatus | None = None

    def reading(self, local: datetime) -> tuple[float, WeatherStatus]:
        """Temperature (°F, one decimal) and status for the hour starting at ``local``."""
        rng = self._rng
        climate = self.climate
        if self._status is None or rng.random() >= climate.status_persistence:
            self._status = rng.choices(STATUSES, weights=climate.status_weights(local.month))[0]
        self._anomaly = climate.persistence * self._anomaly + rng.gauss(0.0, self._innovation_sd)
        offset = _STATUS_OFFSET_F[self._status]
        if self._status is WeatherStatus.SUNNY and not 8 <= local.hour < 19:
            offset = 0.0
        temperature = climate.expected_temperature_f(local) + self._anomaly + offset
        return round(temperature, 1), self._status
