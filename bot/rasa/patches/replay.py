"""A message that may have been handled already is answered from the saved conversation.

A message with metadata `hotline_check_saved` (`CHECK_SAVED`: a REST client gave its own
`message_id`; a WeChat retry took over the turn of a process that died), with an id the saved
conversation already holds, is not handled again: the answer saved with it is sent once more. The
check runs under the conversation's lock, so a client that sends a message again (no answer came:
a timeout, a process that died after saving its turn) gets the answer it missed, and the
conversation, the tickets and the figures hold the message once.

A turn middleware (`answer_from_saved`); it reads `hotline_id_given` (bot/rasa/patches/message_ids.py).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.rasa.patches.wrapping import TurnHandler

log = logging.getLogger(__name__)

# metadata a channel sets on a message that may have been handled already
CHECK_SAVED = "hotline_check_saved"


def saved_answer(tracker: Any, message_id: str) -> list[dict[str, Any]] | None:
    """The bot's messages saved after the citizen's message with this id; None if it is not saved."""
    answer: list[dict[str, Any]] | None = None
    for event in tracker.events:
        if getattr(event, "type_name", "") == "user":
            if answer is not None:
                break  # the next message of the citizen: the answer is complete
            if getattr(event, "message_id", None) == message_id:
                answer = []
        elif answer is not None and getattr(event, "type_name", "") == "bot":
            data = event.data or {}
            answer.append(
                {
                    "text": event.text,
                    "buttons": data.get("buttons"),
                    "utter_action": (event.metadata or {}).get("utter_action"),
                }
            )
    return answer


async def answer_from_saved(processor: Any, message: Any, call_next: TurnHandler) -> Any:
    """The turn middleware: a message the saved conversation holds gets its saved answer again."""
    # runs inside Agent.handle_message's conversation lock
    if (message.metadata or {}).get(CHECK_SAVED) and getattr(message, "hotline_id_given", False):
        tracker = await processor.tracker_store.retrieve(message.sender_id)
        answer = saved_answer(tracker, message.message_id) if tracker is not None else None
        if answer is not None:
            log.info("message %s was handled before: its saved answer is sent again", message.message_id)
            for bot in answer:
                await message.output_channel.send_response(
                    message.sender_id, {k: v for k, v in bot.items() if v is not None}
                )
            return None
    return await call_next(processor, message)
