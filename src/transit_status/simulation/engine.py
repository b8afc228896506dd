"""The pure simulation engine: no wall clock, no I/O, no Kafka.

    engine = SimulationEngine(load_network(settings), start=datetime(2024, 4, 10, 8, 0), seed=7)
    events = engine.advance(to=datetime(2024, 4, 10, 8, 5))  # everything in [08:00, 08:05) local
    events += engine.step(30)                                 # and the next 30 simulated seconds
    engine.snapshot().trains                                  # where every train is now

``advance``/``step`` return the events in time order (ties: weather, then trains, then
turnstiles), each stamped with its simulated time. Calls cover consecutive half-open intervals
[now, to), so the concatenated output is the same however the time is cut up: the same seed gives
the same sequence whether you step a day at once or a second at a time.

At the start every train is reported once where it stands (``prev_station_id=None``), and a
weather reading is made; after that weather comes at the top of every local hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from transit_status.networks.model import Network
from transit_status.simulation.events import Event, WeatherReading
from transit_status.simulation.timebase import SteppedTime
from transit_status.simulation.trains import BreakdownPolicy, Fleet, RoutePlan, TrainPosition, TrainTiming
from transit_status.simulation.turnstiles import TurnstileModel
from transit_status.simulation.weather import Climate, WeatherModel, climate_of

DEFAULT_SEED = 0


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    timing: TrainTiming = field(default_factory=TrainTiming)
    breakdowns: BreakdownPolicy = field(default_factory=BreakdownPolicy)
    turnstile_tick_s: int = 60
    turnstile_noise: float = 0.3


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    trains: tuple[TrainPosition, ...]
    weather: WeatherReading | None

    def train(self, train_id: str) -> TrainPosition:
        for position in self.trains:
            if position.train_id == train_id:
                return position
        raise KeyError(train_id)


class SimulationEngine(SteppedTime[Event]):
    """Steps a :class:`Network` through simulated time and returns what happened."""

    def __init__(
        self,
        network: Network,
        start: datetime | None = None,
        seed: int = DEFAULT_SEED,
        config: SimulationConfig | None = None,
        climate: Climate | None = None,
    ) -> None:
        """``start``: an aware datetime, or a naive one read as the network's local time (default:
        now, to the second). ``climate``: default, the one :data:`weather.CLIMATES` has for the network."""
        self._start_clock(network, start, seed)
        self.config = config or SimulationConfig()
        self._fleet = Fleet(network, self._time, seed, self.config.timing, self.config.breakdowns)
        self._turnstiles = TurnstileModel(
            network, self._time, seed, self.config.turnstile_tick_s, self.config.turnstile_noise
        )
        self._weather = WeatherModel(climate or climate_of(network.name), seed)
        self._latest_weather: WeatherReading | None = None
        self._next_weather = 0.0
        self._first_hour: float | None = None
        self._now = 0.0

    def _events_until(self, end: float) -> list[Event]:
        items: list[tuple[float, Event]] = []
        while self._next_weather < end:
            items.append((self._next_weather, self._read_weather(self._next_weather)))
        items.extend(self._fleet.run_until(end))
        items.extend(self._turnstiles.take_until(end))
        items.sort(key=itemgetter(0))  # stable: equal times keep weather, trains, turnstiles order
        return [event for _, event in items]

    def _read_weather(self, when: float) -> WeatherReading:
        temperature, status = self._weather.reading(self._time.local(when))
        reading = WeatherReading(temperature, status, self._time.to_datetime(when))
        self._latest_weather = reading
        # The first reading is at the start; then every top of a local hour. Hours are added
        # rather than recomputed so float rounding can never produce two readings in one hour.
        if self._first_hour is None:
            self._first_hour = self._time.next_local_hour(when)
            self._next_weather = self._first_hour
        else:
            self._next_weather = when + 3600.0
        return reading

    # ---- queries ------------------------------------------------------------------------------------
    @property
    def route_plans(self) -> tuple[RoutePlan, ...]:
        """Each route's round trip (visits, timings) and its train ids."""
        return self._fleet.plans

    def snapshot(self) -> Snapshot:
        """Every train's last reported position and status, and the latest weather, as of ``now``."""
        return Snapshot(at=self.now, trains=self._fleet.positions(), weather=self._latest_weather)
