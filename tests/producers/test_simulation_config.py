"""The simulation's settings reach the engine: run-time variation, and a known breakdown for demos."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from transit_status.config import load_settings
from transit_status.errors import TransitError
from transit_status.networks import Network
from transit_status.producers.runner import simulation_config
from transit_status.simulation import ArrivalEvent, SimulationEngine, TrainStatus


def test_a_breakdown_named_in_the_settings_holds_the_first_train_of_that_route(network: Network) -> None:
    settings = load_settings(network="cta", simulation_breakdown="blue@5+12", simulation_run_variation=0.02)
    config = simulation_config(settings, network)
    assert config.timing.run_variation == 0.02
    engine = SimulationEngine(network, start=datetime(2024, 4, 10, 10), seed=3, config=config)
    events = [e for e in engine.step(1800) if isinstance(e, ArrivalEvent)]
    broken = [e for e in events if e.train_status is TrainStatus.BROKEN_DOWN and e.route == "Blue"]
    assert broken
    # Within one Blue headway (8 min) of the 5th minute, and held there 12 minutes.
    assert 300 <= (broken[0].at - engine.start).total_seconds() < 300 + 480
    after = next(e for e in events if e.train_id == broken[0].train_id and e.at > broken[0].at)
    assert after.prev_departed_at is not None and (after.prev_departed_at - broken[0].at).total_seconds() >= 12 * 60


def test_a_breakdown_on_an_unknown_route_or_in_another_shape_is_refused(network: Network) -> None:
    with pytest.raises(TransitError, match="no route 'magenta'"):
        simulation_config(load_settings(network="cta", simulation_breakdown="magenta@5+10"), network)
    with pytest.raises(ValidationError, match="ROUTE@MINUTES"):
        load_settings(network="cta", simulation_breakdown="red for 10 minutes")
    with pytest.raises(ValidationError):
        load_settings(network="cta", simulation_run_variation=-0.1)
