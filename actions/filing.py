"""Filing a ticket from a conversation, telling the desk, handing the citizen to a person.

Everything here is blocking (SQL, Redis) and runs in a worker thread: rasa-sdk 3.6.2 awaits an
action's `run` on the action server's one event loop (and calls a sync `run` on it too), so a
blocking call made there would stall every other citizen's actions. The actions call these
through `blocking()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from actions.tracker import Conversation
from bot.core import catalogue, handoff, tickets
from bot.infra import store

log = logging.getLogger(__name__)
T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the core's blocking work off the action server's event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def publish_quietly(event_type: str, **data: Any) -> None:
    try:
        handoff.publish(event_type, **data)
    except store.ERRORS:  # the ticket in SQL is the record; the live event is a convenience
        log.warning("could not publish %s to the desk stream", event_type)


def publish_ticket(event_type: str, ticket: tickets.Ticket, **data: Any) -> None:
    publish_quietly(event_type, ticket_id=ticket.id, priority=ticket.priority, department=ticket.department, **data)


def file_ticket(
    conv: Conversation, *, topic: str, what: str, handoff_: bool, reason: str, **fields: Any
) -> tickets.Ticket:
    """File (once per message: `what` names the ticket within it) and tell the desk when new."""
    ticket, created = tickets.create(
        idempotency_key=conv.key(what),
        channel=conv.channel,
        sender_id=conv.sender_id,
        topic=topic,
        transcript=conv.transcript,
        handoff=handoff_,
        reason=reason,
        **fields,
    )
    if created:
        publish_ticket("ticket_new", ticket)
    return ticket


def told(ticket: tickets.Ticket, response: str, **slots: Any) -> None:
    """Put what the bot just told the citizen into the ticket's transcript (once, also on a retry)."""
    tickets.append_once(ticket.id, "bot", catalogue.load().text(response, ticket_id=ticket.id, **slots))


def start_handoff(sender_id: str, ticket: tickets.Ticket) -> None:
    """From now on the citizen's messages go to this ticket's agent; the bot is quiet."""
    handoff.start(sender_id, ticket.id, str(ticket.channel))
