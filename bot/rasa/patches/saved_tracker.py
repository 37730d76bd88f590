"""The tracker Rasa saves at the end of a turn is handed to the turn's output channel
(`saved_tracker`).

The channel's pipeline reads what the model understood for the inbound record; it used to read the
whole conversation back from Redis for that, once more per message (the profile's "tracker store"
share, docs/performance.md). Now the tracker Rasa has just saved is handed over: one Redis read
and one deserialisation of the conversation less per message.

Two parts: the turn middleware `remember_output` notes the turn's output channel, and `install`
makes `MessageProcessor.save_tracker` hand the saved tracker to it.
"""

from __future__ import annotations

import contextvars
from typing import Any

from bot.rasa.patches.wrapping import Replacement, TurnHandler, replace

# the output channel of the message being handled, per task (set by `remember_output`)
_TURN_OUTPUT: contextvars.ContextVar[Any] = contextvars.ContextVar("hotline_turn_output", default=None)


async def remember_output(processor: Any, message: Any, call_next: TurnHandler) -> Any:
    """The turn middleware: what `save_tracker` hands the saved conversation to."""
    token = _TURN_OUTPUT.set(message.output_channel)
    try:
        return await call_next(processor, message)
    finally:
        _TURN_OUTPUT.reset(token)


def install() -> list[Replacement]:
    from rasa.core.processor import MessageProcessor

    original_save = MessageProcessor.save_tracker

    async def save_tracker(self: MessageProcessor, tracker: Any) -> None:
        await original_save(self, tracker)
        output = _TURN_OUTPUT.get()
        if output is not None and hasattr(output, "saved_tracker"):
            output.saved_tracker = tracker

    return [replace(MessageProcessor, "save_tracker", save_tracker)]
