"""What the agents share when they declare their inputs and tables on the Faust app."""

from __future__ import annotations

import faust
from faust.types import TopicT


def contract_input(app: faust.App, name: str, partitions: int, *, acks: bool = True) -> TopicT:
    """A contract topic read as raw bytes (the agents decode and dead-letter records themselves).

    ``internal=False``: transit_status.topics (or Kafka Connect) creates it, Faust must not declare it.
    ``acks=False``: Faust never commits offsets of it.
    """
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=False,
        acks=acks,
    )
