"""bot/rasa/patches/message_ids.py: a message sent again onto the same saved conversation keeps its id."""

from __future__ import annotations

from typing import Any

import pytest

from bot.rasa.patches import message_ids
from tests.bot.rasa.patches.support import saved_conversation


@pytest.fixture()
def captured_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    seen: list[str] = []

    async def rasa_logs_it(self: Any, message: Any, tracker: Any) -> None:
        seen.append(message.message_id)

    monkeypatch.setattr(MessageProcessor, "_handle_message_with_tracker", rasa_logs_it)
    monkeypatch.setattr(UserMessage, "__init__", UserMessage.__init__)
    message_ids.install()
    return seen


async def test_a_message_sent_again_onto_the_same_saved_conversation_keeps_its_id(captured_ids: list[str]) -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, UserUttered

    saved = saved_conversation(
        UserUttered("我要投诉噪音", timestamp=100.0), BotUttered("请您确认登记内容", timestamp=101.0)
    )

    async def turn(text: str, tracker: Any, **kw: Any) -> str:
        await MessageProcessor._handle_message_with_tracker(
            None, UserMessage(text, sender_id="citizen-1", **kw), tracker
        )  # type: ignore[arg-type]
        return captured_ids[-1]

    first = await turn("/affirm", saved)
    again = await turn("/affirm", saved)  # the first try died with its process: nothing was saved
    assert first == again
    # the same words after the answer was saved: a new message
    answered = saved_conversation(
        *saved.events, UserUttered("/affirm", timestamp=102.0), BotUttered("已登记", timestamp=103.0)
    )
    assert await turn("/affirm", answered) != first
    assert await turn("/deny", saved) != first
    # an id the channel gives (WeChat's MsgId) is kept; positionally too
    assert await turn("/affirm", saved, message_id="wechat-123") == "wechat-123"
    msg = UserMessage("/affirm", None, "citizen-1", None, "wechat", "wechat-456")
    await MessageProcessor._handle_message_with_tracker(None, msg, saved)  # type: ignore[arg-type]
    assert captured_ids[-1] == "wechat-456"
