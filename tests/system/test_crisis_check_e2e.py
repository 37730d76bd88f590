"""The crisis screening's three bands end to end on the real stack (Redis, Rasa with the trained
model, the action server, the desk), a citizen on the REST channel: an unsure message gets the
check question, a yes the urgent ticket (saying how it was raised), a no goes back to where the
conversation was, an open report form asking its question again; everyday words stay everyday."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bot.core import catalogue, crisis
from bot.stack.processes import Stack, start_stack

pytestmark = pytest.mark.stack
UNSURE = "我不想再拖累家里人了"


def approved(name: str, **slots: Any) -> str:
    return catalogue.load().text(name, **slots)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # agents on duty at every hour: bot.stack's default city profile (around_the_clock_city)
    s = start_stack()
    yield s
    s.stop()


def _sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _tickets(stack: Stack, sender: str) -> list[dict[str, Any]]:
    status, found = stack.desk("GET", f"/api/tickets?sender_id={sender}")
    assert status == 200, found
    return list(found)


def test_unsure_asks_and_a_yes_gives_the_urgent_ticket(stack: Stack) -> None:
    assert crisis.assess(UNSURE).band is crisis.Band.CHECK
    sender = _sender("check-yes")
    answer = stack.rest(sender, UNSURE)
    assert [m.get("text") for m in answer] == [approved("utter_crisis_check")]
    assert [b["payload"] for b in answer[0]["buttons"]] == ["/crisis_check_yes", "/crisis_check_no"]
    assert _tickets(stack, sender) == []  # no urgent ticket on a guess
    said = stack.rest_texts(sender, "/crisis_check_yes")
    (ticket,) = _tickets(stack, sender)
    assert said[0] == approved("utter_crisis_self_harm", ticket_id=ticket["id"])
    assert (ticket["priority"], ticket["topic"], ticket["reason"]) == ("P0", "self_harm", "crisis:self_harm")
    status, full = stack.desk("GET", f"/api/tickets/{ticket['id']}")
    assert status == 200
    assert full["description"].startswith(f"{UNSURE}\n\n筛查依据：核实问题：语义相似度")
    assert "市民确认“是”" in full["description"]


def test_a_no_inside_a_report_keeps_the_form_and_asks_its_question_again(stack: Stack) -> None:
    sender = _sender("check-no-form")
    assert stack.rest_texts(sender, "我要投诉噪音")[-1] == approved("utter_ask_report_what")
    assert stack.rest_texts(sender, UNSURE) == [approved("utter_crisis_check")]
    assert stack.rest_texts(sender, "/crisis_check_no") == [
        approved("utter_crisis_check_resume"),
        approved("utter_ask_report_what"),
    ]
    assert stack.rest_texts(sender, "楼下烧烤店每天半夜还在营业特别吵") == [approved("utter_ask_report_where")]
    assert _tickets(stack, sender) == []


def test_a_no_outside_a_form_goes_on_as_before(stack: Stack) -> None:
    sender = _sender("check-no")
    assert stack.rest_texts(sender, UNSURE) == [approved("utter_crisis_check")]
    assert stack.rest_texts(sender, "不是") == [approved("utter_crisis_check_no")]
    assert _tickets(stack, sender) == []


def test_everyday_words_are_no_crisis(stack: Stack) -> None:
    sender = _sender("everyday")
    for text in ("我想去游泳", "笑死我了哈哈哈", "想唱就唱"):
        said = stack.rest_texts(sender, text)
        assert said and not any("12356" in t or "110" in t for t in said), (text, said)
    assert _tickets(stack, sender) == []
