"""The engine needs nothing CTA-specific: a hand-made network runs too (the way London will plug in)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest

from transit_status.networks import Line, Network, Route, RouteStop, Station
from transit_status.simulation import CHICAGO_CLIMATE, ArrivalEvent, SimulationEngine, TurnstileEvent


def _toy(**changes: object) -> Network:
    stations = {
        1: Station(1, "Alpha", "Alpha (Toy)", 51.50, -0.10, ("toy",), {"any": 2400.0}),
        2: Station(2, "Beta", "Beta (Toy)", 51.51, -0.11, ("toy",), {"any": 0.0}),
        3: Station(3, "Gamma", "Gamma (Toy)", 51.52, -0.12, ("toy",), {"any": 240.0}),
    }
    route = Route(
        route_id="toy",
        line="toy",
        name="Toy",
        stops=(RouteStop(1, 0.0, 11, 12), RouteStop(2, 1.5, 21, 22), RouteStop(3, 3.0, 31, None)),
        headway_s=600,
    )
    values: dict[str, object] = {
        "name": "toy",
        "timezone": "Europe/London",
        "lines": (Line("toy", "Toy", "TY", "#123456"),),
        "routes": (route,),
        "stations": stations,
        "day_types": ("any",),
        "day_type_of": lambda day: "any",
        "hourly_shares": tuple([1 / 24] * 24),
        "stops": {},
        "services": {"toy": "toy"},
        "shapes": (),
    }
    values.update(changes)
    return Network(**values)  # type: ignore[arg-type]


def test_a_hand_made_network_runs() -> None:
    network = _toy()
    engine = SimulationEngine(network, start=datetime(2025, 1, 6), seed=1, climate=CHICAGO_CLIMATE)
    events = engine.step(86_400)
    arrivals = [e for e in events if isinstance(e, ArrivalEvent)]
    (plan,) = engine.route_plans
    assert plan.train_ids[:2] == ("TY001", "TY002")
    assert {e.train_id for e in arrivals} == set(plan.train_ids)
    assert {e.stop_id for e in arrivals} == {11, 12, 21, 22, 31, None}
    entries = Counter(e.station_id for e in events if isinstance(e, TurnstileEvent))
    assert entries[1] == pytest.approx(2400, rel=0.02)
    assert entries[3] == pytest.approx(240, rel=0.05)
    assert 2 not in entries
    assert engine.local_time().tzinfo is not None and engine.local_time().hour == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hourly_shares": (0.5,) * 24}, "hourly_shares"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"lines": (Line("other", "Other", "OT", "#000000"),)}, "unknown line"),
        ({"day_types": ("any", "holiday")}, "no entries for day types"),
        ({"lines": (Line("toy", "Toy", "TY", "#1"), Line("toy", "Toy", "TZ", "#2"))}, "duplicate line id"),
    ],
)
def test_inconsistent_networks_are_rejected(changes: dict[str, object], message: str) -> None:
    with pytest.raises(Exception, match=message):
        _toy(**changes)


def test_route_needs_ordered_distances() -> None:
    with pytest.raises(ValueError, match="must not decrease"):
        Route("r", "toy", "R", (RouteStop(1, 2.0, None, None), RouteStop(2, 1.0, None, None)), 600)
    assert date(2025, 1, 6).weekday() == 0
