"""actions/crisis_check.py: the middle band's check question, its yes and its no, with the exact
events and responses (CollectingDispatcher), and the crisis ticket saying how it was raised."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet

from actions import crisis as a
from actions import crisis_check as c
from bot.core import handoff, tickets
from tests.actions.trackers import make_tracker, responses, run

UNSURE = "我不想再拖累家里人了"
SCREEN = {
    "intent": "self_harm",
    "kind": "self_harm",
    "band": "check",
    "source": "semantic",
    "pattern": None,
    "how": "语义相似度 0.94（最接近的审核语句：“我不想再拖累任何人了”，self_harm，2026-12-03 审核）",
    "score": 0.94,
    "closest": "我不想再拖累任何人了",
}


def user(text: str, intent: str, ts: float, **parse: Any) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": ts,
        "parse_data": {"text": text, "intent": {"name": intent, "confidence": 1.0}, **parse},
        "input_channel": "rest",
        "metadata": {},
    }


def after_the_question(answer: str, intent: str, **parse: Any) -> list[dict[str, Any]]:
    return [
        {"event": "action", "name": "action_listen"},
        user(UNSURE, "crisis_check", 1764000000.0, crisis_screen=SCREEN),
        {"event": "action", "name": "action_crisis_check"},
        {"event": "bot", "text": "如果您或身边的人现在有危险……", "metadata": {"utter_action": "utter_crisis_check"}},
        {"event": "action", "name": "action_listen"},
        user(answer, intent, 1764000010.0, **parse),
    ]


async def test_unsure_asks_the_check_question_and_nothing_else() -> None:
    dispatcher, events = await run(c.ActionCrisisCheck(), make_tracker(UNSURE, "crisis_check"))
    assert responses(dispatcher) == ["utter_crisis_check"]
    assert events == []


async def test_unsure_in_a_form_keeps_the_form_but_not_its_question() -> None:
    tracker = make_tracker(
        UNSURE, "crisis_check", active_loop="report_form", slots={"requested_slot": "report_callback"}
    )
    dispatcher, events = await run(c.ActionCrisisCheck(), tracker)
    assert responses(dispatcher) == ["utter_crisis_check"]
    assert events == [SlotSet("requested_slot", None)]  # 是/不是 must not answer 需要回电吗


async def test_no_goes_back_with_nothing_lost() -> None:
    tracker = make_tracker(
        "/crisis_check_no", "crisis_check_no", events=after_the_question("/crisis_check_no", "crisis_check_no")
    )
    dispatcher, events = await run(c.ActionCrisisCheckNo(), tracker)
    assert responses(dispatcher) == ["utter_crisis_check_no"] and events == []
    in_form = make_tracker("不是", "deny", active_loop="report_form", slots={"report_what": "理发店剪坏了头发"})
    dispatcher, events = await run(c.ActionCrisisCheckNo(), in_form)
    assert responses(dispatcher) == ["utter_crisis_check_resume"] and events == []


async def test_yes_files_the_urgent_ticket_about_the_message_that_was_asked_about(db_url: str, redis_url: str) -> None:
    tracker = make_tracker(
        "/crisis_check_yes",
        "crisis_check_yes",
        sender="c-check-yes",
        events=after_the_question("/crisis_check_yes", "crisis_check_yes"),
        active_loop="report_form",
    )
    dispatcher, events = await run(a.ActionCrisis(), tracker)
    ticket = tickets.query(sender_id="c-check-yes")[0]
    assert (ticket["priority"], ticket["topic"], ticket["reason"]) == ("P0", "self_harm", "crisis:self_harm")
    assert ticket["description"] == f"{UNSURE}\n\n筛查依据：核实问题：{SCREEN['how']}；市民确认“是”"
    assert ticket["summary"].startswith("【危机】") and UNSURE in ticket["summary"]
    assert responses(dispatcher) == ["utter_crisis_self_harm"]
    assert events == [
        SlotSet("ticket_id", ticket["id"]),
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        SlotSet("handed_off", True),
        ConversationPaused(),
    ]
    assert handoff.current("c-check-yes") == {"ticket_id": ticket["id"], "channel": "rest"}


async def test_a_second_risky_message_after_the_question_is_a_crisis_with_both_messages(
    db_url: str, redis_url: str
) -> None:
    again = "真的撑不下去了"
    screen = {**SCREEN, "how": "语义相似度 0.91"}
    tracker = make_tracker(
        again,
        "crisis_check",
        sender="c-check-again",
        events=after_the_question(again, "crisis_check", crisis_screen=screen),
        parse={"crisis_screen": screen},
    )
    await run(a.ActionCrisis(), tracker)
    ticket = tickets.query(sender_id="c-check-again")[0]
    assert ticket["priority"] == "P0" and ticket["topic"] == "self_harm"
    assert ticket["description"].startswith(f"{UNSURE}\n{again}\n\n筛查依据：核实问题：")
    assert "核实后再次出现风险表述（语义相似度 0.91）" in ticket["description"]


async def test_a_lexicon_crisis_ticket_names_the_pattern(db_url: str, redis_url: str) -> None:
    screen = {
        "intent": "emergency",
        "kind": "emergency",
        "band": "crisis",
        "source": "lexicon",
        "how": "词库规则 着火|起火",
    }
    tracker = make_tracker("楼道着火了", "emergency", sender="c-lex", parse={"crisis_screen": screen})
    await run(a.ActionCrisis(), tracker)
    ticket = tickets.query(sender_id="c-lex")[0]
    assert ticket["description"] == "楼道着火了\n\n筛查依据：词库规则 着火|起火"
