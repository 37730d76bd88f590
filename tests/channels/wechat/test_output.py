"""WeChatOutput and the desk's sender: numbered buttons, the 48-hour window, passive-only accounts."""

from __future__ import annotations

import os
import re
import time

import pytest

from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import FakeBot, Start, approved, audit_rows, new_openid, text_xml


async def test_48_hour_window_and_45015_are_reported_to_the_desk(
    wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    import redis

    from channels.senders import DeliveryError, get_sender

    openid = new_openid()
    standin.fail_with[openid] = 45015
    with pytest.raises(DeliveryError) as refused:
        await get_sender("wechat").send_agent_text(openid, "您好，您的问题已办结。", agent="agent1", ticket_id="T1")
    assert refused.value.reason == "window_expired" and "48小时" in refused.value.message
    # the citizen's last message is known to be older than 48 h: refused without calling WeChat
    quiet = new_openid()
    redis.Redis.from_url(os.environ["REDIS_URL"]).set(f"wechat:seen:{quiet}", str(time.time() - 49 * 3600))
    with pytest.raises(DeliveryError) as expired:
        await get_sender("wechat").send_agent_text(quiet, "您好", agent="agent1", ticket_id="T2")
    assert expired.value.reason == "window_expired"
    assert standin.sent_to(quiet) == []
    assert audit_rows(quiet) == []  # not recorded as sent


async def test_passive_only_account_delivers_agent_replies_with_the_next_message(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels.senders import DeliveryError, get_sender

    wechat_env.setenv("WECHAT_CUSTOMER_SERVICE", "false")
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    long_reply = "您好，关于您反映的小区噪音问题，执法人员已到现场核查并责令整改。" * 60
    with pytest.raises(DeliveryError) as deferred:
        await get_sender("wechat").send_agent_text(openid, long_reply, agent="agent1", ticket_id="T3")
    assert deferred.value.reason == "deferred"
    first = await wechat.post(text_xml(openid, "你好"))
    assert first.content is not None and first.content.startswith("（1/")
    assert first.content.endswith(approved("utter_wechat_more"))
    received = [first.content]
    while received[-1].endswith(approved("utter_wechat_more")) and len(received) < 10:
        more = await wechat.post(text_xml(openid, "继续"))
        assert more.content is not None
        received.append(more.content)
    assert bot.texts == ["你好"]  # "继续" took the next part; it did not go to the bot
    body = "".join(re.sub(r"^（\d+/\d+）", "", c).replace("\n\n" + approved("utter_wechat_more"), "") for c in received)
    assert body == long_reply + "\n\n" + approved("utter_greet")
    assert standin.sent_to(openid) == []


async def test_buttons_become_numbered_replies(start_channel: Start) -> None:
    bot = FakeBot(per_text={"啊": ("utter_offer_human", 0.0)})
    wechat = await start_channel(bot)
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "啊"))
    assert reply.content == approved("utter_offer_human") + "\n\n回复 1：转人工\n回复 2：我再换个说法"
    await wechat.post(text_xml(openid, "１"))  # a full-width digit, as phone keyboards often send
    assert bot.texts[-1] == "/request_human"
    await wechat.post(text_xml(openid, "2"))  # the last answer had no choices: 2 is just text
    assert bot.texts[-1] == "2"
