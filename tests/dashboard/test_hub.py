"""The hand-over from the consumer thread to browsers: a snapshot, then exactly the newer updates."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.dashboard.test_state import HOWARD, JARVIS, arrival, station
from transit_status.dashboard import hub as hub_module
from transit_status.dashboard.hub import RESYNC, LiveHub
from transit_status.dashboard.state import DashboardState
from transit_status.networks.cta import LINE_ORDER


def test_a_client_gets_a_snapshot_then_only_updates_it_does_not_already_have() -> None:
    async def scenario() -> None:
        hub = LiveHub(DashboardState(LINE_ORDER))
        hub.loop = asyncio.get_running_loop()
        hub.apply([station(HOWARD, "Howard", 0)])  # applied, its push still queued on the loop
        client, snapshot_frame = hub.connect()
        await asyncio.to_thread(hub.apply, [arrival("RL001", HOWARD), arrival("RL001", JARVIS, at=6_000)])

        snapshot = json.loads(snapshot_frame)
        frame = json.loads(await asyncio.wait_for(client.queue.get(), 2))
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1
        assert [row["station_name"] for row in snapshot["table"]] == ["Howard"]
        # The station (seq 1) is in the snapshot; the train's two moves in one batch become one push.
        assert (frame["type"], frame["seq"], frame["train"]["station_id"]) == ("train", 3, JARVIS)
        assert frame["pushed_at"] >= frame["train"]["produced_at"]
        assert client.queue.empty()

    asyncio.run(scenario())


def test_a_client_that_falls_behind_gets_a_fresh_snapshot_instead_of_a_backlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "CLIENT_QUEUE_LIMIT", 3)

    async def scenario() -> None:
        hub = LiveHub(DashboardState(LINE_ORDER))
        hub.loop = asyncio.get_running_loop()
        client, _ = hub.connect()
        for n in range(6):
            hub.apply([arrival(f"RL00{n}", HOWARD)])
        await asyncio.sleep(0.05)

        frames = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
        assert frames[-1] == RESYNC and len(frames) <= 4
        snapshot = json.loads(hub.resync(client))
        assert len(snapshot["trains"]) == 6 and client.after_seq == snapshot["seq"] == 6

    asyncio.run(scenario())
