"""Web chat over socket.io: server-issued signed sessions, history, re-sends answered once, agent
messages from outside Rasa, and delivery across several Rasa processes (Redis client manager)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from bot.core import catalogue
from bot.stack.processes import Stack, request_json
from bot.stack.rasa_process import RasaProcess, start_rasa
from channels import socketio as webchat
from channels.senders import DeliveryError, get_sender


def approved(name: str, **slots: Any) -> str:
    return catalogue.load().text(name, **slots)


# ------------------------------------------------------------------------------------ sessions
def test_issued_session_is_random_and_verifies() -> None:
    a, b = webchat.new_session(), webchat.new_session()
    assert a["session_id"] != b["session_id"]
    assert len(a["session_id"]) == 32 and int(a["session_id"], 16) >= 0  # 128 random bits
    assert webchat.valid_session(a["session_id"], a["token"])


@pytest.mark.parametrize(
    "forge",
    [
        lambda s, o: (s["session_id"], None),  # Rasa's protocol: just a session id
        lambda s, o: (s["session_id"], ""),
        lambda s, o: (s["session_id"], o["token"]),  # another session's valid token
        lambda s, o: (s["session_id"], s["token"][:-1] + ("0" if s["token"][-1] != "0" else "1")),
        lambda s, o: ("sender-of-another-channel", s["token"]),  # e.g. a WeChat openid
        lambda s, o: (s["session_id"].upper(), s["token"]),
    ],
)
def test_forged_sessions_do_not_verify(forge: Any) -> None:
    s, other = webchat.new_session(), webchat.new_session()
    assert not webchat.valid_session(*forge(s, other))


def test_a_session_signed_with_another_secret_does_not_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_SECRET", "one-secret")
    s = webchat.new_session()
    monkeypatch.setenv("WEBCHAT_SECRET", "another-secret")
    assert not webchat.valid_session(s["session_id"], s["token"])


# ------------------------------------------------------------------------------------ sender (no Rasa)
async def test_agent_text_is_kept_in_history_marked_as_a_person(redis_url: str, db_url: str) -> None:
    session = webchat.new_session()["session_id"]
    await get_sender("socketio").send_agent_text(session, "您好，我是工作人员王芳。", "王芳", "20261126-000001")
    (entry,) = await webchat.read_history(session)
    assert entry["from"] == "agent"
    assert entry["agent"] == "王芳"
    assert entry["text"] == "您好，我是工作人员王芳。"


async def test_person_joined_and_left_are_lines_not_bubbles(redis_url: str, db_url: str) -> None:
    session = webchat.new_session()["session_id"]
    sender = get_sender("socketio")
    await sender.send_approved(session, "utter_agent_joined")
    await sender.send_approved(session, "utter_agent_left", ticket_id="20261126-000002")
    await sender.send_approved(session, "utter_ask_satisfaction", ticket_id="20261126-000002")
    joined, left, ask = await webchat.read_history(session)
    assert (joined["from"], joined["event"], joined["text"]) == (
        "system",
        "agent_joined",
        approved("utter_agent_joined"),
    )
    assert (left["from"], left["event"]) == ("system", "agent_left")
    assert ask["from"] == "bot"
    assert [b["title"] for b in ask["quick_replies"]] == ["满意", "基本满意", "不满意"]


async def test_sender_reports_redis_down_instead_of_pretending(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.stack.processes import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(DeliveryError) as err:
        await get_sender("socketio").send_agent_text(webchat.new_session()["session_id"], "您好。", "王芳", "t-1")
    assert err.value.reason == "redis_unavailable"


async def test_history_expires(redis_url: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    monkeypatch.setenv("WEBCHAT_HISTORY_DAYS", "2")
    session = webchat.new_session()["session_id"]
    await get_sender("socketio").send_agent_text(session, "您好。", "王芳", "t-2")
    ttl = redis.Redis.from_url(redis_url).ttl(f"webchat:history:{session}")
    assert 0 < ttl <= 2 * 86400


# ------------------------------------------------------------------------------------ a citizen's page
class Page:
    """What the chat page does, as a python-socketio client (the browser tests drive the real page)."""

    def __init__(self, url: str) -> None:
        self.url = url
        # long-polling: this aiohttp is too old for the client's websocket transport (the page uses websockets)
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        for name in ("session_confirm", "session_refused", "history", "bot_uttered"):
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            self.events.append((name, data))

        return record

    async def open(self, session: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.client.connect(self.url, transports=["polling"], wait_timeout=20)
        await self.client.emit("session_request", session or {})
        await self.wait(lambda: self.of("history"))
        return self.of("session_confirm")[-1]

    def of(self, name: str) -> list[Any]:
        return [d for n, d in self.events if n == name]

    def bot(self) -> list[dict[str, Any]]:
        return self.of("bot_uttered")

    async def wait(self, condition: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events so far: {self.events}")
            await asyncio.sleep(0.05)

    async def say(self, text: str, message_id: str | None = None, **extra: Any) -> dict[str, Any]:
        payload = {"message": text, "id": message_id or uuid.uuid4().hex, **extra}
        return await self.client.call("user_uttered", payload, timeout=120)

    async def settle(self, quiet_s: float = 1.5) -> list[dict[str, Any]]:
        last, since = -1, time.monotonic()
        while True:
            n = len(self.bot())
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return self.bot()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await close(self.client)


async def close(client: socketio.AsyncClient) -> None:
    # drop the connection like a closed tab; a polite disconnect waits out a long-poll (~30 s)
    await client.eio.disconnect(abort=True)


@pytest.fixture()
def use_stack(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The test process reaches the stack's Redis and database (as the desk does)."""
    for k in ("REDIS_URL", "DATABASE_URL"):
        monkeypatch.setenv(k, stack.env[k])
    return stack


