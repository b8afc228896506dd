"""The Chicago page names who runs the trains: its own heading (the CTA's) unless another agency's
static GTFS runs them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.feeds import made_up_agency
from transit_status.dashboard.app import create_app
from transit_status.dashboard.cta.page import page_heading
from transit_status.networks.cta import CTA_AGENCY
from transit_status.networks.model import Agency
from transit_status.platform.ports import isolated_settings


def test_the_page_keeps_its_heading_for_the_cta_and_takes_another_agencys_name() -> None:
    assert page_heading(CTA_AGENCY) is None and page_heading(None) is None
    other = Agency(made_up_agency.AGENCY, "https://lakeside.test", "LT")
    assert page_heading(other) == f"{made_up_agency.AGENCY} status"


def test_the_simulated_cta_map_asks_for_no_other_heading(tmp_path: Path) -> None:
    with TestClient(create_app(isolated_settings(tmp_path), start_consumer=False)) as client:
        assert client.get("/api/map").json()["heading"] is None
