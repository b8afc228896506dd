"""The stream worker's dead letters: appended to the transaction of the input partition they came from.

What a dead letter is (bytes, ``dlq.*`` headers, log line) lives in ``transit_status.dead_letters``;
what is specific here is that it commits atomically with the rejected record's offset (exactly_once.py),
so a crash neither loses it nor, once committed, writes it twice.
"""

from __future__ import annotations

from faust.types import AppT, Message

from transit_status.config import Settings
from transit_status.dead_letters import DeadLetter
from transit_status.streams.exactly_once import send_in_transaction


async def dead_letter_in_transaction(
    app: AppT, settings: Settings, message: Message, error: str, consumer: str
) -> DeadLetter:
    """Log ``message`` as rejected by ``consumer``; append it to the dead-letter topic in its input transaction."""
    letter = DeadLetter.from_message(message, error, consumer)
    letter.log()
    await send_in_transaction(
        app,
        message.topic,
        message.partition,
        settings.topic_dead_letters,
        letter.key,
        letter.value,
        letter.headers(),
    )
    return letter
