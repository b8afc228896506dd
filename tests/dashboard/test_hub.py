"""The hand-over from the consumer thread to browsers: snapshots, one shared frame per tick, bounded queues,
rate-limited resyncs. Pure: no server, no Kafka; the real sender loop is driven with stand-in sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.dashboard.cta.test_state import HOWARD, JARVIS, MORSE, arrival, station
from transit_status.dashboard.cta.state import DashboardState
from transit_status.dashboard.hub import RESYNC_INTERVAL_S, Client, LiveHub
from transit_status.dashboard.web import send_frames
from transit_status.networks.cta import LINE_ORDER

RESYNC = json.dumps({"type": "resync"})


def new_hub(tick_s: float = 0.1) -> LiveHub:
    return LiveHub(DashboardState(LINE_ORDER), tick_s=tick_s)


def drain(client: Client, hub: LiveHub) -> list[dict[str, Any]]:
    """Every frame the client would send now, decoded (a due snapshot comes first)."""
    frames = []
    while (frame := client.due_frame(hub)) is not None:
        frames.append(json.loads(frame))
    return frames


def test_a_client_gets_a_snapshot_then_only_updates_it_does_not_already_have() -> None:
    hub = new_hub()
    hub.apply([station(HOWARD, "Howard", 0)])  # applied; its push waits for the next tick
    client = hub.connect()
    [snapshot] = drain(client, hub)
    hub.apply([arrival("RL001", HOWARD), arrival("RL001", JARVIS, at=6_000)])
    hub.tick()

    [frame] = drain(client, hub)
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1
    assert [s["station_name"] for group in snapshot["stations"] for s in group["stations"]] == ["Howard"]
    # The station (seq 1) is in the snapshot; the train's two moves in one tick become one update.
    assert frame["type"] == "updates" and frame["pushed_at"] >= 6_001
    station_update, train_update = frame["updates"]
    assert (station_update["type"], station_update["seq"]) == ("station", 1)  # the browser skips it: seq 1
    assert (train_update["type"], train_update["seq"], train_update["train"]["station_id"]) == ("train", 3, JARVIS)


def test_a_tick_is_encoded_once_and_the_same_frame_goes_to_every_client() -> None:
    hub = new_hub()
    clients = [hub.connect() for _ in range(1000)]
    for client in clients:
        drain(client, hub)
    assert hub.snapshots_encoded == 1  # a thousand snapshots of one state: one encoding

    hub.apply([arrival(f"RL{n:03d}", HOWARD) for n in range(50)] + [arrival("RL000", MORSE, at=9_000)])
    updates = hub.tick()

    assert hub.frames_encoded == 1
    frames = [client.frames[0] for client in clients]
    assert all(frame is frames[0] for frame in frames)  # the very same string, not an equal copy
    assert [u.seq for u in updates] == sorted(u.seq for u in updates) and len(updates) == 50
    sent = {u["train"]["train_id"]: u["train"]["station_id"] for u in json.loads(frames[0])["updates"]}
    assert sent["RL000"] == MORSE  # coalesced: only the train's last move
    assert hub.tick() == [] and hub.frames_encoded == 1  # nothing new: nothing encoded


def test_a_slow_client_gets_a_fresh_snapshot_instead_of_a_backlog_and_never_delays_a_fast_one() -> None:
    class FastSocket:
        def __init__(self) -> None:
            self.frames: list[dict[str, Any]] = []

        async def send_text(self, text: str) -> None:
            self.frames.append(json.loads(text))

    class StuckSocket:
        """A browser that stopped reading: a send never completes."""

        def __init__(self) -> None:
            self.sent = 0

        async def send_text(self, text: str) -> None:
            self.sent += 1
            await asyncio.Event().wait()

    async def scenario() -> None:
        hub = new_hub(tick_s=0.005)
        hub.loop = asyncio.get_running_loop()
        slow, fast = hub.connect(queue_limit=5), hub.connect(queue_limit=5)
        stuck, quick = StuckSocket(), FastSocket()
        senders = [
            asyncio.create_task(send_frames(stuck, hub, slow)),  # type: ignore[arg-type]
            asyncio.create_task(send_frames(quick, hub, fast)),  # type: ignore[arg-type]
        ]
        await asyncio.sleep(0.01)
        for n in range(40):  # from the consumer thread, as in the server; each tick goes out at once
            await asyncio.to_thread(hub.apply, [arrival(f"RL{n:03d}", HOWARD)])
            await asyncio.sleep(0.02)  # a few ticks: every train gets a tick of its own

        for task in senders:
            task.cancel()
        trains = {u["train"]["train_id"] for f in quick.frames if f["type"] == "updates" for u in f["updates"]}
        assert trains == {f"RL{n:03d}" for n in range(40)}  # the fast client missed nothing
        assert stuck.sent == 1 and len(slow.frames) <= 5  # its snapshot is stuck; the backlog stays bounded
        assert slow.needs_snapshot and slow.backlogs_dropped >= 1

        [snapshot] = drain(slow, hub)  # once it reads again: one fresh snapshot, not 40 updates
        assert snapshot["type"] == "snapshot" and len(snapshot["trains"]) == 40
        assert slow.after_seq == hub.state.seq

    asyncio.run(scenario())


def test_a_flood_of_resyncs_gets_one_snapshot_and_is_not_even_parsed_past_the_rate_limit() -> None:
    now = [100.0]
    hub = new_hub()
    hub.apply([station(HOWARD, "Howard", 0)])
    flooder = Client(clock=lambda: now[0])
    hub.clients.add(flooder)
    drain(flooder, hub)

    for _ in range(1000):
        flooder.on_message(RESYNC)
    frames = drain(flooder, hub)

    assert [frame["type"] for frame in frames] == ["snapshot"]
    assert flooder.snapshots == 2 and hub.snapshots_encoded == 1  # same state: the cached encoding
    assert flooder.messages_dropped >= 1000 - 20 and flooder.resyncs_ignored <= 20

    now[0] += RESYNC_INTERVAL_S  # later, a resync is honoured again (and the state moved on)
    hub.apply([arrival("RL001", HOWARD)])
    flooder.on_message(RESYNC)
    [snapshot] = drain(flooder, hub)
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 2


def test_a_client_that_connects_gets_the_latest_status_after_its_snapshot() -> None:
    hub = new_hub()
    hub.broadcast_status({"type": "status", "ok": True})
    client = hub.connect()
    assert [frame["type"] for frame in drain(client, hub)] == ["snapshot", "status"]


def test_a_whole_view_goes_out_at_once_when_urgent_and_coalesced_when_not() -> None:
    """The alerts: pushed whole when they change, within a tick when an alert opened or cleared, at most
    once per relaxed interval when only a headway moved; the newest goes to a client that connects."""

    async def scenario() -> None:
        hub = LiveHub(DashboardState(LINE_ORDER), tick_s=0.01, relaxed_s=1.0)
        hub.loop = asyncio.get_running_loop()
        version = [0]
        changed = hub.whole_view("alerts", lambda: {"version": version[0]})
        client = hub.connect()
        assert [(f["type"], f.get("version")) for f in drain(client, hub)] == [("snapshot", None), ("alerts", 0)]

        async def pushed(count: int) -> list[int]:
            """The versions pushed so far, once there are ``count`` of them (what the client would send)."""
            deadline = asyncio.get_running_loop().time() + 10
            while len(client.frames) < count and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            return [json.loads(frame)["version"] for frame in client.frames]

        def change(urgent: bool) -> None:
            version[0] += 1
            changed(urgent)

        version[0] += 1
        await asyncio.to_thread(changed, False)  # from the consumer thread, as in the server
        assert await pushed(1) == [1]  # nothing pushed for a while: at once
        for _ in range(19):  # headways moving: one frame for all, a relaxed interval after the last
            change(urgent=False)
        assert await pushed(2) == [1, 20]

        change(urgent=False)  # waits for the relaxed interval...
        change(urgent=True)  # ...until an alert opens: both go out within a tick, as one frame
        assert await pushed(3) == [1, 20, 22]
        await asyncio.sleep(hub.relaxed_s * 1.5)
        assert await pushed(3) == [1, 20, 22]  # the relaxed push it replaced never comes

        newcomer = hub.connect()
        assert [f.get("version") for f in drain(newcomer, hub)] == [None, 22]  # its snapshot, then the newest

        # A client too slow to keep up loses its backlog, its alerts frame too: its fresh snapshot brings it.
        slow = hub.connect(queue_limit=3)
        drain(slow, hub)
        change(urgent=True)
        assert await pushed(4) == [1, 20, 22, 23]
        for _ in range(3):
            hub.broadcast_status({"type": "status"})
        assert slow.needs_snapshot and slow.backlogs_dropped == 1
        frames = [(f["type"], f.get("version")) for f in drain(slow, hub)]
        assert frames == [("snapshot", None), ("alerts", 23), ("status", None)]

    asyncio.run(scenario())
