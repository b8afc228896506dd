"""Pure simulation of a transit network (CTA 'L' first): trains, turnstiles and weather.

No Kafka, no wall clock in the engine. Typical use::

    network = load_network(settings.network, settings.network_data_dir)   # or load_cta_network()
    engine = SimulationEngine(network, start=None, seed=0)                 # start: now
    for batch in run_realtime(engine, SimulationClock(engine.now, speed=10.0)):
        ...  # ArrivalEvent / TurnstileEvent / WeatherReading, in time order
    engine.snapshot()                                                        # train positions
"""

from transit_status.simulation.clock import DEFAULT_SPEED, SimulationClock, run_realtime
from transit_status.simulation.cta import load_cta_network
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
from transit_status.simulation.network import (
    Line,
    Network,
    Route,
    RouteStop,
    ServiceWindow,
    Station,
    load_network,
    network_from_settings,
)
from transit_status.simulation.trains import BreakdownPolicy, RoutePlan, TrainPosition, TrainTiming
from transit_status.simulation.weather import CHICAGO_CLIMATE, Climate

__all__ = [
    "CHICAGO_CLIMATE",
    "DEFAULT_SEED",
    "DEFAULT_SPEED",
    "ArrivalEvent",
    "BreakdownPolicy",
    "Climate",
    "Direction",
    "Event",
    "Line",
    "Network",
    "Route",
    "RoutePlan",
    "RouteStop",
    "ServiceWindow",
    "SimulationClock",
    "SimulationConfig",
    "SimulationEngine",
    "Snapshot",
    "Station",
    "TrainPosition",
    "TrainStatus",
    "TrainTiming",
    "TurnstileEvent",
    "WeatherReading",
    "WeatherStatus",
    "load_cta_network",
    "load_network",
    "network_from_settings",
    "run_realtime",
]
