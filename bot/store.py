"""Redis: one place that makes clients, so every process talks to the same server the same way.

Short-lived shared state lives here: channel de-duplication, handoff flags, rate limits,
platform tokens, live events for the desk. Every call has a socket timeout, so a Redis that
goes away gives an error in milliseconds (the caller answers the citizen politely), and the
client reconnects by itself when Redis is back.
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from bot import settings

_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0, "health_check_interval": 15}
_sync: dict[str, redis.Redis] = {}


def client(url: str | None = None) -> redis.Redis:
    url = url or settings.load().effective_redis_url
    if url not in _sync:
        _sync[url] = redis.Redis.from_url(url, decode_responses=True, retry_on_timeout=True, **_TIMEOUTS)
    return _sync[url]


def async_client(url: str | None = None) -> aioredis.Redis:
    """A new asyncio client (bound to the running loop, so not shared between loops)."""
    url = url or settings.load().effective_redis_url
    return aioredis.Redis.from_url(url, decode_responses=True, retry_on_timeout=True, **_TIMEOUTS)


class Unavailable(Exception):
    """Redis could not be reached; the caller answers politely and retries later."""


ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
