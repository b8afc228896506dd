"""Pure simulation of a transit network (CTA 'L' first): trains, turnstiles and weather.

The network itself (lines, stations, routes, ridership) is data from :mod:`transit_status.networks`;
the weather's climate is the simulation's own (:data:`weather.CLIMATES`).

No Kafka, no wall clock in the engine. Typical use::

    network = load_network(settings)                           # transit_status.networks, loaded once
    engine = SimulationEngine(network, start=None, seed=0)     # start: now
    for batch in run_realtime(engine, SimulationClock(engine.now, speed=10.0)):
        ...  # ArrivalEvent / TurnstileEvent / WeatherReading, in time order
    engine.snapshot()                                          # train positions
"""

from transit_status.simulation.clock import DEFAULT_SPEED, SimulationClock, run_realtime
from transit_status.simulation.engine import DEFAULT_SEED, SimulationConfig, SimulationEngine, Snapshot
from transit_status.simulation.events import (
    ArrivalEvent,
    Direction,
    Event,
    TrainStatus,
    TurnstileEvent,
    WeatherReading,
    WeatherStatus,
)
from transit_status.simulation.trains import BreakdownPolicy, ForcedBreakdown, RoutePlan, TrainPosition, TrainTiming
from transit_status.simulation.weather import CHICAGO_CLIMATE, CLIMATES, Climate, climate_of

__all__ = [
    "CHICAGO_CLIMATE",
    "CLIMATES",
    "DEFAULT_SEED",
    "DEFAULT_SPEED",
    "ArrivalEvent",
    "BreakdownPolicy",
    "Climate",
    "Direction",
    "Event",
    "ForcedBreakdown",
    "RoutePlan",
    "SimulationClock",
    "SimulationConfig",
    "SimulationEngine",
    "Snapshot",
    "TrainPosition",
    "TrainStatus",
    "TrainTiming",
    "TurnstileEvent",
    "WeatherReading",
    "WeatherStatus",
    "climate_of",
    "run_realtime",
]
