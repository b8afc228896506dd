"""How an agent declares a contract topic it reads on the Faust app."""

from __future__ import annotations

import faust
from faust.types import TopicT


def contract_input(app: faust.App, name: str, partitions: int) -> TopicT:
    """A contract topic read as raw bytes (the agents decode and dead-letter records themselves).

    ``internal=False``: transit_status.topics (or Kafka Connect) creates it, Faust must not declare it.
    ``acks=False``: Faust never commits offsets of it; the agent replays it from the beginning on every
    start (streams/stations.py says why).
    """
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=False,
        acks=False,
    )
