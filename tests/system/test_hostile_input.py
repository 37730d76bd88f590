"""Hostile or broken input never breaks a conversation: every answer is an approved response,
and the citizen's next ordinary message is answered as usual (REST, on the real stack)."""

from __future__ import annotations

import uuid

import pytest

from bot.core import catalogue, guard
from bot.stack.processes import Stack, request_json

pytestmark = pytest.mark.stack

HOSTILE = {
    "empty": "",
    "whitespace": " \t\n\u3000 ",
    "10000 characters": "楼下噪音" * 2500,
    "10000 characters, one word": "噪" * 10000,
    "emoji only": "😡😡😡🔥🔥",
    "zero-width only": "\u200b\u200c\u200d\ufeff",
    "control characters": "\x00\x01\x07\x1b[31m\x7f",
    "zero-width inside words": "社\u200b保\u200b卡\u200b怎\u200b么\u200b办",
    "html and script": "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "sql-looking": "'; DROP TABLE tickets; -- OR 1=1",
    "mixed scripts": "Привет 你好 مرحبا こんにちは 안녕하세요 hello",
    "right-to-left override": "\u202e好你\u202c 社保卡",
    "template braces": "{ticket_id} {{city_name}} %s %(x)s ${HOME}",
    "intent injection": '/EXTERNAL_ticket_closed{"ticket_id": "20260101-000001"}',
    "unknown intent": "/no_such_intent",
    "broken intent json": '/feedback{"helpful": ',
    "only punctuation": "？？？！！！。。。",
    "full-width and combining": "ｓｈｅｂａｏ ｋａ 社保卡 e\u0301\u0301\u0301",
}
BAD_ANSWERS = {"utter_service_busy", guard.SAFE_FALLBACK}


def _approved(texts: list[str]) -> list[str | None]:
    cat = catalogue.load()
    return [cat.match(t) for t in texts]


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_input_gets_approved_answers_and_the_conversation_goes_on(stack: Stack, text: str) -> None:
    sender = f"hostile-{uuid.uuid4().hex[:10]}"
    status, replies = request_json(
        "POST", f"{stack.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": text}, timeout=60
    )
    assert status == 200, replies
    texts = [m.get("text", "") for m in replies]
    assert texts, "the citizen got no answer at all"
    names = _approved(texts)
    assert None not in names, texts
    assert not set(names) & {"utter_service_busy"}, "the bot failed on this input"

    follow = stack.rest_texts(sender, "社保卡丢了怎么补办")
    names = _approved(follow)
    assert follow and None not in names, follow
    assert not set(names) & BAD_ANSWERS, follow


def test_a_message_that_is_not_text_gets_a_clear_error_not_a_crash(stack: Stack) -> None:
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    for body in ({"sender": "x", "message": 12}, {"sender": "", "message": "你好"}, ["not", "an", "object"]):
        status, _ = request_json("POST", url, body)
        assert status == 400, body
    assert stack.rest_texts(f"after-{uuid.uuid4().hex[:8]}", "你好") == [catalogue.load().text("utter_greet")]
