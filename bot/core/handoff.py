"""Who is handed off to a person right now, and the live events the desk listens to.

A conversation is handed off while `handoff:<sender_id>` holds its ticket id (Redis, shared
by every process). The key expires after HANDOFF_TTL_HOURS without agent activity, so that a
ticket forgotten on the desk never leaves a citizen talking to nobody for ever; every claim
and reply renews it.

Live events go to a Redis stream (`desk:events`) so that any number of desk processes can
follow them and a desk that restarts (or a browser that reconnects) catches up from the last
id it saw. Event types: ticket_new, ticket_updated, citizen_message, crisis, ticket_escalated,
ticket_claimed, agent_message, note_added, ticket_closed, ticket_rated, delivery_failed.
"""

from __future__ import annotations

import json
from typing import Any

from bot.infra import keys, settings, store

EVENTS_MAXLEN = 10000

# delete the key only when it still belongs to this ticket: closing an old ticket must not end
# a newer handoff of the same citizen
_END_IF_TICKET = """
if redis.call('HGET', KEYS[1], 'ticket_id') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _ttl_s() -> int:
    return max(int(settings.load().handoff_ttl_hours * 3600), 60)


def start(sender_id: str, ticket_id: str, channel: str) -> None:
    pipe = store.client().pipeline()
    pipe.delete(keys.handoff(sender_id))
    pipe.hset(keys.handoff(sender_id), mapping={"ticket_id": ticket_id, "channel": channel})
    pipe.expire(keys.handoff(sender_id), _ttl_s())
    pipe.execute()


def current(sender_id: str) -> dict[str, str] | None:
    data = store.client().hgetall(keys.handoff(sender_id))
    return data or None


def touch(sender_id: str, ticket_id: str) -> bool:
    """Renew the handoff (agent activity); False when the citizen is not handed off on this ticket."""
    r = store.client()
    if r.hget(keys.handoff(sender_id), "ticket_id") != ticket_id:
        return False
    r.expire(keys.handoff(sender_id), _ttl_s())
    return True


def end(sender_id: str, ticket_id: str | None = None) -> bool:
    """The bot answers this citizen again. With `ticket_id`, only if that ticket holds the handoff."""
    r = store.client()
    if ticket_id is None:
        return bool(r.delete(keys.handoff(sender_id)))
    return bool(r.eval(_END_IF_TICKET, 1, keys.handoff(sender_id), ticket_id))


def _payload(event_type: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": event_type, **data}, ensure_ascii=False, default=str)


def publish(event_type: str, **data: Any) -> None:
    store.client().xadd(keys.DESK_EVENTS, {"event": _payload(event_type, data)}, maxlen=EVENTS_MAXLEN, approximate=True)


async def apublish(event_type: str, **data: Any) -> None:
    r = store.async_client()
    try:
        await r.xadd(keys.DESK_EVENTS, {"event": _payload(event_type, data)}, maxlen=EVENTS_MAXLEN, approximate=True)
    finally:
        await r.close()


async def read_events(
    r: Any, last_id: str, block_ms: int = 15000, count: int = 100
) -> list[tuple[str, dict[str, Any]]]:
    """Events after `last_id` ("$": only new ones), waiting up to `block_ms` for the first."""
    found = await r.xread({keys.DESK_EVENTS: last_id}, count=count, block=block_ms)
    out: list[tuple[str, dict[str, Any]]] = []
    for _stream, entries in found or []:
        for entry_id, fields in entries:
            try:
                out.append((entry_id, json.loads(fields.get("event", "{}"))))
            except ValueError:
                continue
    return out


async def last_event_id(r: Any) -> str:
    """The id of the newest event, "0-0" when there is none (a client starting now skips history)."""
    newest = await r.xrevrange(keys.DESK_EVENTS, count=1)
    return newest[0][0] if newest else "0-0"
