"""The turns a process runs: one lease renewer for all of them, and admission at saturation."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import FakeBot, Start, approved, new_openid, text_xml


def test_one_task_keeps_every_running_turns_lease_alive_in_one_round_trip(redis_url: str) -> None:
    """A turn longer than its lease stays this process's (a retry must not run it a second time),
    and hundreds of turns waiting for their place cost one Redis round trip a second, not one
    connection each (that took the event loop at 4x saturation)."""
    import redis as sync_redis

    from bot.infra.keys import wechat_msg
    from channels.wechat import turns as wechat

    r = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    keys = [wechat_msg(f"lease-{i}") for i in range(200)]
    start = time.time()
    for key in keys:
        r.hset(key, mapping={"state": "pending", "owner_until": start + wechat.TURN_LEASE_S})
    made = int(r.info("stats")["total_connections_received"])

    async def scenario() -> None:
        release = asyncio.Event()
        turns = [asyncio.create_task(release.wait()) for _ in keys]
        wechat._LOCAL_TURNS.update(zip(keys, turns, strict=True))
        try:
            wechat.keep_leases()
            wechat.keep_leases()  # a second turn starting does not start a second renewer
            await asyncio.sleep(wechat.TURN_LEASE_S * 1.5)  # longer than one lease
        finally:
            release.set()
            await asyncio.gather(*turns)
            for key in keys:
                wechat._LOCAL_TURNS.pop(key, None)
        renewer = wechat._RENEWERS.get(id(asyncio.get_running_loop()))
        assert renewer is not None
        await asyncio.wait_for(renewer, wechat.TURN_LEASE_S)  # no turn left: it stops by itself

    asyncio.run(scenario())
    leases = [float(r.hget(key, "owner_until")) for key in keys]
    assert min(leases) > start + wechat.TURN_LEASE_S * 1.5  # renewed, every one of them
    assert int(r.info("stats")["total_connections_received"]) - made <= 3  # renewals share a connection
    r.close()


def _saturated_for(seconds: float, per_s: float) -> list[tuple[float, bool]]:
    now = asyncio.get_running_loop().time()
    n = int(seconds * per_s)
    return [(now - seconds + i / per_s, True) for i in range(n)]


async def test_a_message_whose_turn_cannot_finish_in_time_is_answered_at_once_and_pushed(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from collections import deque

    from channels.wechat import turns as channel

    # the process has been finishing 4 turns a second, saturated, and 40 are in flight: this
    # one's turn is ~10 s away, its 3 s budget cannot be met, so WeChat gets `success` now
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "3.0")
    wechat_env.setattr(channel, "_FINISHED", deque(_saturated_for(4.0, 4.0), maxlen=4096))
    blocker = asyncio.get_running_loop().create_future()
    for i in range(40):
        wechat_env.setitem(channel._LOCAL_TURNS, f"queued-{i}", asyncio.ensure_future(blocker))
    bot = FakeBot("utter_thank", delay=0.8)
    wechat = await start_channel(bot)
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "谢谢"))
    assert reply.body == "success" and reply.elapsed < 0.5
    assert await standin.wait_for(openid, 1, timeout=10) == [approved("utter_thank")]  # nothing lost
    blocker.cancel()


@pytest.mark.parametrize("saturated", [False, True])
async def test_without_a_measured_saturation_or_a_backlog_the_reply_stays_passive(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn, saturated: bool
) -> None:
    from collections import deque

    from channels.wechat import turns as channel

    # the failing twin: the same slow-ish turn, but either the finishing rate was measured at low
    # load (not a capacity) or nothing is queued: the citizen gets the passive reply as usual
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "3.0")
    history = [(t, saturated) for t, _ in _saturated_for(4.0, 4.0)]
    wechat_env.setattr(channel, "_FINISHED", deque(history, maxlen=4096))
    blocker = asyncio.get_running_loop().create_future()
    if not saturated:  # a backlog, but the rate is not known to be the process's capacity
        for i in range(40):
            wechat_env.setitem(channel._LOCAL_TURNS, f"queued-{i}", asyncio.ensure_future(blocker))
    wechat = await start_channel(FakeBot("utter_thank", delay=0.8))
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "谢谢"))
    assert reply.content == approved("utter_thank") and reply.elapsed >= 0.7
    await asyncio.sleep(0.3)
    assert standin.sent_to(openid) == []
    blocker.cancel()
