"""Reaching the citizen from the desk: the channel's sender, and Rasa to resume the conversation.

Agent replies go out through the sender of the ticket's channel (channels/senders.py: WeChat
customer-service API, Telegram Bot API, socket.io through the Redis manager, the REST outbox),
which audits each one with the agent's name. Closing a ticket resumes the conversation in Rasa
and triggers `EXTERNAL_ticket_closed`, so that the bot itself says goodbye and asks for
satisfaction through the same channel; when Rasa cannot be reached, the desk sends those two
approved responses through the sender instead, so the citizen is never left without them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.core import tickets
from bot.infra import settings

log = logging.getLogger(__name__)


# the citizen cannot be reached on this channel any more: the desk offers a phone call-back
CALLBACK_REASONS = frozenset(
    {
        "window_expired",
        "not_subscribed",
        "blocked_by_user",
        "no_permission",
        "invalid_recipient",
        "unknown_channel",
        "not_configured",
    }
)


class Undeliverable(Exception):
    """The citizen could not be reached; `reason` is machine-readable, `message` is for the agent."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message

    @property
    def callback(self) -> bool:
        return self.reason in CALLBACK_REASONS


async def _call(send: Callable[[], Awaitable[None]]) -> None:
    from channels.senders import GENERIC, DeliveryError

    try:
        await send()
    except DeliveryError as exc:
        raise Undeliverable(exc.reason, exc.message) from exc
    except Exception as exc:  # a platform outage must not take the desk down with it
        log.exception("delivery to the citizen failed")
        raise Undeliverable("failed", GENERIC) from exc


def _sender(channel: str) -> Any:
    from channels.senders import DeliveryError, get_sender

    try:
        return get_sender(channel)
    except DeliveryError as exc:
        raise Undeliverable(exc.reason, exc.message) from exc


async def send_agent_text(ticket: tickets.Ticket, text: str, agent: str) -> None:
    sender = _sender(str(ticket.channel))
    await _call(lambda: sender.send_agent_text(ticket.sender_id, text, agent, ticket.id))


async def send_approved(ticket: tickets.Ticket, response: str, **slots: Any) -> None:
    sender = _sender(str(ticket.channel))
    await _call(lambda: sender.send_approved(ticket.sender_id, response, **slots))


def _rasa(path: str, **params: str) -> tuple[str, dict[str, str]]:
    cfg = settings.load()
    if cfg.rasa_auth_token:
        params["token"] = cfg.rasa_auth_token
    return cfg.rasa_url.rstrip("/") + path, params


async def resume_conversation(ticket: tickets.Ticket) -> bool:
    """Resume in Rasa and let the bot ask for satisfaction on the ticket's channel.

    Returns True when Rasa did it; False when the desk had to send the two responses itself.
    """
    sender_id, channel = ticket.sender_id, str(ticket.channel)
    conv = f"/conversations/{quote(sender_id, safe='')}"
    timeout = aiohttp.ClientTimeout(total=max(settings.load().http_timeout_s, 1.0) * 3)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            url, params = _rasa(f"{conv}/tracker/events", include_events="NONE")
            # resume, and listen: a paused tracker ends on the handoff action, and Rasa's rules
            # only see "the citizen said X" after action_listen (without it the trigger below
            # falls back, rewinds, and replays the handoff)
            events = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
            async with http.post(url, params=params, json=events) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"resume answered {resp.status}")
            url, params = _rasa(f"{conv}/trigger_intent", output_channel=channel, include_events="NONE")
            body = {"name": "EXTERNAL_ticket_closed", "entities": {"ticket_id": ticket.id}}
            async with http.post(url, params=params, json=body) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"trigger_intent answered {resp.status}")
                data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError) as exc:
        log.warning("could not resume the conversation of ticket %s in Rasa (%s); the desk says it", ticket.id, exc)
        await _say_closed(ticket)
        return False
    # Rasa returns the messages here only when it found no output channel of that name (it then
    # collects them instead of sending): deliver them through the sender, which guards them
    collected = (data or {}).get("messages") or []
    if collected:
        log.warning("Rasa has no output channel %r; the desk delivers the closing messages", channel)
        sender = _sender(channel)
        for message in collected:
            await _call(functools.partial(sender.send_response, sender_id, message))
    return True


async def _say_closed(ticket: tickets.Ticket) -> None:
    await send_approved(ticket, "utter_agent_left", ticket_id=ticket.id)
    await send_approved(ticket, "utter_ask_satisfaction", ticket_id=ticket.id)
