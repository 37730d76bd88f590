"""WeChatInput: URL verification, the 5-second rule (passive, pushed, or held through WeChat's
retries), and a polite answer when Redis is down."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.stack.processes import free_port
from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import TOKEN, FakeBot, Start, approved, new_openid, sha1_signature, text_xml


async def test_url_verification_echoes_echostr_only_when_signed(start_channel: Start) -> None:
    wechat = await start_channel(FakeBot())
    ts, nonce, echostr = str(int(time.time())), "8735", "6982794174283610725"

    async def get(params: dict[str, str]) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.get(wechat.url, params=params) as r:
            return r.status, await r.text()

    good = {"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}
    assert await get(good) == (200, echostr)
    assert (await get({**good, "signature": sha1_signature("other-token", ts, nonce)}))[0] == 403
    old = str(int(time.time()) - 3600)
    assert (await get({**good, "timestamp": old, "signature": sha1_signature(TOKEN, old, nonce)}))[0] == 403
    assert (await get({k: v for k, v in good.items() if k != "echostr"}))[0] == 400


async def test_slow_turn_answers_wechat_in_time_and_pushes_the_reply_once(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "0.5")
    bot = FakeBot("utter_thank", delay=2.5)
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢")
    reply = await wechat.post(xml)
    assert reply.status == 200 and reply.body == "success"
    assert reply.elapsed < 2.0  # the budget, not the bot, decided (WeChat's limit is 5 s)
    retry = await wechat.post(xml)  # WeChat retrying meanwhile: no second turn, no passive copy
    assert retry.body == "success" and retry.elapsed < 2.0
    assert await standin.wait_for(openid, 1, timeout=10) == [approved("utter_thank")]
    await asyncio.sleep(1.0)
    assert standin.sent_to(openid) == [approved("utter_thank")]
    assert len(bot.received) == 1


async def test_fast_turn_is_not_pushed(start_channel: Start, standin: WeChatStandIn) -> None:
    wechat = await start_channel(FakeBot("utter_thank", delay=0.1))
    openid = new_openid()
    assert (await wechat.post(text_xml(openid, "谢谢"))).content == approved("utter_thank")
    await asyncio.sleep(0.5)
    assert standin.sent_to(openid) == []


async def test_passive_only_account_waits_through_wechats_retries(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels.wechat import input as channel

    wechat_env.setenv("WECHAT_CUSTOMER_SERVICE", "false")
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "0.3")
    wechat_env.setattr(channel, "WECHAT_TIMEOUT_S", 0.8)  # WeChat's 5 s, shortened for the test
    wechat_env.setattr(channel, "HOLD_MARGIN_S", 0.2)
    bot = FakeBot("utter_thank", delay=1.2)
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢")
    with pytest.raises(asyncio.TimeoutError):  # WeChat gives up on the first delivery ...
        await wechat.post(xml, timeout=0.8)
    retry = await wechat.post(xml)  # ... and its retry gets the reply passively
    assert retry.content == approved("utter_thank")
    assert len(bot.received) == 1
    assert standin.sent_to(openid) == []


async def test_passive_only_reply_after_the_last_retry_comes_with_the_next_message(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels.wechat import input as channel

    wechat_env.setenv("WECHAT_CUSTOMER_SERVICE", "false")
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "0.2")
    wechat_env.setattr(channel, "WECHAT_TIMEOUT_S", 0.4)
    wechat_env.setattr(channel, "HOLD_MARGIN_S", 0.1)
    bot = FakeBot(per_text={"谢谢": ("utter_thank", 2.5), "你好": ("utter_greet", 0.0)})
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢")
    for _ in range(2):
        with pytest.raises(asyncio.TimeoutError):
            await wechat.post(xml, timeout=0.4)
    last = await wechat.post(xml)  # the third delivery: answered before WeChat's limit
    assert last.body == "success" and last.elapsed < 0.4 + 0.5
    await asyncio.sleep(2.0)  # the slow turn finishes with nobody waiting
    nxt = await wechat.post(text_xml(openid, "你好"))
    assert nxt.content == approved("utter_thank") + "\n\n" + approved("utter_greet")
    assert standin.sent_to(openid) == []
    again = await wechat.post(text_xml(openid, "你好"))  # owed only once
    assert again.content == approved("utter_greet")


async def test_redis_outage_gets_a_polite_answer_not_an_error(
    start_channel: Start, wechat_env: pytest.MonkeyPatch
) -> None:
    bot = FakeBot()
    wechat_env.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    wechat = await start_channel(bot)
    reply = await wechat.post(text_xml(new_openid(), "你好"))
    assert reply.status == 200
    assert reply.content == approved("utter_service_busy")
    assert bot.received == []
