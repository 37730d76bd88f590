"""Handoff to a person, end to end on the real stack over loopback: Redis, Rasa with the trained
model, the action server and the desk as separate processes, citizens on the REST channel and
on the socket.io web chat, agents on the desk's API (and, in the browser test, its console).

The stack's city profile is a copy of data/city.yml whose service hours are always staffed, so
that the tests do not depend on the time of day they run at (the after-hours path is covered by
tests/actions/test_actions.py).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
import yaml

from bot.core import catalogue, crisis
from bot.infra import settings
from bot.stack.processes import Stack, request_json, start_stack

pytestmark = pytest.mark.stack
CRISIS_TEXT = "活着没意思，我真的不想活了"
RATE_PAYLOAD = '/rate_service{"satisfaction": "满意"}'
RATING_COMMENT = "工作人员挺耐心的，就是等的时间有点长"


def approved(name: str, **slots: Any) -> str:
    return catalogue.load().text(name, **slots)


def faq_example(topic: str = "shebao_card_apply") -> tuple[str, str]:
    """(the first training example of an FAQ topic, the response that answers it): taken from
    the project's own content so that reworded training data does not break these tests."""
    for path in sorted((settings.DATA / "nlu").glob("faq_*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if item.get("intent") == f"faq/{topic}":
                examples = [e[2:].strip() for e in str(item["examples"]).splitlines() if e.startswith("- ")]
                return examples[0], f"utter_faq/{topic}"
    raise LookupError(f"no training examples for faq/{topic}")


@pytest.fixture(scope="module")
def hstack() -> Iterator[Stack]:
    # agents on duty at every hour: bot.stack's default city profile (around_the_clock_city)
    s = start_stack()
    yield s
    s.stop()


def _sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _ticket_of(stack: Stack, sender: str) -> dict[str, Any]:
    status, found = stack.desk("GET", f"/api/tickets?sender_id={sender}")
    assert status == 200, found
    assert len(found) == 1, found
    return found[0]


def _poll(stack: Stack, sender: str, want: int, timeout: float = 30) -> list[str]:
    """What a REST citizen would receive: GET /webhooks/rest/poll until `want` messages came."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        _, pending = request_json("GET", f"{stack.rasa_url}/webhooks/rest/poll?sender={sender}")
        got += [m["text"] for m in pending or []]
        time.sleep(0.2)
    return got


# ---------------------------------------------------------------- REST citizen


def test_request_human_files_a_ticket_with_the_right_fields_and_transcript(hstack: Stack) -> None:
    sender = _sender("rest-human")
    question, answer = faq_example()
    assert hstack.rest_texts(sender, question)[0] == approved(answer)
    said = hstack.rest_texts(sender, "转人工")
    ticket = _ticket_of(hstack, sender)
    assert said[0] == approved("utter_handoff", ticket_id=ticket["id"], sla_text="15分钟")
    assert (ticket["topic"], ticket["kind"], ticket["priority"], ticket["status"]) == (
        "request_human",
        "consult",
        "P2",
        "new",
    )
    assert (ticket["channel"], ticket["sender_id"], ticket["reason"]) == ("rest", sender, "request_human")
    assert ticket["department"] == "hrss"  # the FAQ topic talked about before asking for a person
    assert ticket["summary"].startswith("要求人工｜") and question[:10] in ticket["summary"]
    lines = [(e["from"], e["text"]) for e in ticket["transcript"]]
    assert ("citizen", question) in lines and ("bot", approved(answer)) in lines and ("citizen", "转人工") in lines
    assert ticket["sla_due_at"] and ticket["created_at"].endswith("+08:00")


def test_while_handed_off_the_bot_is_quiet_and_messages_reach_the_ticket_live(hstack: Stack) -> None:
    sender = _sender("rest-quiet")
    hstack.rest(sender, "人工")
    ticket = _ticket_of(hstack, sender)

    async def watch_and_say() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        headers = {"Authorization": f"Bearer {hstack.env['DESK_API_TOKEN']}"}
        async with aiohttp.ClientSession() as s, s.get(f"{hstack.desk_url}/api/events", headers=headers) as resp:
            await resp.content.readline()  # the stream is open
            replies = await asyncio.to_thread(hstack.rest, sender, "我的社保卡丢了，卡里的钱会不会被人取走")
            assert replies == []  # the bot says nothing while a person has the conversation

            async def read() -> None:
                async for raw in resp.content:
                    line = raw.decode()
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        seen.append(event)
                        if event.get("type") == "citizen_message" and event.get("ticket_id") == ticket["id"]:
                            return

            await asyncio.wait_for(read(), 20)
        return seen

    events = asyncio.run(watch_and_say())
    assert events[-1]["text"] == "我的社保卡丢了，卡里的钱会不会被人取走"
    _, full = hstack.desk("GET", f"/api/tickets/{ticket['id']}")
    assert (
        full["transcript"][-1]["from"] == "citizen"
        and full["transcript"][-1]["text"] == "我的社保卡丢了，卡里的钱会不会被人取走"
    )
    assert full["handed_off_now"] is True


def test_a_crisis_makes_a_p0_ticket_at_once_and_a_person_takes_over(hstack: Stack) -> None:
    assert crisis.screen(CRISIS_TEXT).intent == "self_harm"
    sender = _sender("rest-crisis")
    said = hstack.rest_texts(sender, CRISIS_TEXT)
    ticket = _ticket_of(hstack, sender)  # there already, as the answer comes back
    assert said[0] == approved("utter_crisis_self_harm", ticket_id=ticket["id"])
    assert (ticket["priority"], ticket["topic"], ticket["reason"]) == ("P0", "self_harm", "crisis:self_harm")
    _, queue = hstack.desk("GET", "/api/tickets?order=queue&status=new")
    assert queue[0]["priority"] == "P0"
    assert hstack.rest_texts(sender, "你好") == []  # handed off: the bot is quiet


def test_a_crisis_during_a_handoff_escalates_the_ticket(hstack: Stack) -> None:
    sender = _sender("rest-escalate")
    hstack.rest(sender, "人工")
    ticket = _ticket_of(hstack, sender)
    said = hstack.rest_texts(sender, CRISIS_TEXT)
    assert said == [approved("utter_crisis_self_harm", ticket_id=ticket["id"])]  # screening still runs
    after = _ticket_of(hstack, sender)
    assert after["id"] == ticket["id"] and after["priority"] == "P0"


def test_close_resumes_the_bot_which_asks_for_satisfaction_and_stores_it(hstack: Stack) -> None:
    sender = _sender("rest-close")
    hstack.rest(sender, "人工")
    ticket = _ticket_of(hstack, sender)
    status, _ = hstack.desk("POST", f"/api/tickets/{ticket['id']}/claim")
    assert status == 200
    status, body = hstack.desk(
        "POST", f"/api/tickets/{ticket['id']}/reply", {"text": "您好，我是12345坐席，请问有什么可以帮您？"}
    )
    assert status == 200, body
    assert _poll(hstack, sender, 2) == [approved("utter_agent_joined"), "您好，我是12345坐席，请问有什么可以帮您？"]
    status, closed = hstack.desk("POST", f"/api/tickets/{ticket['id']}/close", {"resolution": "已解答社保卡补办流程"})
    assert status == 200 and closed["resumed_in_rasa"] is True, closed
    assert _poll(hstack, sender, 2) == [
        approved("utter_agent_left", ticket_id=ticket["id"]),
        approved("utter_ask_satisfaction", ticket_id=ticket["id"]),
    ]
    assert hstack.rest_texts(sender, RATE_PAYLOAD) == [approved("utter_thanks_for_rating")]
    assert _ticket_of(hstack, sender)["satisfaction"] == "满意"
    # the optional comment: "不用了" ends it, politely, and nothing is stored
    assert hstack.rest_texts(sender, "/skip") == [approved("utter_rating_comment_skipped")]
    assert _ticket_of(hstack, sender)["satisfaction_comment"] is None
    # and the bot answers this citizen again
    question, answer = faq_example()
    assert hstack.rest_texts(sender, question)[0] == approved(answer)


def test_the_same_action_delivered_twice_makes_one_ticket(hstack: Stack) -> None:
    sender = _sender("rest-twice")
    question, _ = faq_example()
    hstack.rest(sender, question)
    _, tracker = request_json("GET", f"{hstack.rasa_url}/conversations/{sender}/tracker")
    _, domain = request_json("GET", f"{hstack.rasa_url}/domain", headers={"Accept": "application/json"})
    call = {
        "next_action": "action_handoff",
        "sender_id": sender,
        "tracker": tracker,
        "domain": domain,
        "version": "3.6.21",
    }
    first = request_json("POST", f"http://127.0.0.1:{hstack.action_port}/webhook", call)
    again = request_json("POST", f"http://127.0.0.1:{hstack.action_port}/webhook", call)
    assert first[0] == again[0] == 200
    ticket = _ticket_of(hstack, sender)  # exactly one
    ids = {r["ticket_id"] for status, body in (first, again) for r in body["responses"]}
    assert ids == {ticket["id"]}


def test_the_desk_api_refuses_a_missing_or_wrong_token(hstack: Stack) -> None:
    for token in ("", "wrong-token"):
        status, body = hstack.desk("GET", "/api/tickets", token=token)
        assert status == 401 and body["error"] == "unauthorized"
        status, _ = hstack.desk("POST", "/api/tickets/20260101-000001/close", {"resolution": "x"}, token=token)
        assert status == 401
    assert hstack.desk("GET", "/api/tickets")[0] == 200


# ---------------------------------------------------------------- web chat citizen (socket.io)


class WebChat:
    """The chat page's side of the socket.io protocol (channels/socketio.py)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.bot: list[dict[str, Any]] = []
        self.session: dict[str, Any] = {}
        self.client.on("bot_uttered", self._bot)
        self.client.on("session_confirm", self._confirm)

    async def _bot(self, data: dict[str, Any]) -> None:
        self.bot.append(data)

    async def _confirm(self, data: dict[str, Any]) -> None:
        self.session = data

    async def open(self) -> str:
        await self.client.connect(self.url, transports=["polling"], wait_timeout=20)
        await self.client.emit("session_request", {})
        await self.until(lambda: self.session and self.bot)  # the greeting
        return str(self.session["session_id"])

    async def say(self, text: str) -> None:
        await self.client.call("user_uttered", {"message": text, "id": uuid.uuid4().hex}, timeout=120)

    async def until(self, condition: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received: {self.bot}")
            await asyncio.sleep(0.05)

    def texts(self, start: int = 0) -> list[str]:
        return [m.get("text", "") for m in self.bot[start:]]


async def test_an_agents_reply_reaches_the_web_chat_and_satisfaction_is_asked_there(hstack: Stack) -> None:
    chat = WebChat(hstack.rasa_url)
    sender = await chat.open()
    n = len(chat.bot)
    await chat.say("人工")
    await chat.until(lambda: len(chat.bot) > n)
    ticket = _ticket_of(hstack, sender)
    assert ticket["channel"] == "socketio"
    assert chat.texts(n) == [approved("utter_handoff", ticket_id=ticket["id"], sla_text="15分钟")]

    n = len(chat.bot)
    await chat.say("我想问下孩子上学的事")
    await asyncio.sleep(1.5)
    assert len(chat.bot) == n  # quiet while handed off

    status, _ = await asyncio.to_thread(hstack.desk, "POST", f"/api/tickets/{ticket['id']}/claim")
    assert status == 200
    reply = "您好，我是12345坐席，孩子入学的事我来帮您查。"
    status, body = await asyncio.to_thread(hstack.desk, "POST", f"/api/tickets/{ticket['id']}/reply", {"text": reply})
    assert status == 200, body
    await chat.until(lambda: reply in chat.texts(n))
    joined, from_agent = chat.bot[n], chat.bot[-1]
    assert joined["text"] == approved("utter_agent_joined")
    assert (from_agent["from"], from_agent["agent"]) == ("agent", "api")  # marked as a person

    n = len(chat.bot)
    status, closed = await asyncio.to_thread(
        hstack.desk, "POST", f"/api/tickets/{ticket['id']}/close", {"resolution": "已告知入学政策"}
    )
    assert status == 200 and closed["resumed_in_rasa"] is True
    await chat.until(lambda: len(chat.bot) >= n + 2)
    assert chat.texts(n) == [
        approved("utter_agent_left", ticket_id=ticket["id"]),
        approved("utter_ask_satisfaction", ticket_id=ticket["id"]),
    ]
    assert [b["title"] for b in chat.bot[-1]["quick_replies"]] == ["满意", "基本满意", "不满意"]
    n = len(chat.bot)
    await chat.say(RATE_PAYLOAD)
    await chat.until(lambda: len(chat.bot) > n)
    assert chat.texts(n) == [approved("utter_thanks_for_rating")]
    assert [b["title"] for b in chat.bot[-1]["quick_replies"]] == ["不用了"]
    assert _ticket_of(hstack, sender)["satisfaction"] == "满意"
    # the citizen leaves a comment: it is kept on the ticket, and asked for only once
    n = len(chat.bot)
    await chat.say(RATING_COMMENT)
    await chat.until(lambda: len(chat.bot) > n)
    assert chat.texts(n) == [approved("utter_thanks_for_comment")]
    assert _ticket_of(hstack, sender)["satisfaction_comment"] == RATING_COMMENT
    n = len(chat.bot)
    await chat.say("不用了")
    await chat.until(lambda: len(chat.bot) > n)
    assert chat.texts(n) == [approved("utter_how_can_i_help")]  # not taken as a second comment
    await chat.client.disconnect()


# ---------------------------------------------------------------- the console in a real browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
IMG = settings.ROOT / "docs" / "img"


@pytest.mark.browser
def test_an_agent_sees_the_ticket_arrive_replies_and_the_citizen_reads_it(hstack: Stack) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    IMG.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=60_000)  # two cores shared with Rasa: be patient, not flaky
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            desk = browser.new_context(
                viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
            ).new_page()
            desk.set_default_timeout(60_000)
            desk.goto(hstack.desk_url + "/")
            expect(desk).to_have_url(hstack.desk_url + "/login")
            desk.fill("#username", "agent01")
            desk.fill("#password", "agent01-dev")
            desk.click("#login-submit")
            expect(desk.locator("#whoami")).to_contain_text("agent01")
            expect(desk.locator("#live")).to_have_text("实时连接正常")

            citizen = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
            citizen.set_default_timeout(60_000)
            citizen.goto(hstack.rasa_url + "/")
            box = citizen.get_by_role("textbox", name="请输入您的问题")
            expect(citizen.locator("li.msg .bubble").first).to_be_visible()  # the greeting
            box.fill("人工")
            box.press("Enter")
            expect(citizen.get_by_text("已为您转接人工服务")).to_be_visible()
            ticket_id = _ticket_of(hstack, str(citizen.evaluate("window.hotline12345.session()")))["id"]

            row = desk.locator(f'#queue-body tr[data-id="{ticket_id}"]')
            expect(row).to_be_visible()  # appeared without a reload
            expect(row).to_have_class("row-P2 fresh")
            desk.screenshot(path=str(IMG / "desk-queue.png"))

            row.click()
            expect(desk.locator("#t-id")).to_have_text(ticket_id)
            desk.click("#claim")
            expect(desk.locator("#t-status")).to_have_text("办理中")
            expect(citizen.get_by_text(approved("utter_agent_joined"))).to_be_visible()
            box.fill("我家楼下的路灯坏了一个星期了，在示例区建设路12号门口，晚上很黑")
            box.press("Enter")
            expect(desk.locator("#transcript")).to_contain_text("建设路12号门口")  # live, no reload
            reply = "您好，我是12345坐席。建设路12号门口的路灯故障已记录，将转市政部门在2个工作日内维修。"
            desk.fill("#reply-text", reply)
            desk.click("#send")
            expect(desk.locator("#transcript .msg-agent").last).to_contain_text("2个工作日内维修")
            desk.fill("#note-text", "已电话通知市政路灯所")
            desk.click("#note-form button")
            expect(desk.locator("#notes")).to_contain_text("已电话通知市政路灯所")
            desk.screenshot(path=str(IMG / "desk-ticket.png"), full_page=True)

            expect(citizen.locator("li.msg.agent")).to_contain_text("2个工作日内维修")
            assert (
                _ticket_of(hstack, str(citizen.evaluate("window.hotline12345.session()")))["transcript"][-1]["agent"]
                == "agent01"
            )
        finally:
            browser.close()
