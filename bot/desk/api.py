"""The desk's JSON API (CONTRACT.md, under /api), used by the console and by other tools.

Contract: GET /api/tickets (filters status, department, priority, sender_id; newest first),
GET /api/tickets/{id}, POST /api/tickets/{id}/claim | reply {"text"} | close {"resolution"}.
Added: `?order=queue` (priority, then oldest first), notes, canned replies, the contact shown
in full on request (audited), a phone call-back when the channel can no longer be reached,
/api/me, /api/departments, /api/labels (the vocabulary's Chinese names, which the console
shows), /api/events (live, see live.py).

Tickets are `tickets.Ticket` here; the JSON is `ticket.masked().to_json()` (CONTRACT.md: phone
and ID numbers masked wherever displayed), the contact in full only from /contact. Who may
claim, reply or close in which status is bot/core/tickets/lifecycle.py's.

Errors are JSON `{"error": code, "message": 中文说明}`: 400 bad input, 401 no or wrong token,
403 not this agent's department, 404 no such ticket, 409 wrong state or undeliverable,
422 the phrase check found problems in a reply (resend with {"confirm": true}).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from aiohttp import web

from bot.core import guard, handoff, tickets, topics, vocabulary
from bot.core.privacy import mask
from bot.core.tickets import lifecycle
from bot.desk import canned, delivery
from bot.desk.auth import Identity, identity
from bot.infra import store

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_REPLY_CHARS = 1000
MAX_NOTE_CHARS = 2000
FILTERS = ("status", "department", "priority", "sender_id")
# a platform that only answers passively keeps the message and sends it with its next reply
DEFERRED = "deferred"
# the API's error code for "the ticket is closed" (clients read it; it is not a ticket status)
CLOSED_ERROR = "closed"


def error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad_json", "message": "请求体必须是 JSON 对象"}), content_type="application/json"
        ) from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad_json", "message": "请求体必须是 JSON 对象"}), content_type="application/json"
        )
    return data


async def _ticket(request: web.Request) -> tickets.Ticket:
    ticket_id = request.match_info["ticket_id"]
    ticket = await asyncio.to_thread(tickets.find, ticket_id)
    if ticket is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "not_found", "message": f"没有工单 {ticket_id}"}), content_type="application/json"
        )
    if not identity(request).may_see(ticket.department):
        raise web.HTTPForbidden(
            text=json.dumps({"error": "forbidden", "message": "该工单不属于您负责的部门"}),
            content_type="application/json",
        )
    return ticket


def _shown(ticket: tickets.Ticket) -> dict[str, Any]:
    """A ticket as the console displays it: the contract's JSON, phone and ID numbers masked."""
    return ticket.masked().to_json()


async def _live_state(ticket: tickets.Ticket) -> dict[str, Any]:
    """Is the citizen handed off on this ticket right now (the bot is quiet for them)?"""
    try:
        state = await asyncio.to_thread(handoff.current, ticket.sender_id)
    except store.ERRORS:
        return {"handed_off_now": None}
    return {"handed_off_now": bool(state and state.get("ticket_id") == ticket.id)}


async def _publish(event_type: str, **data: Any) -> None:
    try:
        await handoff.apublish(event_type, **data)
    except store.ERRORS:  # live updates are a convenience; the ticket in SQL is the record
        log.warning("could not publish %s to the desk stream", event_type)


def _ticket_error(exc: tickets.TicketError, closed: str = "该工单已办结") -> web.Response:
    if isinstance(exc, tickets.ClaimedByOther):
        return error(409, "claimed_by_other", f"该工单已由其他坐席认领：{exc.agent}")
    if isinstance(exc, tickets.Closed):
        return error(409, CLOSED_ERROR, closed)
    return error(404, "not_found", str(exc))


# --- who am I, departments ---------------------------------------------------------------------
@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    return web.json_response(identity(request).as_json())


