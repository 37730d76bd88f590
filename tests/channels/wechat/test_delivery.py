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


def test_every_script_says_what_it_does_and_redis_runs_it_without_the_header() -> None:
    from channels.wechat import delivery

    files = sorted(delivery._LUA.glob("*.lua"))
    assert [f.stem for f in files] == ["begin", "claim", "drain", "finish", "give_up", "renew_turn", "take_over"]
    for f in files:
        text = f.read_text(encoding="utf-8")
        header = [line for line in text.splitlines() if line.startswith("--")]
        assert len(header) >= 3 and any("KEYS[1]" in line for line in header), f.name
        script = getattr(delivery, f.stem.upper())
        assert "--" not in script and script.strip() and text.endswith(script), f.name


def test_the_key_names_are_those_live_data_is_stored_under() -> None:
    from bot.core.attachments import pending_attachments_key
    from bot.infra import keys

    assert keys.wechat_msg("gh_1:m:42") == "wechat:msg:gh_1:m:42"
    assert keys.wechat_outbox("oX") == "wechat:outbox:oX"
    assert keys.wechat_recent("oX") == "wechat:recent:oX"
    assert keys.wechat_buttons("oX") == "wechat:buttons:oX"
    assert keys.wechat_seen("oX") == "wechat:seen:oX"
    assert keys.wechat_token_prefix() == "wechat:token"
    assert keys.wechat_token_lock("wx1") == "wechat:token-lock:wx1"
    assert keys.report_attachments("oX") == pending_attachments_key("oX") == "report:attachments:oX"
