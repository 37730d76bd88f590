"""The desk's JSON API (bot/desk/api.py) over loopback: what an agent and the citizen notice.

Citizens here are on the REST channel, whose sender queues messages in the real Redis outbox
(channels/rest.py); `take_outbox` is what the citizen's next poll would receive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.core import catalogue, handoff, tickets
from bot.infra import db
from channels.rest import take_outbox
from tests.bot.desk.conftest import TOKEN, Client


def _file(
    sender: str = "c1", *, topic: str = "request_human", handed_off: bool = True, channel: str = "rest", **kw: Any
) -> tickets.Ticket:
    ticket, _ = tickets.create(
        idempotency_key=f"{sender}:{topic}:{kw.pop('key', '1')}",
        channel=channel,
        sender_id=sender,
        topic=topic,
        summary=kw.pop("summary", "要求人工：社保卡补办"),
        handoff=handed_off,
        reason="request_human" if handed_off else "report",
        transcript=[
            tickets.TranscriptLine(db.utcnow(), "citizen", "社保卡丢了怎么补"),
            tickets.TranscriptLine(db.utcnow(), "bot", "请问您..."),
        ],
        **kw,
    )
    if handed_off:
        handoff.start(sender, ticket.id, channel)
    return ticket


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


# ---------------------------------------------------------------- authentication


async def test_api_refuses_a_missing_or_wrong_token(desk: str) -> None:
    ticket = _file()
    async with aiohttp.ClientSession() as s:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic " + TOKEN},
            {"Authorization": "Bearer "},
        ):
            async with s.get(desk + "/api/tickets", headers=headers) as r:
                assert r.status == 401, headers
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                assert (await r.json())["error"] == "unauthorized"
            async with s.post(desk + f"/api/tickets/{ticket.id}/claim", headers=headers) as r:
                assert r.status == 401
        async with s.get(desk + "/api/tickets", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200
    assert tickets.get(ticket.id).status == "new"


async def test_unknown_api_paths_answer_json(api: Client) -> None:
    status, body = await api.call("GET", "/api/nothing-here")
    assert status == 404 and body["error"] == "not_found"
    status, body = await api.call("GET", "/api/tickets/20260101-999999")
    assert status == 404 and "20260101-999999" in body["message"]


async def test_the_console_gets_the_vocabularys_labels(api: Client) -> None:
    status, labels = await api.call("GET", "/api/labels")
    assert status == 200
    assert labels["status"] == {"new": "待认领", "claimed": "办理中", "closed": "已办结"}  # as in the report
    assert labels["priority"]["P0"] == "P0 危机" and labels["kind"]["complaint"] == "投诉"
    assert labels["from"]["bot"] == "智能客服" and labels["channel"]["wechat"] == "微信公众号"
    assert labels["status_values"] == {"NEW": "new", "CLAIMED": "claimed", "CLOSED": "closed"}


# ---------------------------------------------------------------- the queue


async def test_list_is_newest_first_and_queue_is_priority_then_age(api: Client) -> None:
    now = db.utcnow()
    old_p2 = _file("a", handed_off=False, now=now - timedelta(hours=3))
    new_p2 = _file("b", handed_off=False, now=now - timedelta(minutes=1))
    p0 = _file("c", topic="self_harm", now=now - timedelta(minutes=30))
    p1 = _file("d", topic="report_utilities", handed_off=False, now=now - timedelta(hours=1))
    status, listed = await api.call("GET", "/api/tickets")
    assert status == 200
    assert [j["id"] for j in listed] == [new_p2.id, p0.id, p1.id, old_p2.id]
    _, queue = await api.call("GET", "/api/tickets?order=queue")
    assert [j["id"] for j in queue] == [p0.id, p1.id, old_p2.id, new_p2.id]


async def test_filters_by_status_department_priority_and_sender(api: Client) -> None:
    a = _file("a", handed_off=False, topic="report_noise")
    b = _file("b", handed_off=False, topic="report_wage_arrears")
    c = _file("c", topic="self_harm")
    tickets.claim(b.id, "agent02")
    tickets.close(c.id, "agent02", "已联系家属")

    async def ids(query: str) -> set[str]:
        status, found = await api.call("GET", "/api/tickets?" + query)
        assert status == 200
        return {j["id"] for j in found}

    assert await ids("status=new") == {a.id}
    assert await ids("status=new,claimed") == {a.id, b.id}
    assert await ids(f"department={a.department}") == {a.id}
    assert await ids("priority=P0") == {c.id}
    assert await ids("sender_id=b") == {b.id}
    assert await ids("status=closed&priority=P2") == set()


async def test_list_carries_the_transcript_and_masks_phone_numbers(api: Client) -> None:
    t = _file("m", summary="回访：市民电话13912345678", contact="13912345678")
    _, listed = await api.call("GET", "/api/tickets?sender_id=m")
    item = listed[0]
    assert "13912345678" not in json.dumps(item, ensure_ascii=False)
    assert item["contact"].startswith("139") and "*" in item["contact"]
    assert [e["from"] for e in item["transcript"]] == ["citizen", "bot"]
    assert item["transcript"][0]["text"] == "社保卡丢了怎么补"
    # the full number on request, and the look is in the audit trail with the agent's name
    status, full = await api.call("GET", f"/api/tickets/{t.id}/contact")
    assert status == 200 and full["contact"] == "13912345678"
    with db.session() as s:
        rows = s.execute(select(db.AuditRecord).where(db.AuditRecord.response == "desk_reveal_contact")).scalars().all()
        assert [(r.agent, r.ticket_id) for r in rows] == [("agent01", t.id)]


async def test_an_agent_of_one_department_sees_only_its_tickets(console: Client) -> None:
    hrss = _file("h", handed_off=False, topic="faq/shebao_card_apply", department="hrss")
    other = _file("o", handed_off=False, topic="report_noise")
    assert await console.login("hrss01") == 302
    _, listed = await console.call("GET", "/api/tickets")
    assert [j["id"] for j in listed] == [hrss.id]
    status, _ = await console.call("GET", f"/api/tickets/{other.id}")
    assert status == 403
    status, _ = await console.call("POST", f"/api/tickets/{other.id}/claim")
    assert status == 403
    assert tickets.get(other.id).status == "new"


# ---------------------------------------------------------------- claim, reply, notes, close


async def test_claim_tells_the_citizen_a_person_has_joined(api: Client) -> None:
    t = _file("c1")
    status, body = await api.call("POST", f"/api/tickets/{t.id}/claim")
    assert status == 200
    assert (body["status"], body["claimed_by"], body["handed_off_now"]) == ("claimed", "agent01", True)
    joined = catalogue.load().text("utter_agent_joined")
    assert _texts(await take_outbox("c1")) == [joined]
    last = tickets.get(t.id).transcript[-1]
    assert (last.sender, last.text) == ("bot", joined)
    # another agent cannot take it; the same agent claiming again says nothing twice
    other = Client(api.base, api.session, agent="agent02")
    status, body = await other.call("POST", f"/api/tickets/{t.id}/claim")
    assert status == 409 and body["error"] == "claimed_by_other"
    status, _ = await api.call("POST", f"/api/tickets/{t.id}/claim")
    assert status == 200
    assert await take_outbox("c1") == []


async def test_claiming_an_after_hours_call_back_starts_the_conversation(api: Client) -> None:
    t, _ = tickets.create(
        idempotency_key="cb",
        channel="rest",
        sender_id="night",
        topic="request_human",
        summary="回访",
        reason="after_hours_callback",
    )
    assert handoff.current("night") is None
    status, body = await api.call("POST", f"/api/tickets/{t.id}/claim")
    assert status == 200 and body["handed_off_now"] is True
    assert handoff.current("night") == {"ticket_id": t.id, "channel": "rest"}
    assert _texts(await take_outbox("night")) == [catalogue.load().text("utter_agent_joined")]


async def test_reply_reaches_the_citizen_and_is_recorded_with_the_agent(api: Client) -> None:
    t = _file("c2")
    text = "您好，我是12345坐席，社保卡补办请带身份证到政务服务中心二楼。"
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": text})
    assert status == 200 and body["ok"] is True
    outbox = await take_outbox("c2")
    assert _texts(outbox)[-1] == text
    after = tickets.get(t.id)
    assert after.status == "claimed" and after.claimed_by == "agent01"  # replying takes the ticket
    assert after.transcript[-1].sender == "agent" and after.transcript[-1].agent == "agent01"
    assert after.first_response_at is not None
    with db.session() as s:
        audit = (
            s.execute(select(db.AuditRecord).where(db.AuditRecord.agent == "agent01", db.AuditRecord.text == text))
            .scalars()
            .all()
        )
        assert [(a.ticket_id, a.channel, a.sender_id) for a in audit] == [(t.id, "rest", "c2")]


async def test_a_rude_reply_is_stopped_until_the_agent_confirms(api: Client) -> None:
    t = _file("c3")
    rude = "不说话没人把你当哑巴"
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": rude})
    assert status == 422 and body["error"] == "phrase_check" and body["problems"]
    assert await take_outbox("c3") == []
    assert all(e.sender != "agent" for e in tickets.get(t.id).transcript)
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": rude, "confirm": True})
    assert status == 200 and body["warnings"]
    assert rude in _texts(await take_outbox("c3"))
    with db.session() as s:
        warned = (
            s.execute(select(db.AuditRecord).where(db.AuditRecord.response == "agent_confirmed_warning"))
            .scalars()
            .all()
        )
        assert len(warned) == 1 and warned[0].agent == "agent01" and "坐席确认发送" in warned[0].blocked_reason


async def test_empty_or_closed_replies_are_refused(api: Client) -> None:
    t = _file("c4")
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": "   "})
    assert status == 400 and body["error"] == "empty"
    status, _ = await api.call("POST", f"/api/tickets/{t.id}/reply", [1, 2])
    assert status == 400
    tickets.close(t.id, "agent01", "已答复")
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": "您好"})
    assert status == 409 and body["error"] == "closed"


async def test_a_channel_that_cannot_be_reached_offers_a_phone_call_back(api: Client) -> None:
    t = _file("fax", channel="fax")  # no sender for this channel
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": "您好，请问还有什么可以帮您？"})
    assert status == 409 and body["callback"] is True and body["message"]
    after = tickets.get(t.id)
    assert all(e.sender != "agent" for e in after.transcript)  # not sent, so not in the conversation
    assert "未送达" in after.notes[-1].text
    status, body = await api.call("POST", f"/api/tickets/{t.id}/callback")
    assert status == 200 and body["reason"] == "phone_callback"
    assert "电话回访" in body["notes"][-1]["text"]


async def test_notes_stay_internal(api: Client) -> None:
    t = _file("c5")
    status, body = await api.call("POST", f"/api/tickets/{t.id}/notes", {"text": "已电话联系人社局窗口"})
    assert status == 200 and body["notes"][-1]["agent"] == "agent01"
    assert await take_outbox("c5") == []
    assert all(e.text != "已电话联系人社局窗口" for e in tickets.get(t.id).transcript)


async def test_close_when_rasa_is_down_still_says_goodbye_and_asks_for_satisfaction(api: Client) -> None:
    t = _file("c6")
    status, body = await api.call("POST", f"/api/tickets/{t.id}/close", {"resolution": ""})
    assert status == 400
    status, body = await api.call("POST", f"/api/tickets/{t.id}/close", {"resolution": "已告知补办流程"})
    assert status == 200
    assert (body["status"], body["resolution"], body["resumed_in_rasa"]) == ("closed", "已告知补办流程", False)
    assert handoff.current("c6") is None  # the bot answers this citizen again
    cat = catalogue.load()
    assert _texts(await take_outbox("c6")) == [
        cat.text("utter_agent_left", ticket_id=t.id),
        cat.text("utter_ask_satisfaction", ticket_id=t.id),
    ]
    status, body = await api.call("POST", f"/api/tickets/{t.id}/close", {"resolution": "again"})
    assert status == 409


async def test_closing_an_old_ticket_does_not_end_a_newer_handoff(api: Client) -> None:
    old = _file("c7", key="old")
    new = _file("c7", key="new")  # the citizen is now handed off on the newer ticket
    status, _ = await api.call("POST", f"/api/tickets/{old.id}/close", {"resolution": "重复"})
    assert status == 200
    assert handoff.current("c7")["ticket_id"] == new.id


# ---------------------------------------------------------------- canned replies


async def test_canned_replies_come_from_the_catalogue(api: Client) -> None:
    t = _file("c8", department="hrss")
    status, found = await api.call("GET", f"/api/canned?ticket_id={t.id}&q=社保卡")
    assert status == 200 and found
    cat = catalogue.load()
    for item in found:
        assert cat.match(item["text"]) == item["name"]  # an approved text, exactly
        assert "{" not in item["text"]
        assert "社保卡" in item["title"] or "社保卡" in item["text"]
    assert found[0]["name"].startswith("utter_faq/")


# ---------------------------------------------------------------- live events


async def _read_events(resp: aiohttp.ClientResponse, n: int, timeout: float = 10) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    entry_id = ""

    async def read() -> None:
        nonlocal entry_id
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("id: "):
                entry_id = line[4:]
            elif line.startswith("data: "):
                out.append((entry_id, json.loads(line[6:])))
                if len(out) >= n:
                    return

    await asyncio.wait_for(read(), timeout)
    return out


async def test_events_stream_new_tickets_and_citizen_messages_and_catches_up(api: Client) -> None:
    headers = api.headers()
    async with api.session.get(api.base + "/api/events", headers=headers) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        await asyncio.sleep(0.2)
        await handoff.apublish("ticket_new", ticket_id="20261126-000001", priority="P0", department="hotline")
        await handoff.apublish(
            "citizen_message", ticket_id="20261126-000001", text="我的电话13912345678", department="hotline"
        )
        got = await _read_events(resp, 2)
    assert [e["type"] for _, e in got] == ["ticket_new", "citizen_message"]
    assert "13912345678" not in got[1][1]["text"]  # masked on screen, like everywhere else
    # a console that reconnects with the last id it saw gets what it missed
    await handoff.apublish("ticket_closed", ticket_id="20261126-000001", department="hotline")
    async with api.session.get(api.base + "/api/events", headers={**headers, "Last-Event-ID": got[0][0]}) as resp:
        missed = await _read_events(resp, 2)
    assert [e["type"] for _, e in missed] == ["citizen_message", "ticket_closed"]


async def test_events_need_authentication(desk: str) -> None:
    async with aiohttp.ClientSession() as s, s.get(desk + "/api/events") as r:
        assert r.status == 401


# ---------------------------------------------------------------- a WeChat citizen (stand-in for WeChat's API)


@pytest.fixture()
def wechat(api: Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from bot.stack.standins.wechat import WeChatStandIn
    from channels.wechat import client as channel

    standin = WeChatStandIn(appid="wx0123456789abcdef").start()
    for name, value in {
        "WECHAT_APPID": standin.appid,
        "WECHAT_APPSECRET": standin.secret,
        "WECHAT_API_BASE": standin.base_url,
        "WECHAT_TOKEN": "desk-test-wechat-token",
        "WECHAT_CUSTOMER_SERVICE": "true",
    }.items():
        monkeypatch.setenv(name, value)
    channel._client_for.cache_clear()
    yield standin
    standin.stop()
    channel._client_for.cache_clear()


async def test_a_reply_reaches_a_wechat_citizen_through_customer_service_messages(api: Client, wechat: Any) -> None:
    t = _file("oWx-citizen-1", channel="wechat")
    status, body = await api.call(
        "POST", f"/api/tickets/{t.id}/reply", {"text": "您好，我是12345坐席，已收到您的诉求。"}
    )
    assert status == 200, body
    assert wechat.sent_to("oWx-citizen-1")[-1] == "您好，我是12345坐席，已收到您的诉求。"


async def test_after_wechats_48_hours_the_desk_offers_a_phone_call_back(api: Client, wechat: Any) -> None:
    t = _file("oWx-citizen-2", channel="wechat")
    wechat.fail_with["oWx-citizen-2"] = 45015  # WeChat: response out of time limit
    status, body = await api.call("POST", f"/api/tickets/{t.id}/reply", {"text": "您好，请问问题解决了吗？"})
    assert status == 409 and body["error"] == "window_expired" and body["callback"] is True
    assert "48" in body["message"]
    after = tickets.get(t.id)
    assert all(e.sender != "agent" for e in after.transcript)
    assert "48" in after.notes[-1].text
    status, body = await api.call("POST", f"/api/tickets/{t.id}/callback")
    assert status == 200 and body["reason"] == "phone_callback"
