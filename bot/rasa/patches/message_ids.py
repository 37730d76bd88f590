"""A message a channel gives no id (REST, web chat) gets one derived from the conversation as
saved before it — sender, text, and the time of the last message in the saved conversation —
instead of a random one.

A citizen who is told "busy, send it again" after a Rasa process died in the middle of their turn
sends the same text onto the same saved conversation (the dead turn saved nothing), so it gets the
same id, and everything keyed by it is done once: the ticket that the dead turn's action already
filed is found again, not filed a second time (actions file tickets under an idempotency key made
of the message id; tests/system/test_faults.py). The same text sent again after it was answered
comes after that answer: a new id. Ids given by a channel (WeChat's MsgId) are kept.

`UserMessage.hotline_id_given` (set here) is also what bot/rasa/patches/replay.py reads.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace


def stable_message_id(sender_id: str, text: str | None, tracker: Any) -> str:
    """The id of a message without one: the same for the same text on the same saved conversation."""
    last = next((e.timestamp for e in reversed(tracker.events) if getattr(e, "type_name", "") in ("user", "bot")), None)
    return hashlib.sha256(f"{sender_id}\x1f{text or ''}\x1f{last!r}".encode()).hexdigest()[:32]


def install() -> list[Replacement]:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    original_init = UserMessage.__init__

    def __init__(self: UserMessage, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        given = kwargs.get(
            "message_id", args[5] if len(args) > 5 else None
        )  # (text, output, sender, parse, channel, id)
        self.hotline_id_given = given is not None  # our mark, read by message_ids and replay

    original_handle = MessageProcessor._handle_message_with_tracker

    async def _handle_message_with_tracker(self: MessageProcessor, message: UserMessage, tracker: Any) -> None:
        if not getattr(message, "hotline_id_given", True):
            message.message_id = stable_message_id(message.sender_id, message.text, tracker)
        await original_handle(self, message, tracker)

    return [
        replace(UserMessage, "__init__", __init__),
        replace(MessageProcessor, "_handle_message_with_tracker", _handle_message_with_tracker),
    ]
