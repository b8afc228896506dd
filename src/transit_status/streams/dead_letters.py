"""The stream worker's dead letters: published like every consumer's, at least once.

What a dead letter is (bytes, ``dlq.*`` headers, log line) lives in ``transit_status.dead_letters``.
A crash before the rejected record's offset is committed may publish it again; readers that care
(the dashboard) recognise a repeat by its ``dlq.topic``/``dlq.partition``/``dlq.offset`` headers.
"""

from __future__ import annotations

from faust.types import AppT, Message

from transit_status.config import Settings
from transit_status.dead_letters import DeadLetter


async def send_dead_letter(app: AppT, settings: Settings, message: Message, error: str, consumer: str) -> DeadLetter:
    """Log ``message`` as rejected by ``consumer`` and publish it to the dead-letter topic."""
    letter = DeadLetter.from_message(message, error, consumer)
    letter.log()
    await app.send(
        settings.topic_dead_letters,
        key=letter.key,
        value=letter.value,
        headers=letter.headers(),
        key_serializer="raw",
        value_serializer="raw",
    )
    return letter
