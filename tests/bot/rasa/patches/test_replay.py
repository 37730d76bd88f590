"""bot/rasa/patches/replay.py: a message handled already is answered from the saved conversation."""

from __future__ import annotations

from typing import Any

import pytest

from bot.rasa import patches
from bot.rasa.patches import replay
from tests.bot.rasa.patches.support import saved_conversation


def test_the_saved_answer_of_a_message_is_what_followed_it_up_to_the_next_message() -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    tracker = saved_conversation(
        UserUttered("社保卡怎么办", message_id="rest:m-1"),
        ActionExecuted("utter_faq"),
        BotUttered(
            "请携带身份证…",
            {"buttons": [{"title": "有帮助", "payload": "/feedback"}]},
            metadata={"utter_action": "utter_faq/shebao_card_apply"},
        ),  # fmt: skip
        BotUttered("以上解答对您有帮助吗？", metadata={"utter_action": "utter_ask_helpful"}),
        UserUttered("谢谢", message_id="rest:m-2"),
        BotUttered("不客气。", metadata={"utter_action": "utter_you_are_welcome"}),
    )
    assert replay.saved_answer(tracker, "rest:m-1") == [
        {
            "text": "请携带身份证…",
            "buttons": [{"title": "有帮助", "payload": "/feedback"}],
            "utter_action": "utter_faq/shebao_card_apply",
        },  # fmt: skip
        {"text": "以上解答对您有帮助吗？", "buttons": None, "utter_action": "utter_ask_helpful"},
    ]
    assert replay.saved_answer(tracker, "rest:m-2") == [
        {"text": "不客气。", "buttons": None, "utter_action": "utter_you_are_welcome"}
    ]
    assert replay.saved_answer(tracker, "rest:m-3") is None  # never saved: handle it


class _Store:
    def __init__(self, tracker: Any) -> None:
        self.tracker, self.reads = tracker, 0

    async def retrieve(self, sender_id: str) -> Any:
        self.reads += 1
        return self.tracker


class _Output:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent.append(message)


class _Message:
    def __init__(self, message_id: str, check_saved: bool, id_given: bool = True) -> None:
        self.sender_id, self.message_id, self.output_channel = "citizen-1", message_id, _Output()
        self.metadata = {replay.CHECK_SAVED: True} if check_saved else None
        self.hotline_id_given = id_given


async def test_only_a_message_the_saved_conversation_holds_is_answered_from_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, UserUttered

    handled: list[str] = []

    async def rasa_turn(self: Any, message: Any) -> None:
        handled.append(message.message_id)

    monkeypatch.setattr(MessageProcessor, "handle_message", rasa_turn)
    patches.wrap_turns([replay.answer_from_saved])
    processor = type("Processor", (), {})()
    processor.tracker_store = _Store(
        saved_conversation(
            UserUttered("谢谢", message_id="rest:m-2"),
            BotUttered("不客气。", metadata={"utter_action": "utter_you_are_welcome"}),
        )
    )

    again = _Message("rest:m-2", check_saved=True)
    assert await MessageProcessor.handle_message(processor, again) is None
    assert again.output_channel.sent == [{"text": "不客气。", "utter_action": "utter_you_are_welcome"}]
    assert handled == []  # not handled a second time

    new = _Message("rest:m-3", check_saved=True)
    await MessageProcessor.handle_message(processor, new)
    assert handled == ["rest:m-3"] and new.output_channel.sent == []
    reads = processor.tracker_store.reads
    # no mark from the channel, or an id Rasa made up: handled without looking
    await MessageProcessor.handle_message(processor, _Message("rest:m-2", check_saved=False))
    await MessageProcessor.handle_message(processor, _Message("rest:m-2", check_saved=True, id_given=False))
    assert handled == ["rest:m-3", "rest:m-2", "rest:m-2"]
    assert processor.tracker_store.reads == reads
