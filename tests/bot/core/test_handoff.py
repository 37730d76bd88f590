"""Handoff flags and desk events (bot/core/handoff.py) on a real Redis."""

from __future__ import annotations

import pytest

from bot.core import handoff
from bot.infra import store


def test_a_handoff_is_shared_state_until_it_ends(redis_url: str) -> None:
    assert handoff.current("c") is None
    handoff.start("c", "20261126-000001", "wechat")
    assert handoff.current("c") == {"ticket_id": "20261126-000001", "channel": "wechat"}
    # any other process sees the same thing: it is plain Redis state, not this process's memory
    import redis

    other = redis.Redis.from_url(redis_url, decode_responses=True)
    assert other.hget("handoff:c", "ticket_id") == "20261126-000001"
    other.close()
    assert handoff.end("c", "20261126-000001") is True
    assert handoff.current("c") is None


def test_ending_an_old_ticket_leaves_a_newer_handoff(redis_url: str) -> None:
    handoff.start("c", "20261126-000001", "rest")
    handoff.start("c", "20261126-000002", "rest")
    assert handoff.end("c", "20261126-000001") is False
    assert handoff.current("c") == {"ticket_id": "20261126-000002", "channel": "rest"}


def test_a_forgotten_handoff_expires_and_activity_renews_it(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_TTL_HOURS", "1")
    handoff.start("c", "t1", "rest")
    r = store.client()
    assert 3500 < r.ttl("handoff:c") <= 3600
    r.expire("handoff:c", 10)
    assert handoff.touch("c", "t1") is True
    assert r.ttl("handoff:c") > 3500
    assert handoff.touch("c", "other-ticket") is False
    assert handoff.touch("nobody", "t1") is False


async def test_events_are_read_in_order_after_an_id(redis_url: str) -> None:
    r = store.async_client()
    try:
        start = await handoff.last_event_id(r)
        assert start == "0-0"
        handoff.publish("ticket_new", ticket_id="a", priority="P0")
        await handoff.apublish("citizen_message", ticket_id="a", text="还在吗")
        got = await handoff.read_events(r, start, block_ms=100)
        assert [e for _, e in got] == [
            {"type": "ticket_new", "ticket_id": "a", "priority": "P0"},
            {"type": "citizen_message", "ticket_id": "a", "text": "还在吗"},
        ]
        assert await handoff.read_events(r, got[-1][0], block_ms=100) == []
        assert await handoff.last_event_id(r) == got[-1][0]
    finally:
        await r.close()