def faq_question() -> tuple[str, str]:
    """A training example of an FAQ topic and the response that answers it."""
    from tests.browser.content import faq_example

    return faq_example()


@pytest.mark.stack
async def test_new_page_gets_a_signed_session_and_the_greeting(use_stack: Stack) -> None:
    page = Page(use_stack.rasa_url)
    confirm = await page.open()
    assert webchat.SESSION_ID.match(confirm["session_id"])
    assert page.of("history") == [{"messages": []}]
    await page.wait(lambda: page.bot())
    assert page.bot()[0]["text"] == approved("utter_greet")
    await page.close()


@pytest.mark.stack
async def test_question_is_answered_and_history_comes_back_after_reconnect(use_stack: Stack) -> None:
    question, response = faq_question()
    page = Page(use_stack.rasa_url)
    session = await page.open()
    await page.wait(lambda: page.bot())
    ack = await page.say(question, message_id="q-1")
    assert ack == {"ok": True, "id": "q-1"}
    answers = (await page.settle())[1:]
    assert answers[0]["text"] == catalogue.load().text(response)
    await page.close()

    again = Page(use_stack.rasa_url)
    confirm = await again.open(session)
    assert confirm["session_id"] == session["session_id"]
    (history,) = again.of("history")
    texts = [(m["from"], m["text"]) for m in history["messages"]]
    assert texts[:3] == [("bot", approved("utter_greet")), ("citizen", question), ("bot", answers[0]["text"])]
    assert again.bot() == []  # a returning page is not greeted again
    await again.close()


@pytest.mark.stack
async def test_forged_session_is_refused_and_reads_nothing(use_stack: Stack) -> None:
    victim = Page(use_stack.rasa_url)
    victim_session = await victim.open()
    await victim.say("谢谢", message_id="v-1")
    await victim.settle()
    before = await webchat.read_history(victim_session["session_id"])

    attacker = Page(use_stack.rasa_url)
    confirm = await attacker.open({"session_id": victim_session["session_id"]})  # no token, as Rasa's clients send
    assert attacker.of("session_refused")
    assert confirm["session_id"] != victim_session["session_id"]
    assert attacker.of("history") == [{"messages": []}]
    ack = await attacker.say("我是谁", session_id=victim_session["session_id"])
    assert ack == {"ok": False, "error": "wrong_session"}
    await asyncio.sleep(1.5)
    assert await webchat.read_history(victim_session["session_id"]) == before
    assert not any(m.get("text") == "我是谁" for m in victim.bot())
    await victim.close()
    await attacker.close()


@pytest.mark.stack
async def test_message_before_a_session_is_refused(use_stack: Stack) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(use_stack.rasa_url, transports=["polling"], wait_timeout=20)
    ack = await client.call("user_uttered", {"message": "你好", "session_id": uuid.uuid4().hex}, timeout=30)
    assert ack == {"ok": False, "error": "no_session"}
    await close(client)


