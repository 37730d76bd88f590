"""The channel inside the real Rasa server: two replicas beside the shared stack (same Redis and
actions), WeChat's API the local stand-in."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.stack.processes import PY, ROOT, free_port, request_json, wait_http
from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import APPID, TOKEN, WeChatServer, event_xml, msg_id, new_openid, text_xml


@dataclass
class WeChatStack:
    rasa_url: str
    standin: WeChatStandIn
    fast: WeChatServer  # replica A: the normal budget
    slow: WeChatServer  # replica B: same Redis, a budget no real turn can meet

    def user_messages(self, sender_id: str) -> list[dict[str, Any]]:
        status, tracker = request_json("GET", f"{self.rasa_url}/conversations/{sender_id}/tracker")
        assert status == 200, tracker
        return [e for e in tracker["events"] if e.get("event") == "user"]


@pytest.fixture(scope="module")
def wechat_stack(stack: Any) -> Iterator[WeChatStack]:
    """Two Rasa replicas with the WeChat channel beside the shared stack (same Redis and actions):
    A with the normal budget, B with a budget no real turn can meet."""
    standin = WeChatStandIn(appid=APPID).start()
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_APPSECRET": standin.secret,
           "WECHAT_API_BASE": standin.base_url, "RATE_LIMIT_PER_MINUTE": "200"}  # fmt: skip
    procs: list[subprocess.Popen] = []
    try:
        ports = []
        for name, budget in (("wechat-a", "4.0"), ("wechat-b", "0.001")):
            port = free_port()
            log = stack.workdir / f"{name}.log"
            procs.append(
                subprocess.Popen(
                    [PY, "-m", "bot.ops.launch", "rasa"],
                    cwd=ROOT,
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                    env={**stack.env, **env, "RASA_PORT": str(port), "WECHAT_REPLY_BUDGET_S": budget},
                )  # fmt: skip
            )
            ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            wait_http(f"http://127.0.0.1:{port}/", timeout=900, proc=proc)
            request_json(
                "POST",
                f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                {"sender": "warmup", "message": "你好"},
                timeout=120,
            )
        yield WeChatStack(
            f"http://127.0.0.1:{ports[0]}",
            standin,
            WeChatServer(f"http://127.0.0.1:{ports[0]}/webhooks/wechat/"),
            WeChatServer(f"http://127.0.0.1:{ports[1]}/webhooks/wechat/"),
        )
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        standin.stop()


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_answers_a_citizen_passively_with_an_approved_reply(wechat_stack: WeChatStack) -> None:
    from bot.core import catalogue

    openid = new_openid()
    reply = await wechat_stack.fast.post(text_xml(openid, "你好"))
    assert reply.status == 200 and reply.content
    name = catalogue.load().match(reply.content.split("\n\n回复 1：")[0])
    assert name is not None and name != "utter_safe_fallback", reply.content
    assert reply.elapsed < 4.5


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_three_concurrent_deliveries_across_replicas_reach_rasa_once(wechat_stack: WeChatStack) -> None:
    openid = new_openid()
    xml = text_xml(openid, "公积金怎么提取", mid=msg_id())
    replies = await asyncio.gather(
        wechat_stack.fast.post(xml), wechat_stack.fast.post(xml), wechat_stack.slow.post(xml)
    )
    assert all(r.status == 200 for r in replies)
    await asyncio.sleep(1.0)
    assert [e["text"] for e in wechat_stack.user_messages(openid)] == ["公积金怎么提取"]
    # whichever way it went, the citizen got the answer exactly once: passively or pushed
    passive = {r.content for r in replies if r.content}
    pushed = wechat_stack.standin.sent_to(openid)
    assert len(pushed) == len(set(pushed))
    assert (len(passive) == 1 and pushed == []) or (passive == set() and len(pushed) >= 1), (passive, pushed)


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_turn_past_the_budget_arrives_through_customer_service_once(wechat_stack: WeChatStack) -> None:
    from bot.core import catalogue

    openid = new_openid()
    xml = text_xml(openid, "你好")
    reply = await wechat_stack.slow.post(xml)
    assert reply.body == "success" and reply.elapsed < 2.0
    pushed = await wechat_stack.standin.wait_for(openid, 1, timeout=30)
    assert len(pushed) == 1
    assert catalogue.load().match(pushed[0].split("\n\n回复 1：")[0]) not in (None, "utter_safe_fallback")
    retry = await wechat_stack.fast.post(xml)  # WeChat's retry on the other replica
    assert retry.body == "success"
    await asyncio.sleep(2.0)
    assert wechat_stack.standin.sent_to(openid) == pushed
    assert len(wechat_stack.user_messages(openid)) == 1


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_menu_click_reaches_the_bot_and_it_asks_for_details(wechat_stack: WeChatStack) -> None:
    openid = new_openid()
    reply = await wechat_stack.fast.post(event_xml(openid, "CLICK", key="HUMAN"))
    assert reply.status == 200 and reply.content
    assert [e.get("parse_data", {}).get("intent", {}).get("name") for e in wechat_stack.user_messages(openid)] == [
        "request_human"
    ]
