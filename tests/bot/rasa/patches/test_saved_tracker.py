"""bot/rasa/patches/saved_tracker.py: the tracker Rasa saved reaches the turn's output channel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.rasa import patches
from bot.rasa.patches import saved_tracker
from tests.bot.rasa.patches.support import saved_conversation


@pytest.fixture()
def handing_over(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A processor whose turn saves the conversation once, like Rasa's handle_message does."""
    from rasa.core.processor import MessageProcessor

    stored: list[Any] = []

    async def rasa_turn(self: Any, message: Any) -> None:
        tracker = saved_conversation()
        tracker.sender_id = message.sender_id
        await MessageProcessor.save_tracker(self, tracker)

    async def rasa_saves(self: Any, tracker: Any) -> None:
        stored.append(tracker)

    monkeypatch.setattr(MessageProcessor, "handle_message", rasa_turn)
    monkeypatch.setattr(MessageProcessor, "save_tracker", rasa_saves)
    saved_tracker.install()
    patches.wrap_turns([saved_tracker.remember_output])
    return stored


async def test_the_conversation_rasa_saved_reaches_the_turns_channel(handing_over: list[Any]) -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    from channels.rest import RestOutput

    first, second = RestOutput(), RestOutput()
    await asyncio.gather(
        MessageProcessor.handle_message(None, UserMessage("你好", first, "citizen-1")),  # type: ignore[arg-type]
        MessageProcessor.handle_message(None, UserMessage("谢谢", second, "citizen-2")),  # type: ignore[arg-type]
    )
    assert len(handing_over) == 2  # saved exactly as before
    assert first.saved_tracker is handing_over[0] and first.saved_tracker.sender_id == "citizen-1"
    assert second.saved_tracker is handing_over[1] and second.saved_tracker.sender_id == "citizen-2"
    # a save outside a turn (the desk's tracker edits) hands nothing to anybody
    await MessageProcessor.save_tracker(None, saved_conversation())  # type: ignore[arg-type]
    assert first.saved_tracker is handing_over[0]