@pytest.mark.stack
async def test_a_message_sent_again_after_a_drop_is_answered_once(use_stack: Stack) -> None:
    page = Page(use_stack.rasa_url)
    session = await page.open()
    await page.wait(lambda: page.bot())
    assert (await page.say("谢谢", message_id="m-1"))["ok"]
    first = await page.settle()
    assert len(first) >= 2
    await page.close()

    again = Page(use_stack.rasa_url)  # the page reconnects and sends its unacknowledged message again
    await again.open(session)
    assert await again.say("谢谢", message_id="m-1") == {"ok": True, "id": "m-1", "duplicate": True}
    assert await again.settle(quiet_s=2.0) == []
    history = await webchat.read_history(session["session_id"])
    assert [m["id"] for m in history if m["from"] == "citizen"] == ["m-1"]
    await again.close()


@pytest.mark.stack
async def test_agent_message_reaches_the_open_page_marked_as_a_person(use_stack: Stack) -> None:
    page = Page(use_stack.rasa_url)
    session = await page.open()
    await page.wait(lambda: page.bot())
    sender = get_sender("socketio")
    await sender.send_approved(session["session_id"], "utter_agent_joined")
    await sender.send_agent_text(
        session["session_id"], "您好，我是工作人员王芳，正在为您查询。", "王芳", "20261126-000003"
    )
    await page.wait(lambda: len(page.bot()) >= 3)
    joined, agent = page.bot()[1:3]
    assert (joined["from"], joined["event"]) == ("system", "agent_joined")
    assert (agent["from"], agent["agent"], agent["text"]) == ("agent", "王芳", "您好，我是工作人员王芳，正在为您查询。")
    await page.close()


# ------------------------------------------------------------------------------------ several processes
@pytest.fixture(scope="module")
def second_rasa(stack: Stack) -> Iterator[RasaProcess]:
    rasa = start_rasa(stack, "rasa-second")
    yield rasa
    rasa.stop()


@pytest.mark.stack
async def test_messages_reach_a_citizen_whichever_process_holds_the_socket(
    use_stack: Stack, second_rasa: RasaProcess
) -> None:
    page = Page(second_rasa.url)  # the citizen's socket is on the second process
    session = await page.open()
    await page.wait(lambda: page.bot())
    assert (await page.say("谢谢"))["ok"]
    await page.settle()
    seen = len(page.bot())

    # the first process acts on the conversation (as when the desk resumes it through Rasa's API)
    status, _ = request_json(
        "POST",
        f"{use_stack.rasa_url}/conversations/{session['session_id']}/trigger_intent?output_channel=latest",
        {"name": "greet"},
    )
    assert status == 200
    await page.wait(lambda: len(page.bot()) > seen, timeout=30)
    assert page.bot()[seen]["text"] == approved("utter_greet")

    # and a sender outside Rasa (the desk) reaches it too
    await get_sender("socketio").send_agent_text(
        session["session_id"], "您好，工作人员在线。", "李强", "20261126-000004"
    )
    await page.wait(lambda: any(m.get("from") == "agent" for m in page.bot()), timeout=30)
    await page.close()


# ------------------------------------------------------------------------------------ the page's files
def _get(url: str, accept: str = "*/*") -> tuple[int, dict[str, str], bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@pytest.mark.stack
def test_browsers_get_the_chat_page_at_the_root_and_tools_still_get_rasa(stack: Stack) -> None:
    status, headers, body = _get(stack.rasa_url + "/", accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "12345 在线咨询" in body.decode()
    assert "script-src 'self'" in headers["content-security-policy"]  # no inline or foreign scripts
    status, _, body = _get(stack.rasa_url + "/")
    assert status == 200 and body.decode().startswith("Hello from Rasa")  # health checks keep working


@pytest.mark.stack
def test_widget_and_static_files_are_served_and_nothing_else(stack: Stack) -> None:
    status, headers, body = _get(stack.rasa_url + "/widget.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert b"hotline12345" in body
    status, _, body = _get(stack.rasa_url + "/webhooks/socketio/static/vendor/socket.io.min.js")
    assert status == 200 and body.startswith(b"/*!\n * Socket.IO v4.")
    for path in ("/webhooks/socketio/static/../../credentials.yml", "/webhooks/socketio/static/chat.html.bak",
                 "/webhooks/socketio/static/%2e%2e/socketio.py"):  # fmt: skip
        assert _get(stack.rasa_url + path)[0] == 404
