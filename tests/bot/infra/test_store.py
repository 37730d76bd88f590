"""bot/infra/store.py: asyncio clients share their loop's connections, and survive a Redis restart."""

from __future__ import annotations

import asyncio

import redis

from bot.infra import store
from bot.stack.processes import RedisServer


def _connections_made(url: str) -> int:
    r = redis.Redis.from_url(url)
    try:
        return int(r.info("stats")["total_connections_received"])
    finally:
        r.close()


def test_calls_on_one_loop_reuse_connections(redis_url: str) -> None:
    async def many_calls() -> int:
        for i in range(50):
            r = store.async_client()
            try:
                await r.set(f"k{i}", "v")
            finally:
                await r.close()
        return _connections_made(redis_url)

    before = _connections_made(redis_url)
    assert asyncio.run(many_calls()) - before <= 2  # one pooled connection (+ this count's), not fifty


def test_every_loop_gets_its_own_connections(redis_url: str) -> None:
    async def roundtrip(value: str) -> str | None:
        r = store.async_client()
        try:
            await r.set("k", value)
            return await r.get("k")
        finally:
            await r.close()

    # a connection made on a finished loop would fail here ("attached to a different loop")
    assert [asyncio.run(roundtrip(v)) for v in ("一", "二", "三")] == ["一", "二", "三"]


def test_a_pooled_connection_recovers_after_redis_restarts(redis_server: RedisServer, redis_url: str) -> None:
    async def scenario() -> tuple[str | None, list[str]]:
        r = store.async_client()
        await r.set("k", "before")
        await r.close()
        redis_server.stop()
        errors: list[str] = []
        try:
            await store.async_client().get("k")
        except store.ERRORS as e:  # the caller answers politely (channels/common.py)
            errors.append(type(e).__name__)
        redis_server.start()  # same port, empty (no persistence in tests)
        r = store.async_client()
        await r.set("k", "after")
        return await r.get("k"), errors

    value, errors = asyncio.run(scenario())
    assert value == "after" and errors


def test_calls_on_one_loop_share_one_client_and_closing_it_leaves_it_usable(redis_url: str) -> None:
    # a client object costs ~175 us to make (its response-callback table): made once per loop
    async def calls() -> tuple[bool, str | None]:
        first = store.async_client()
        await first.set("shared", "是")
        await first.close()  # what every caller does when done
        second = store.async_client()
        return second is first, await second.get("shared")

    assert asyncio.run(calls()) == (True, "是")
