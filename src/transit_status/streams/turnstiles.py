"""Turnstile counts, exactly once: entries per station, published as a compacted running total.

Input: ``settings.topic_turnstiles`` (Confluent Avro, key ``turnstile_key``, value
``turnstile_value``), keyed by station so one station's entries are in one partition.
State: Faust table ``turnstile-counts``: station_id → ``{"count", "station_name", "partition",
"offset"}``, where (partition, offset) is the last input record counted for the station.
Output: ``settings.topic_turnstile_summary``, key ``{"station_id"}``, value ``{"station_id",
"station_name", "count"}``: one record per station changed in a batch.

Exactly once (see exactly_once.py): a batch's table writes, summary records and dead letters are
appended to the transaction of the input partition they came from before the batch's offsets may
be committed. A crash rolls back to the last committed transaction; records
read again whose effect was already committed (offset ≤ the station's counted offset) are skipped,
so an entry is counted once, never twice and never lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import faust
from faust.types import EventT, StreamT

from transit_status.config import Settings
from transit_status.streams.avro import ConfluentAvroDecoder, UndecodableRecord
from transit_status.streams.dead_letters import dead_letter_in_transaction
from transit_status.streams.exactly_once import send_in_transaction, set_in_partition
from transit_status.streams.inputs import JSON_SCHEMA, contract_input

log = logging.getLogger(__name__)

CONSUMER_NAME = "streams.turnstiles"
# A batch is what one transaction-safe round trip pays for: bigger batches, fewer table and
# summary writes per entry (one per changed station), at the price of latency up to BATCH_WITHIN_S.
BATCH_MAX = 2000
BATCH_WITHIN_S = 0.5


def summary_key(station_id: int) -> bytes:
    return b'{"station_id":%d}' % station_id


def summary_value(station_id: int, station_name: str, count: int) -> bytes:
    value = {"station_id": station_id, "station_name": station_name, "count": count}
    return json.dumps(value, separators=(",", ":")).encode()


class TurnstileCounter:
    """Decodes a batch of turnstile records and folds them into the per-station counts."""

    def __init__(self, decoder: ConfluentAvroDecoder) -> None:
        self.decoder = decoder
        # Keys repeat (one per station): decode each distinct key once.
        self._station_of_key: dict[bytes, int] = {}
        self._warned_moved: set[int] = set()

    async def station_of_key(self, key: bytes | None) -> int:
        station_id = self._station_of_key.get(key)  # type: ignore[arg-type]
        if station_id is None:
            try:
                decoded = await self.decoder.decode(key)
            except UndecodableRecord as error:
                raise UndecodableRecord(f"key: {error}") from None
            if not isinstance(decoded, dict) or type(decoded.get("station_id")) is not int:
                raise UndecodableRecord("key is not a turnstile_key record (no int station_id)")
            station_id = decoded["station_id"]
            if len(self._station_of_key) < 100_000:
                self._station_of_key[key] = station_id  # type: ignore[index]
        return station_id

    async def entry(self, key: bytes | None, value: bytes | None) -> tuple[int, str]:
        """(station_id, station_name) of one record; :class:`UndecodableRecord` if it is not valid."""
        station_id = await self.station_of_key(key)
        try:
            datum = self.decoder.decode_cached(value)
        except KeyError:
            try:
                datum = await self.decoder.decode(value)
            except UndecodableRecord as error:
                raise UndecodableRecord(f"value: {error}") from None
        except UndecodableRecord as error:
            raise UndecodableRecord(f"value: {error}") from None
        if not isinstance(datum, dict):
            raise UndecodableRecord("value is not a turnstile_value record")
        value_station, station_name = datum.get("station_id"), datum.get("station_name")
        if type(value_station) is not int or not isinstance(station_name, str):
            raise UndecodableRecord("value lacks turnstile_value's station_id (int) or station_name (string)")
        if value_station != station_id:
            raise UndecodableRecord(f"key station_id {station_id} differs from value station_id {value_station}")
        return station_id, station_name

    def already_counted(self, state: dict[str, Any] | None, partition: int, offset: int) -> bool:
        if state is None:
            return False
        if state["partition"] != partition:
            if state["station_id"] not in self._warned_moved:
                self._warned_moved.add(state["station_id"])
                log.warning(
                    "station %d moved from partition %d to %d: its entries must share one partition "
                    "(key turnstile_key by station) for exact counts",
                    state["station_id"],
                    state["partition"],
                    partition,
                )
            return False
        return offset <= state["offset"]


def register(app: faust.App, settings: Settings, partitions: int) -> ConfluentAvroDecoder:
    """Declare the turnstile topic, table and agent on ``app``; returns the decoder (to close)."""
    turnstiles = contract_input(app, settings.topic_turnstiles, partitions)
    counts = app.Table("turnstile-counts", partitions=partitions, schema=JSON_SCHEMA)
    decoder = ConfluentAvroDecoder(settings.schema_registry_url)
    counter = TurnstileCounter(decoder)

    async def process(events: Sequence[EventT]) -> None:
        changed: dict[int, dict[str, Any]] = {}
        for event in events:
            message = event.message
            try:
                station_id, station_name = await counter.entry(message.key, message.value)
            except UndecodableRecord as error:
                await dead_letter_in_transaction(app, settings, message, str(error), CONSUMER_NAME)
                continue
            state = changed.get(station_id) or counts.get(station_id)
            if counter.already_counted(state, message.partition, message.offset):
                continue
            changed[station_id] = {
                "station_id": station_id,
                "station_name": station_name,
                "count": (state["count"] if state else 0) + 1,
                "partition": message.partition,
                "offset": message.offset,
            }
        # One table write and one summary per changed station, in its input partition's transaction,
        # appended before the batch is acknowledged (its offsets become committable when we return).
        for station_id, state in changed.items():
            await set_in_partition(counts, state["partition"], station_id, state)
            await send_in_transaction(
                app,
                settings.topic_turnstiles,
                state["partition"],
                settings.topic_turnstile_summary,
                summary_key(station_id),
                summary_value(station_id, state["station_name"], state["count"]),
            )

    async def count_turnstiles(stream: StreamT) -> None:
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            await process(events)

    app.agent(turnstiles, name="turnstile-counts")(count_turnstiles)
    return decoder
