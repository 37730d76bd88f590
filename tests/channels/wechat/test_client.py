"""The WeChat API client: one access token for every process, refreshed once."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import APPID, new_openid


async def test_access_token_is_shared_in_redis_and_refreshed_once(
    wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    import redis

    from channels.senders import get_sender

    openid = new_openid()
    for i in range(3):
        await get_sender("wechat").send_agent_text(openid, f"您好，第{i}条", agent="a", ticket_id="T")
    assert standin.token_fetches == 1
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    stored = json.loads(r.get(f"wechat:token:{APPID}_access_token") or "null")
    assert stored in standin.tokens
    assert 0 < r.ttl(f"wechat:token:{APPID}_access_token") <= 7200 - 300
    standin.invalidate_tokens()  # WeChat expired it early: 40001, one refresh, the message still goes
    await asyncio.gather(
        *(get_sender("wechat").send_agent_text(openid, "您好，再次联系", agent="a", ticket_id="T") for _ in range(3))
    )
    assert standin.token_fetches == 2
    assert len(standin.sent_to(openid)) == 6
