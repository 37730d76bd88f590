"""channels/rest.py on a running stack: Rasa's REST contract, and the optional `message_id` that
makes sending a message again safe (a client that got no answer, or "busy", sends it again)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bot.stack.processes import Stack, request_json
from tests.system.test_handoff_e2e import approved, faq_example

pytestmark = pytest.mark.stack


def _send(stack: Stack, body: dict[str, Any]) -> tuple[int, Any]:
    return request_json("POST", f"{stack.rasa_url}/webhooks/rest/webhook", body)


def _user_texts(stack: Stack, sender: str) -> list[str]:
    code, tracker = request_json("GET", f"{stack.rasa_url}/conversations/{sender}/tracker")
    assert code == 200, tracker
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def test_a_message_sent_again_with_its_id_gets_the_saved_answer_and_is_held_once(stack: Stack) -> None:
    sender = f"rest-again-{uuid.uuid4().hex[:8]}"
    question, answer = faq_example()
    code, first = _send(stack, {"sender": sender, "message": question, "message_id": "m-1"})
    assert code == 200 and first[0]["text"] == approved(answer)
    code, again = _send(stack, {"sender": sender, "message": question, "message_id": "m-1"})
    assert code == 200
    assert [m["text"] for m in again] == [m["text"] for m in first]  # the same answer, buttons too
    assert [m.get("buttons") for m in again] == [m.get("buttons") for m in first]
    assert _user_texts(stack, sender) == [question]  # handled once
    # a new id is a new message, even with the same words
    code, third = _send(stack, {"sender": sender, "message": question, "message_id": "m-2"})
    assert code == 200 and third
    assert _user_texts(stack, sender) == [question, question]


def test_without_an_id_rasas_contract_is_unchanged(stack: Stack) -> None:
    sender = f"rest-plain-{uuid.uuid4().hex[:8]}"
    question, answer = faq_example()
    code, body = _send(stack, {"sender": sender, "message": question})
    assert code == 200
    assert body[0] == {
        "recipient_id": sender,
        "text": approved(answer),
        **({"buttons": body[0]["buttons"]} if "buttons" in body[0] else {}),
    }
    _send(stack, {"sender": sender, "message": question})
    assert _user_texts(stack, sender) == [question, question]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65, ["m-1"], {"id": 1}])
def test_an_unusable_message_id_is_refused_politely_and_nothing_is_handled(stack: Stack, bad: Any) -> None:
    sender = f"rest-bad-{uuid.uuid4().hex[:8]}"
    code, body = _send(stack, {"sender": sender, "message": "你好", "message_id": bad})
    assert code == 400 and "message_id" in body["error"]
    assert _user_texts(stack, sender) == []
