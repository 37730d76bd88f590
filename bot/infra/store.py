"""Redis: one place that makes clients, so every process talks to the same server the same way.

Short-lived shared state lives here: channel de-duplication, handoff flags, rate limits,
platform tokens, live events for the desk. Every call has a socket timeout, so a Redis that
goes away gives an error in milliseconds (the caller answers the citizen politely), and the
client reconnects by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
from typing import Literal, TypedDict, cast

import redis
import redis.asyncio as aioredis

from bot.infra import settings


class _Options(TypedDict):
    decode_responses: Literal[True]  # str replies, hence Redis[str] below
    retry_on_timeout: bool
    socket_timeout: float
    socket_connect_timeout: float
    health_check_interval: int


_OPTIONS: _Options = {
    "decode_responses": True,
    "retry_on_timeout": True,
    "socket_timeout": 2.0,
    "socket_connect_timeout": 2.0,
    "health_check_interval": 15,
}
_sync: dict[str, redis.Redis[str]] = {}


def client(url: str | None = None) -> redis.Redis[str]:
    url = url or settings.load().effective_redis_url
    if url not in _sync:
        _sync[url] = redis.Redis.from_url(url, **_OPTIONS)
    return _sync[url]


# asyncio connections belong to the loop that made them: one client (and its pool) per (loop, server)
_pools: dict[tuple[int, str], tuple[asyncio.AbstractEventLoop, aioredis.Redis[str]]] = {}


def async_client(url: str | None = None) -> aioredis.Redis[str]:
    """The running loop's asyncio client for this server, on a shared connection pool. `await
    r.close()` is harmless (the pool stays open). A new connection for every call (connect, then
    the command) was a measurable part of every WeChat callback, which makes several; so was a
    new client object (175 us each: its table of response callbacks, 11 % of the Rasa process
    under WeChat overload, docs/performance.md)."""
    url = url or settings.load().effective_redis_url
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop running: a client of its own
        return aioredis.Redis.from_url(url, **_OPTIONS)
    entry = _pools.get((id(loop), url))
    if entry is None or entry[0] is not loop:
        for key, (other, _client) in list(_pools.items()):
            if other.is_closed():  # a finished loop's connections died with it
                del _pools[key]
        pool: aioredis.ConnectionPool[aioredis.Connection] = aioredis.ConnectionPool.from_url(url, **_OPTIONS)
        # the pool decodes (str replies); the stubs can only tell that from decode_responses=True
        shared = cast("aioredis.Redis[str]", aioredis.Redis(connection_pool=pool))
        entry = _pools[(id(loop), url)] = (loop, shared)
    return entry[1]


ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
