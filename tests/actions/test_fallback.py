"""Not understood: rephrase, ask which of two close topics, offer a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet

from actions import fallback as a
from tests.actions.trackers import make_tracker, responses, run


def _fallback_turns(n: int) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for i in range(n):
        turns.append({"event": "user", "text": f"啊啊{i}", "parse_data": {"intent": {"name": "nlu_fallback"}}})
        turns.append({"event": "bot", "text": "..."})
    return turns


async def test_first_fallback_asks_to_rephrase() -> None:
    dispatcher, events = await run(
        a.ActionHandleFallback(), make_tracker("啊啊", "nlu_fallback", events=_fallback_turns(1))
    )
    assert responses(dispatcher) == ["utter_default"]
    assert events == [SlotSet("offered_human", False)]


async def test_second_fallback_in_a_row_offers_a_person() -> None:
    dispatcher, events = await run(
        a.ActionHandleFallback(), make_tracker("啊啊", "nlu_fallback", events=_fallback_turns(2))
    )
    assert responses(dispatcher) == ["utter_offer_human"]
    assert events == [SlotSet("offered_human", True)]


async def test_two_close_topics_are_offered_as_buttons() -> None:
    parse = {
        "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.55}, {"name": "faq", "confidence": 0.5}],
        "response_selector": {
            "faq": {
                "ranking": [
                    {"intent_response_key": "faq/hpf_withdraw_rent", "confidence": 0.5},
                    {"intent_response_key": "faq/hpf_withdraw_purchase", "confidence": 0.45},
                ]
            }
        },
    }
    tracker = make_tracker("公积金提取", "nlu_fallback", events=_fallback_turns(1), parse=parse)
    dispatcher, _ = await run(a.ActionHandleFallback(), tracker)
    assert responses(dispatcher) == ["utter_ask_which_topic"]
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["租房提取住房公积金", "购房提取住房公积金"]
