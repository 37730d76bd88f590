"""channels/common.py: what a turn leaves on record (audit rows and the inbound record), and when."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy.exc import OperationalError

from bot.core import guard
from bot.infra import db
from channels.common import GuardedOutputChannel, Incoming, handle_incoming


class Out(GuardedOutputChannel):
    channel_name = "fake"

    def __init__(self, holds: bool) -> None:
        super().__init__(model_version="model-x")
        self.holds_records = holds
        self.delivered: list[str] = []

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        self.delivered.append(text)


def _on_record() -> tuple[int, int]:
    with db.session() as s:
        return s.query(db.AuditRecord).count(), s.query(db.InboundRecord).count()


def _saved(sender: str, intent: str) -> Any:
    """The conversation as Rasa saved it at the end of the turn (what bot/rasa/patches/saved_tracker.py hands over)."""
    latest = SimpleNamespace(intent={"name": intent, "confidence": 0.93}, parse_data={})
    return SimpleNamespace(sender_id=sender, latest_message=latest, events=[])


def _turn(out: Out, seen: list[tuple[int, int]], saved: Any = None) -> Callable[[UserMessage], Awaitable[None]]:
    async def on_new_message(message: UserMessage) -> None:
        await out.send_approved(message.sender_id, "utter_offer_human")
        seen.append(_on_record())
        await out.send_approved(message.sender_id, "utter_how_can_i_help")
        out.saved_tracker = saved

    return on_new_message


@pytest.fixture()
def pipeline(db_url: str, redis_url: str) -> None:
    """A real database and a real Redis (rate limit, handoff state) for the pipeline."""


@pytest.mark.usefixtures("pipeline")
def test_a_collected_answer_is_on_record_with_its_message_before_it_leaves() -> None:
    out = Out(holds=True)
    seen: list[tuple[int, int]] = []
    lookups: list[str] = []

    async def lookup(sender_id: str) -> Any:
        lookups.append(sender_id)
        return None

    msg = Incoming(channel="rest", sender_id="c1", text="我想找人工")
    asyncio.run(handle_incoming(msg, out, _turn(out, seen, _saved("c1", "request_human")), lookup))

    assert seen == [(0, 0)]  # held while the turn runs: one commit at its end
    assert _on_record() == (2, 1)  # written before handle_incoming returned, i.e. before the HTTP answer
    assert [r["response"] for r in guard.audit(sender_id="c1")] == ["utter_how_can_i_help", "utter_offer_human"]
    with db.session() as s:
        row = s.query(db.InboundRecord).one()
        assert (row.sender_id, row.intent, row.confidence, row.handled_by) == ("c1", "request_human", 0.93, "bot")
    assert lookups == []  # the saved conversation was handed over: no second read of the tracker store
    assert len(out.delivered) == 2


@pytest.mark.usefixtures("pipeline")
def test_a_channel_that_sends_at_once_puts_each_reply_on_record_before_sending_it() -> None:
    out = Out(holds=False)
    seen: list[tuple[int, int]] = []

    async def lookup(sender_id: str) -> Any:
        return _saved(sender_id, "greet")

    msg = Incoming(channel="telegram", sender_id="c2", text="你好")
    asyncio.run(handle_incoming(msg, out, _turn(out, seen), lookup))

    assert seen == [(1, 0)]  # the first reply was on record before the second was sent
    assert _on_record() == (2, 1)
    with db.session() as s:
        assert s.query(db.InboundRecord).one().intent == "greet"  # no saved tracker: read back


@pytest.mark.usefixtures("pipeline")
def test_a_saved_conversation_of_another_citizen_is_not_taken_for_this_one() -> None:
    out = Out(holds=True)

    async def lookup(sender_id: str) -> Any:
        return _saved(sender_id, "greet")

    msg = Incoming(channel="rest", sender_id="c3", text="你好")
    asyncio.run(handle_incoming(msg, out, _turn(out, [], _saved("someone-else", "request_human")), lookup))
    with db.session() as s:
        assert s.query(db.InboundRecord).one().intent == "greet"


@pytest.mark.usefixtures("pipeline")
def test_the_citizen_is_answered_when_the_records_cannot_be_written(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(db, "session", broken)
    out = Out(holds=True)
    msg = Incoming(channel="rest", sender_id="c4", text="我想找人工")
    with caplog.at_level(logging.ERROR):
        asyncio.run(handle_incoming(msg, out, _turn(out, [], _saved("c4", "request_human"))))
    assert len(out.delivered) == 2
    assert "3 audit/inbound record(s) could not be written" in caplog.text


def _saved_turn(sender: str, intent: str, actions: list[str]) -> Any:
    from rasa.shared.core.events import ActionExecuted, UserUttered

    saved = _saved(sender, intent)
    saved.events = [ActionExecuted("action_listen"), UserUttered("…"), *(ActionExecuted(a) for a in actions)]
    return saved


@pytest.mark.parametrize(
    ("actions", "recorded"),
    [
        # the form asked "when?", the citizen said "今天上午开始": the form took it, not unanswered
        (["action_extract_slots", "report_form"], "form_answer"),
        # the form could not use it (a yes/no question answered with an address): unanswered
        (["action_extract_slots", "report_form", "action_handle_fallback"], "nlu_fallback"),
        # outside a form: unanswered, for the ops team's list
        (["action_extract_slots", "action_handle_fallback"], "nlu_fallback"),
    ],
)
@pytest.mark.usefixtures("pipeline")
def test_an_answer_the_form_took_is_not_recorded_as_unanswered(actions: list[str], recorded: str) -> None:
    out = Out(holds=True)
    msg = Incoming(channel="rest", sender_id="c5", text="今天上午开始，现在还在持续")
    asyncio.run(handle_incoming(msg, out, _turn(out, [], _saved_turn("c5", "nlu_fallback", actions))))
    with db.session() as s:
        assert s.query(db.InboundRecord).one().intent == recorded


@pytest.mark.usefixtures("pipeline")
def test_a_flood_is_recorded_but_answered_once_with_the_limit_and_a_crisis_always_gets_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "3")
    turns: list[str] = []

    async def on_new_message(message: UserMessage) -> None:
        turns.append(message.text or "")

    async def flood() -> list[list[str]]:
        answers = []
        for text in ["问一下", "在吗", "人呢", "快回答", "回答我", "我不想活了"]:
            out = Out(holds=True)
            await handle_incoming(Incoming(channel="rest", sender_id="c6", text=text), out, on_new_message)
            answers.append(out.delivered)
        return answers

    answers = asyncio.run(flood())
    assert turns == ["问一下", "在吗", "人呢", "我不想活了"]  # 3 a minute, and the crisis
    assert [len(a) for a in answers[3:5]] == [1, 0]  # told once, then quiet for the minute
    assert "我们已收到您前面的消息" in answers[3][0]
    with db.session() as s:
        assert s.query(db.InboundRecord).filter_by(sender_id="c6").count() == 6  # nothing lost


@pytest.mark.usefixtures("pipeline")
def test_a_handed_off_citizen_is_screened_with_the_same_bands() -> None:
    from bot.core import catalogue, handoff, tickets

    ticket, _ = tickets.create(
        idempotency_key="ho-check", channel="rest", sender_id="c-ho", topic="report_noise", summary="噪音", handoff=True
    )
    handoff.start("c-ho", ticket["id"], "rest")
    to_rasa: list[str] = []

    async def on_new_message(message: UserMessage) -> None:
        to_rasa.append(message.text or "")

    async def say(text: str) -> list[str]:
        out = Out(holds=True)
        await handle_incoming(Incoming(channel="rest", sender_id="c-ho", text=text), out, on_new_message)
        return out.delivered

    unsure = asyncio.run(say("我不想再拖累家里人了"))
    check = catalogue.load().text("utter_crisis_check")
    assert unsure == [check]  # the numbers at once; the agent reads the answer
    after = tickets.get(ticket["id"])
    assert after["priority"] == ticket["priority"]  # no urgent ticket on a guess
    assert [line["text"] for line in after["transcript"]][-2:] == ["我不想再拖累家里人了", check]
    assert asyncio.run(say("我想去游泳")) == []  # everyday words: to the agent, nothing from the bot
    crisis = asyncio.run(say("我不想活了"))
    assert crisis == [catalogue.load().text("utter_crisis_self_harm", ticket_id=ticket["id"])]
    assert tickets.get(ticket["id"])["priority"] == "P0"
    assert to_rasa == []
