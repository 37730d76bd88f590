"""Who is handed off to a person right now, and the live events the desk listens to.

A conversation is handed off while `handoff:<sender_id>` holds its ticket id (Redis, shared
by every process). Live events go to a Redis stream (`desk:events`) so that any number of desk
processes can follow them and a desk that restarts can catch up.
"""

from __future__ import annotations

import json
from typing import Any

from bot import store

EVENTS = "desk:events"
EVENTS_MAXLEN = 10000


def _key(sender_id: str) -> str:
    return f"handoff:{sender_id}"


def start(sender_id: str, ticket_id: str, channel: str) -> None:
    store.client().hset(_key(sender_id), mapping={"ticket_id": ticket_id, "channel": channel})


def current(sender_id: str) -> dict[str, str] | None:
    data = store.client().hgetall(_key(sender_id))
    return data or None


def end(sender_id: str) -> None:
    store.client().delete(_key(sender_id))


def publish(event_type: str, **data: Any) -> None:
    payload = json.dumps({"type": event_type, **data}, ensure_ascii=False, default=str)
    store.client().xadd(EVENTS, {"event": payload}, maxlen=EVENTS_MAXLEN, approximate=True)


async def apublish(event_type: str, **data: Any) -> None:
    payload = json.dumps({"type": event_type, **data}, ensure_ascii=False, default=str)
    r = store.async_client()
    try:
        await r.xadd(EVENTS, {"event": payload}, maxlen=EVENTS_MAXLEN, approximate=True)
    finally:
        await r.close()
