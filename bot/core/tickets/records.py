"""Tickets in SQL: filing (idempotent), reading, and every change of the life cycle.

Ids are `YYYYMMDD-NNNNNN` in the city's time zone, unique across processes because the
database's primary key decides (a clash retries). Every function opens its own session and
returns typed values (model.py); the life-cycle rules (lifecycle.py) are checked on the row
about to change, inside the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bot.core import city, topics
from bot.core.tickets import lifecycle, texts
from bot.core.tickets.lifecycle import NotFound, TicketError
from bot.core.tickets.model import SATISFACTION, Speaker, Ticket, TranscriptLine
from bot.core.tickets.routing import route, sla_for
from bot.core.vocabulary import Kind, Priority, Status
from bot.infra import db, settings

log = logging.getLogger(__name__)
SUMMARY_MAX = 200  # stored; the queue shows texts.SUMMARY_CHARS


def _utc(dt: datetime | None) -> datetime | None:
    aware = db.aware(dt)
    return aware.astimezone(timezone.utc) if aware else None


def _new_id(session: Any, now: datetime) -> str:
    day = now.astimezone(city.timezone()).strftime("%Y%m%d")
    last = session.execute(
        select(db.Ticket.id).where(db.Ticket.id.like(f"{day}-%")).order_by(db.Ticket.id.desc()).limit(1)
    ).scalar()
    n = int(last.split("-")[1]) + 1 if last else 1
    return f"{day}-{n:06d}"


def _row(session: Any, ticket_id: str) -> Any:
    t = session.get(db.Ticket, ticket_id)
    if t is None:
        raise NotFound(f"no ticket {ticket_id}")
    return t


def create(
    *,
    idempotency_key: str,
    channel: str,
    sender_id: str,
    topic: str,
    summary: str,
    description: str = "",
    location: str | None = None,
    contact: str | None = None,
    transcript: Sequence[TranscriptLine] | None = None,
    handoff: bool = False,
    reason: str | None = None,
    kind: Kind | None = None,
    department: str | None = None,
    priority: Priority | None = None,
    attachments: list[dict[str, Any]] | None = None,
    sla_due_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """File a ticket; the same idempotency key always returns the first one (created=False)."""
    existing = get_by_key(idempotency_key)
    if existing is not None:
        return existing, False
    routed = route(topic)
    kind, priority = Kind(kind or routed.kind), Priority(priority or routed.priority)
    department = department or routed.department
    # stored as UTC: SQLite keeps the wall-clock time and drops the offset
    now = _utc(now) or db.utcnow()
    sla_due_at = _utc(sla_due_at) or now + timedelta(hours=sla_for(kind, priority, handoff).hours)
    for _attempt in range(20):
        try:
            with db.session() as s:
                ticket = db.Ticket(
                    id=_new_id(s, now),
                    idempotency_key=idempotency_key,
                    created_at=now,
                    updated_at=now,
                    sla_due_at=sla_due_at,
                    channel=str(channel),
                    sender_id=sender_id,
                    kind=kind.value,
                    topic=topic,
                    department=department,
                    priority=priority.value,
                    status=Status.NEW.value,
                    summary=" ".join(summary.split())[:SUMMARY_MAX],
                    description=description,
                    location=location,
                    contact=contact,
                    handoff=handoff,
                    reason=reason,
                    attachments=attachments or [],
                )
                for line in transcript or ():
                    ticket.transcript.append(
                        db.TranscriptEntry(
                            at=_utc(line.at) or now, sender=line.sender, text=line.text, agent=line.agent
                        )
                    )
                s.add(ticket)
                if settings.load().forward_url:
                    s.add(db.OutboxItem(ticket_id=ticket.id))
            log.info("ticket %s filed: %s %s %s", ticket.id, topic, department, priority)
            return get(ticket.id), True
        except IntegrityError:
            # either the id was taken by another process (retry with the next one) or the
            # same key was filed concurrently (return that one)
            existing = get_by_key(idempotency_key)
            if existing is not None:
                return existing, False
    raise TicketError("could not allocate a ticket id")


# ------------------------------------------------------------------------------------- reading
def get(ticket_id: str, *, masked: bool = False) -> Ticket:
    with db.session() as s:
        ticket = Ticket.from_row(_row(s, ticket_id))
    return ticket.masked() if masked else ticket


def get_by_key(key: str) -> Ticket | None:
    with db.session() as s:
        t = s.execute(select(db.Ticket).where(db.Ticket.idempotency_key == key)).scalar()
        return Ticket.from_row(t) if t else None


def find(ticket_id: str) -> Ticket | None:
    try:
        return get(ticket_id)
    except NotFound:
        return None


def query(
    *,
    status: str | None = None,
    department: str | None = None,
    priority: str | None = None,
    sender_id: str | None = None,
    order: str = "newest",
    limit: int = 200,
    offset: int = 0,
    masked: bool = False,
    with_transcript: bool = False,
) -> list[Ticket]:
    """Newest first (the contract), or `order="queue"`: priority, then oldest first.

    Each filter takes one value or several separated by commas (`status=new,claimed`).
    """
    with db.session() as s:
        q = select(db.Ticket)
        for col, value in (
            (db.Ticket.status, status),
            (db.Ticket.department, department),
            (db.Ticket.priority, priority),
            (db.Ticket.sender_id, sender_id),
        ):
            if value:
                q = q.where(col.in_([v.strip() for v in value.split(",") if v.strip()]))
        if order == "queue":
            q = q.order_by(db.Ticket.priority.asc(), db.Ticket.created_at.asc(), db.Ticket.id.asc())
        else:
            q = q.order_by(db.Ticket.created_at.desc(), db.Ticket.id.desc())
        if with_transcript:  # one query for all transcripts and notes, not one per ticket
            q = q.options(selectinload(db.Ticket.transcript), selectinload(db.Ticket.notes))
        rows = s.execute(q.offset(max(offset, 0)).limit(max(min(limit, 1000), 1))).scalars().all()
        found = [Ticket.from_row(t, with_transcript=with_transcript) for t in rows]
    return [t.masked() for t in found] if masked else found


def open_for_sender(sender_id: str, reasons: tuple[str, ...]) -> Ticket | None:
    """The citizen's newest open ticket that was filed for one of `reasons`."""
    with db.session() as s:
        t = s.execute(
            select(db.Ticket)
            .where(
                db.Ticket.sender_id == sender_id,
                db.Ticket.status != Status.CLOSED.value,
                db.Ticket.reason.in_(reasons),
            )
            .order_by(db.Ticket.created_at.desc())
            .limit(1)
        ).scalar()
        return Ticket.from_row(t) if t else None


