"""Live updates for the console: Server-Sent Events from the Redis stream `desk:events`.

Each browser holds one EventSource on /api/events. The stream (not pub/sub) means a console
that reconnects sends `Last-Event-ID` and gets what it missed, and any number of desk processes
can serve consoles. Texts are masked here, like every other place the desk displays them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from bot.core import handoff
from bot.core.privacy import mask
from bot.desk.auth import identity
from bot.infra import settings, store

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
KEEPALIVE_MS = 15000
CLIENTS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("live_clients")


def _visible(event: dict[str, Any], departments: tuple[str, ...]) -> bool:
    dept = event.get("department")
    return not departments or dept is None or dept in departments


def _frame(entry_id: str, event: dict[str, Any]) -> bytes:
    if isinstance(event.get("text"), str):
        event = {**event, "text": mask(event["text"])}
    data = json.dumps(event, ensure_ascii=False)
    return f"id: {entry_id}\nevent: {event.get('type', 'message')}\ndata: {data}\n\n".encode()


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    ident = identity(request)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    task = asyncio.current_task()
    assert task is not None  # aiohttp runs every handler in a task
    clients = request.app[CLIENTS]
    clients.add(task)
    # its own connection, with a read timeout longer than the blocking read (the shared
    # clients' 2 s timeout would cut every XREAD BLOCK short)
    r = aioredis.Redis.from_url(
        settings.load().effective_redis_url,
        decode_responses=True,
        socket_timeout=KEEPALIVE_MS / 1000 + 10,
        socket_connect_timeout=2.0,
    )
    try:
        asked = request.headers.get("Last-Event-ID") or request.query.get("last_id") or ""
        last = asked if STREAM_ID.fullmatch(asked) else await handoff.last_event_id(r)
        await resp.write(b"retry: 2000\n: connected\n\n")
        while True:
            try:
                found = await handoff.read_events(r, last, block_ms=KEEPALIVE_MS)
            except store.ERRORS:
                log.warning("desk event stream: Redis unreachable, retrying")
                await resp.write(b": redis unavailable\n\n")
                await asyncio.sleep(2)
                continue
            if not found:
                await resp.write(b": keepalive\n\n")
                continue
            for entry_id, event in found:
                last = entry_id
                if _visible(event, ident.departments):
                    await resp.write(_frame(entry_id, event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away, or the desk is shutting down
    finally:
        clients.discard(task)
        await r.close()
    return resp


async def close_all(app: web.Application) -> None:
    """On shutdown: end every open stream so the process stops at once (browsers reconnect)."""
    clients = app[CLIENTS]
    for task in list(clients):
        task.cancel()
