"""Writes that commit atomically with the offsets of the record that caused them (Faust exactly_once).

Faust's ``exactly_once`` keeps one transactional producer per assigned input partition (id
``<app>-<topic group>-<partition>``) and commits a partition's consumer offsets through it: a
commit includes every record appended to that producer before it. For a write to be atomic with
an input record it must go through *that record's* producer, and be appended before the record
is acknowledged (its offset becomes committable). Two Faust defaults do not guarantee this, so
the agents use the helpers below instead:

* ``topic.send()`` picks the transactional producer from the *output* record's partition (and
  fails for topics the app does not consume): :func:`send_in_transaction` uses the input record's.
* ``table[key] = value`` queues its changelog record in a buffer that the offset commit does not
  drain, so a commit can carry an offset whose table update is still queued (lost by a crash):
  :func:`set_in_partition` appends the changelog record to the input partition's producer before
  returning.

Waiting for Kafka's acknowledgement is not needed: aiokafka flushes every appended batch before it
ends a transaction, and a failed send fails the commit (the worker stops; nothing is committed).

A commit can still carry effects of records whose offsets it does not include yet (processed after
the commit took its offset snapshot); such records are read again after a crash, so the agents make
reprocessing idempotent (absolute values, and per-key source offsets where they count).
"""

from __future__ import annotations

from typing import Any

from faust.types import AppT, CollectionT


def transactional_id(app: AppT, source_topic: str, source_partition: int) -> str | None:
    """Id of the producer whose transaction commits ``source_partition``'s offsets (None: no EOS)."""
    if not app.in_transaction:
        return None
    group = app.assignor.group_for_topic(source_topic)
    return f"{app.conf.id}-{group}-{source_partition}"


async def send_in_transaction(
    app: AppT,
    source_topic: str,
    source_partition: int,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Append a record to the transaction of the input partition ``source_partition``."""
    await app.producer.send(
        topic,
        key,
        value,
        partition=None,
        timestamp=None,
        headers=headers,
        transactional_id=transactional_id(app, source_topic, source_partition),
    )


async def set_in_partition(table: CollectionT, partition: int, key: Any, value: Any) -> None:
    """``table[key] = value``, its changelog record appended in ``partition`` (the input record's)."""
    table.data[key] = value
    await _append_changelog(table, partition, key, value, table.value_serializer)


async def delete_in_partition(table: CollectionT, partition: int, key: Any) -> None:
    """``del table[key]``: a tombstone appended in the changelog's ``partition``."""
    table.data.pop(key, None)
    await _append_changelog(table, partition, key, None, "raw")


async def _append_changelog(table: CollectionT, partition: int, key: Any, value: Any, value_serializer: Any) -> None:
    topic = table.changelog_topic
    message = topic.as_future_message(
        key=key,
        value=value,
        partition=partition,
        key_serializer=table.key_serializer,
        value_serializer=value_serializer,
    )
    # In a worker with exactly_once, the topic publishes through the transaction manager, which
    # picks the producer of (changelog topic group, partition) = the input partition's.
    await topic.publish_message(message)