# ------------------------------------------------------------------------------------- changes
def mark_handoff(ticket_id: str, reason: str) -> Ticket:
    """An existing ticket (a report just filed, a call-back) is now being talked over with a person."""
    with db.session() as s:
        t = _row(s, ticket_id)
        lifecycle.ensure_open(Status(t.status))
        t.handoff = True
        t.reason = reason
        t.updated_at = db.utcnow()
    return get(ticket_id)


def append(ticket_id: str, sender: Speaker, text: str, *, agent: str | None = None) -> TranscriptLine:
    """Add a line to the transcript (citizen, bot or agent)."""
    now = db.utcnow()
    with db.session() as s:
        t = _row(s, ticket_id)
        t.transcript.append(db.TranscriptEntry(at=now, sender=sender, text=text, agent=agent))
        t.updated_at = now
        if sender == "agent" and t.first_response_at is None:
            t.first_response_at = now
    return TranscriptLine(at=now, sender=sender, text=text, agent=agent)


def append_once(ticket_id: str, sender: Speaker, text: str) -> None:
    """Add a line unless it is already the last one (a retried action says the same thing twice)."""
    lines = get(ticket_id).transcript or ()
    if not lines or lines[-1].text != text:
        append(ticket_id, sender, text)


def add_attachment(ticket_id: str, attachment: Mapping[str, Any]) -> None:
    with db.session() as s:
        t = _row(s, ticket_id)
        t.attachments = [*(t.attachments or []), dict(attachment)]
        t.updated_at = db.utcnow()


def escalate(ticket_id: str, priority: Priority, reason: str) -> Ticket:
    """Raise a ticket's priority (a crisis during a handoff); never lowers it."""
    priority = Priority(priority)
    with db.session() as s:
        t = _row(s, ticket_id)
        if priority.rank < Priority(t.priority).rank:
            now = db.utcnow()
            t.priority = priority.value
            due = now + timedelta(hours=sla_for(Kind(t.kind), priority).hours)
            t.sla_due_at = min(db.aware(t.sla_due_at) or due, due)
            t.reason = texts.crisis_reason(reason) if reason in topics.CRISIS_INTENTS else reason
            if priority is Priority.P0:
                t.summary = texts.escalated_summary(t.summary)
            t.updated_at = now
    return get(ticket_id)


def set_reason(ticket_id: str, reason: str) -> Ticket:
    with db.session() as s:
        t = _row(s, ticket_id)
        t.reason, t.updated_at = reason, db.utcnow()
    return get(ticket_id)


def claim(ticket_id: str, agent: str) -> Ticket:
    with db.session() as s:
        t = _row(s, ticket_id)
        lifecycle.ensure_may_work_on(Status(t.status), t.claimed_by, agent)
        t.status, t.claimed_by = Status.CLAIMED.value, agent
        t.claimed_at = t.claimed_at or db.utcnow()
        t.updated_at = db.utcnow()
    return get(ticket_id)


def add_note(ticket_id: str, agent: str, text: str) -> Ticket:
    with db.session() as s:
        t = _row(s, ticket_id)
        t.notes.append(db.TicketNote(agent=agent, text=text))
        t.updated_at = db.utcnow()
    return get(ticket_id)


def close(ticket_id: str, agent: str, resolution: str, *, overrule: bool = False) -> Ticket:
    """Close with the resolution; `overrule` (a supervisor) closes a ticket another agent holds."""
    with db.session() as s:
        t = _row(s, ticket_id)
        lifecycle.ensure_may_close(Status(t.status), t.claimed_by, agent, overrule=overrule)
        now = db.utcnow()
        t.status, t.resolution, t.closed_at, t.updated_at = Status.CLOSED.value, resolution, now, now
        t.claimed_by = t.claimed_by or agent
    return get(ticket_id)


def rate(ticket_id: str, value: str, comment: str | None = None) -> Ticket:
    if value not in SATISFACTION:
        raise TicketError(f"satisfaction must be one of {SATISFACTION}")
    with db.session() as s:
        t = _row(s, ticket_id)
        t.satisfaction, t.satisfaction_comment = value, comment
        t.updated_at = db.utcnow()
    return get(ticket_id)