@routes.get("/api/labels")
async def labels(request: web.Request) -> web.Response:
    """The vocabulary for the console: the Chinese names of statuses, kinds, priorities, channels
    and speakers (so a ticket it calls 待认领 is 待认领 in the report too), and the status values by
    name (`status_values.CLOSED`), so that the console's code holds no status of its own."""
    return web.json_response({**vocabulary.labels(), "status_values": {s.name: s.value for s in vocabulary.Status}})


@routes.get("/api/departments")
async def departments(request: web.Request) -> web.Response:
    ident = identity(request)
    deps = topics.load().departments
    return web.json_response([{"id": k, "name": v} for k, v in deps.items() if ident.may_see(k)])


# --- tickets -------------------------------------------------------------------------------------
@routes.get("/api/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    ident = identity(request)
    q = request.query
    filters = {k: (q.get(k) or None) for k in FILTERS}
    if ident.departments:
        asked = [d for d in (filters["department"] or "").split(",") if d]
        allowed = [d for d in asked if ident.may_see(d)] if asked else list(ident.departments)
        if not allowed:
            return web.json_response([])
        filters["department"] = ",".join(allowed)
    try:
        limit = min(int(q.get("limit", "200")), 1000)
        offset = int(q.get("offset", "0"))
    except ValueError:
        return error(400, "bad_query", "limit 和 offset 必须是整数")
    order = "queue" if q.get("order") == "queue" else "newest"
    brief = q.get("brief") in ("1", "true")
    found = await asyncio.to_thread(
        functools.partial(
            tickets.query,
            status=filters["status"],
            department=filters["department"],
            priority=filters["priority"],
            sender_id=filters["sender_id"],
        ),
        order=order,
        limit=limit,
        offset=offset,
        with_transcript=not brief,
    )
    return web.json_response([_shown(t) for t in found])


@routes.get("/api/tickets/{ticket_id}")
async def get_ticket(request: web.Request) -> web.Response:
    ticket = await _ticket(request)
    return web.json_response(
        {**_shown(ticket), **await _live_state(ticket), "forwarding": await _forwarding(ticket.id)}
    )


async def _forwarding(ticket_id: str) -> dict[str, Any] | None:
    from bot.core import forwarding

    return await asyncio.to_thread(forwarding.status, ticket_id)


@routes.get("/api/tickets/{ticket_id}/contact")
async def reveal_contact(request: web.Request) -> web.Response:
    """The full contact and location, for a call-back; every look is in the audit trail."""
    ident = identity(request)
    ticket = await _ticket(request)
    await asyncio.to_thread(
        guard.record,
        channel="desk",
        sender_id=ticket.sender_id,
        text=f"查看完整联系方式：工单 {ticket.id}",
        response="desk_reveal_contact",
        agent=ident.agent,
        ticket_id=ticket.id,
    )
    return web.json_response({"contact": ticket.contact, "location": ticket.location})


async def _publish_claimed(ticket: tickets.Ticket, ident: Identity) -> None:
    await _publish(
        "ticket_claimed",
        ticket_id=ticket.id,
        agent=ident.agent,
        priority=ticket.priority,
        department=ticket.department,
    )


@routes.post("/api/tickets/{ticket_id}/claim")
async def claim(request: web.Request) -> web.Response:
    ident = identity(request)
    before = await _ticket(request)
    try:
        ticket = await asyncio.to_thread(tickets.claim, before.id, ident.agent)
    except tickets.TicketError as exc:
        return _ticket_error(exc)
    delivered: dict[str, Any] = {"ok": None}
    if lifecycle.claims(before.status):  # the first claim; claiming again only renews the handoff
        delivered = await _join(ticket, ident)
        await _publish_claimed(ticket, ident)
    else:
        await asyncio.to_thread(_touch, ticket)
    full = await asyncio.to_thread(tickets.get, ticket.id)
    return web.json_response({**_shown(full), **await _live_state(full), "delivery": delivered})


def _touch(ticket: tickets.Ticket) -> None:
    try:
        handoff.touch(ticket.sender_id, ticket.id)
    except store.ERRORS:
        log.warning("could not renew the handoff of ticket %s", ticket.id)


async def _join(ticket: tickets.Ticket, ident: Identity) -> dict[str, Any]:
    """A person takes the conversation: the citizen's messages now go to this ticket, and they are told."""
    state = await asyncio.to_thread(handoff.current, ticket.sender_id)
    mine = bool(state and state.get("ticket_id") == ticket.id)
    if not mine and state is None and (ticket.handoff or ticket.reason == tickets.CALLBACK):
        # a call-back filed after hours: the agent who takes it starts the conversation
        await asyncio.to_thread(handoff.start, ticket.sender_id, ticket.id, str(ticket.channel))
        if not ticket.handoff:
            await asyncio.to_thread(tickets.mark_handoff, ticket.id, ticket.reason or tickets.CALLBACK)
        mine = True
    if not mine:
        return {"ok": None}  # a report handled offline: nothing to tell the citizen now
    await asyncio.to_thread(_touch, ticket)
    try:
        await delivery.send_approved(ticket, "utter_agent_joined")
    except delivery.Undeliverable as exc:
        await _undeliverable(ticket, ident, exc, "接入提示")
        return {"ok": False, "reason": exc.reason, "message": exc.message, "callback": exc.callback}
    from bot.core import catalogue

    await asyncio.to_thread(tickets.append, ticket.id, "bot", catalogue.load().text("utter_agent_joined"))
    return {"ok": True}


async def _undeliverable(ticket: tickets.Ticket, ident: Identity, exc: delivery.Undeliverable, what: str) -> None:
    note = f"【系统】{what}未送达：{exc.message}"
    await asyncio.to_thread(tickets.add_note, ticket.id, ident.agent, note)
    await _publish("delivery_failed", ticket_id=ticket.id, reason=exc.reason, agent=ident.agent)


@routes.post("/api/tickets/{ticket_id}/reply")
async def reply(request: web.Request) -> web.Response:
    ident = identity(request)
    body = await _body(request)
    text = str(body.get("text") or "").strip()
    if not text:
        return error(400, "empty", "回复内容为空")
    if len(text) > MAX_REPLY_CHARS:
        return error(400, "too_long", f"回复不能超过{MAX_REPLY_CHARS}字，请分条发送")
    ticket = await _ticket(request)
    try:
        lifecycle.ensure_may_work_on(ticket.status, ticket.claimed_by, ident.agent)
    except tickets.TicketError as exc:
        return _ticket_error(exc, closed="该工单已办结，不能再回复")
    problems = guard.check_agent_text(text)
    confirmed = body.get("confirm") is True
    if problems and not confirmed:
        return error(422, "phrase_check", "回复中有不宜对市民使用的表述，请修改；确需发送请确认。", problems=problems)
    if lifecycle.claims(ticket.status):  # replying is taking the ticket
        try:
            await asyncio.to_thread(tickets.claim, ticket.id, ident.agent)
        except tickets.TicketError as exc:
            return _ticket_error(exc)
        await _join(ticket, ident)
        await _publish_claimed(ticket, ident)
    deferred: str | None = None
    try:
        await delivery.send_agent_text(ticket, text, ident.agent)
    except delivery.Undeliverable as exc:
        if exc.reason != DEFERRED:
            await _undeliverable(ticket, ident, exc, "坐席回复")
            return error(409, exc.reason, exc.message, callback=exc.callback)
        deferred = exc.message
    entry = await asyncio.to_thread(tickets.append, ticket.id, "agent", text, agent=ident.agent)
    if problems:  # sent after the agent confirmed: the warning stays in the audit trail
        await asyncio.to_thread(
            guard.record,
            channel=str(ticket.channel),
            sender_id=ticket.sender_id,
            text=text,
            response="agent_confirmed_warning",
            reason="坐席确认发送：" + "；".join(problems),
            agent=ident.agent,
            ticket_id=ticket.id,
        )
    await asyncio.to_thread(_touch, ticket)
    await _publish("agent_message", ticket_id=ticket.id, agent=ident.agent, text=text, at=tickets.iso(entry.at))
    shown = {**entry.to_json(), "text": mask(entry.text)}
    return web.json_response({"ok": True, "entry": shown, "warnings": problems, "deferred": deferred})


@routes.post("/api/tickets/{ticket_id}/notes")
async def add_note(request: web.Request) -> web.Response:
    ident = identity(request)
    body = await _body(request)
    text = str(body.get("text") or "").strip()
    if not text:
        return error(400, "empty", "备注内容为空")
    if len(text) > MAX_NOTE_CHARS:
        return error(400, "too_long", f"备注不能超过{MAX_NOTE_CHARS}字")
    ticket = await _ticket(request)
    updated = await asyncio.to_thread(tickets.add_note, ticket.id, ident.agent, text)
    await _publish("note_added", ticket_id=ticket.id, agent=ident.agent)
    return web.json_response(_shown(updated))


@routes.post("/api/tickets/{ticket_id}/callback")
async def phone_callback(request: web.Request) -> web.Response:
    """The channel cannot reach the citizen (WeChat's 48 hours): a phone call-back instead."""
    ident = identity(request)
    ticket = await _ticket(request)
    try:
        lifecycle.ensure_open(ticket.status)
    except tickets.TicketError as exc:
        return _ticket_error(exc)
    note = "【系统】改为电话回访" + (
        f"（联系电话 {mask(ticket.contact)}）" if ticket.contact else "（市民未留电话，请按渠道信息核实联系方式）"
    )
    await asyncio.to_thread(tickets.add_note, ticket.id, ident.agent, note)
    updated = await asyncio.to_thread(tickets.set_reason, ticket.id, tickets.PHONE_CALLBACK)
    await _publish("ticket_updated", ticket_id=ticket.id, agent=ident.agent, reason=tickets.PHONE_CALLBACK)
    return web.json_response(_shown(updated))


@routes.post("/api/tickets/{ticket_id}/close")
async def close(request: web.Request) -> web.Response:
    ident = identity(request)
    body = await _body(request)
    resolution = str(body.get("resolution") or "").strip()
    if not resolution:
        return error(400, "empty", "请填写办理结果")
    ticket = await _ticket(request)
    try:
        # a supervisor may close a ticket another agent holds
        closed = await asyncio.to_thread(
            tickets.close, ticket.id, ident.agent, resolution, overrule=ident.role == "supervisor"
        )
    except tickets.TicketError as exc:
        return _ticket_error(exc)
    try:
        await asyncio.to_thread(handoff.end, ticket.sender_id, ticket.id)
    except store.ERRORS:
        log.error("could not end the handoff of ticket %s: Redis unreachable", ticket.id)
    await _publish(
        "ticket_closed",
        ticket_id=ticket.id,
        agent=ident.agent,
        priority=ticket.priority,
        department=ticket.department,
    )
    resumed: bool | None
    try:
        resumed = await delivery.resume_conversation(closed)
    except delivery.Undeliverable as exc:
        await _undeliverable(closed, ident, exc, "办结及满意度评价")
        resumed = None
    full = await asyncio.to_thread(tickets.get, ticket.id)
    return web.json_response({**_shown(full), "resumed_in_rasa": resumed})


# --- canned replies ----------------------------------------------------------------------------
@routes.get("/api/canned")
async def canned_replies(request: web.Request) -> web.Response:
    ticket = None
    ticket_id = request.query.get("ticket_id")
    if ticket_id:
        ticket = await asyncio.to_thread(tickets.find, ticket_id)
        if ticket is not None and not identity(request).may_see(ticket.department):
            ticket = None
    found = await asyncio.to_thread(canned.replies, ticket, request.query.get("q", "").strip())
    return web.json_response(found)
