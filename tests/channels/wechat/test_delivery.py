"""Each reply delivered exactly once: concurrent deliveries and retries of one message."""

from __future__ import annotations

import asyncio
import os
import time

from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import FakeBot, Start, approved, audit_rows, event_xml, new_openid, text_xml


async def test_three_concurrent_deliveries_reach_the_bot_once_and_get_its_reply(start_channel: Start) -> None:
    bot = FakeBot("utter_thank", delay=0.3)
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢", mid="7000000000000000001")
    replies = await asyncio.gather(*(wechat.post(xml) for _ in range(3)))
    assert [r.content for r in replies] == [approved("utter_thank")] * 3
    assert len(bot.received) == 1
    # a late retry (WeChat did not get our answer) gets the same reply, still without a second turn
    again = await wechat.post(xml)
    assert again.content == approved("utter_thank")
    assert len(bot.received) == 1
    assert [r for r in audit_rows(openid) if r[0] == "utter_thank"] == [("utter_thank", approved("utter_thank"))]


async def test_concurrent_deliveries_of_a_reply_too_long_for_one_message_push_it_once(
    start_channel: Start, standin: WeChatStandIn
) -> None:
    import redis

    bot = FakeBot("utter_thank", delay=0.2)
    wechat = await start_channel(bot)
    openid = new_openid()
    owed = "您好，您上次反映的问题已经转交相关部门处理，处理结果会及时告知您。" * 40  # about 4,000 bytes
    redis.Redis.from_url(os.environ["REDIS_URL"]).rpush(f"wechat:outbox:{openid}", owed)
    xml = text_xml(openid, "谢谢")
    replies = await asyncio.gather(*(wechat.post(xml) for _ in range(3)))
    assert [r.body for r in replies] == ["success"] * 3  # several messages: all through the API, in order
    sent = await standin.wait_for(openid, 4, timeout=10)
    await asyncio.sleep(0.5)
    sent = standin.sent_to(openid)
    # the owed text in parts, then the reply: each once, in order
    assert len(sent) == len(set(sent)) == 4, sent
    assert [p[:5] for p in sent[:3]] == ["（1/3）", "（2/3）", "（3/3）"]
    assert "".join(p[5:] for p in sent[:3]) == owed
    assert sent[3] == approved("utter_thank")
    assert len(bot.received) == 1


async def test_event_retries_are_deduplicated_by_sender_and_time(start_channel: Start) -> None:
    wechat = await start_channel(FakeBot())
    openid = new_openid()
    created = int(time.time())
    first = await wechat.post(event_xml(openid, "subscribe", created=created))
    retry = await wechat.post(event_xml(openid, "subscribe", created=created))
    assert first.content == retry.content == approved("utter_welcome_subscribe")
    assert [r[0] for r in audit_rows(openid)] == ["utter_welcome_subscribe"]
    later = await wechat.post(event_xml(openid, "subscribe", created=created + 30))  # a new event
    assert later.content == approved("utter_welcome_subscribe")
    assert [r[0] for r in audit_rows(openid)] == ["utter_welcome_subscribe"] * 2
