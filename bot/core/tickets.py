"""Tickets (工单): creation (idempotent), routing, SLA, the agent's life cycle, the API shape.

Routing comes from data/topics.yml (department) and the rules below (kind, priority); SLA
targets from data/sla.yml, which ops edit. Ids are `YYYYMMDD-NNNNNN` in the city's time zone,
unique across processes because the database's primary key decides (a clash retries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bot.core import city, topics
from bot.core.privacy import mask
from bot.infra import db, settings

log = logging.getLogger(__name__)

KINDS = ("consult", "help", "complaint", "report", "suggestion")
PRIORITIES = ("P0", "P1", "P2")
STATUSES = ("new", "claimed", "closed")
SATISFACTION = ("满意", "基本满意", "不满意")

# kind of ticket per intent; anything not listed: FAQ/deflect/core -> consult
TOPIC_KIND = {
    "report_wage_arrears": "help",
    "report_consumer": "complaint",
    "report_food_safety": "report",
    "report_noise": "complaint",
    "report_pollution": "report",
    "report_street_vending": "report",
    "report_facility_damage": "help",
    "report_property_management": "complaint",
    "report_taxi": "complaint",
    "report_utilities": "help",
    "suggestion": "suggestion",
    "self_harm": "help",
    "emergency": "help",
    "child_welfare": "help",
}
# crisis rules: CONTRACT.md defines P0 as "crisis", so every crisis intent is P0 (a child at
# risk included: it also goes to a person at once); a utilities outage affects many people: P1
TOPIC_PRIORITY = {"self_harm": "P0", "emergency": "P0", "child_welfare": "P0", "report_utilities": "P1"}
# why a conversation went to a person (tickets.reason), for the desk and the reports
REASONS = {
    "request_human": "市民要求人工",
    "fallback_offer": "两次未能理解，市民同意转人工",
    "report_discussion": "市民希望就所报事项与工作人员沟通",
    "after_hours_callback": "非人工服务时间，待回访",
    "report": "事项登记",
    "phone_callback": "渠道无法送达，改为电话回访",
}


def reason_text(reason: str | None) -> str | None:
    if not reason:
        return None
    if reason.startswith("crisis:"):
        t = topics.load().get(reason.split(":", 1)[1])
        return f"危机：{t.title}" if t else "危机"
    return REASONS.get(reason, reason)


SUMMARY_CHARS = 48


class TicketError(Exception):
    """A ticket operation that cannot be done (unknown id, wrong state)."""


@dataclass(frozen=True)
class Sla:
    hours: float
    text: str


@lru_cache(maxsize=2)
def _sla_table(path: str, mtime: float) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def sla_for(kind: str, priority: str, handoff: bool = False) -> Sla:
    """A priority entry wins; then, for a live handoff, the agent's first answer; then the kind."""
    p = settings.DATA / "sla.yml"
    table = _sla_table(str(p), p.stat().st_mtime)
    entry = (table.get("priority") or {}).get(priority)
    entry = entry or (table.get("handoff") if handoff else None) or (table.get("kind") or {}).get(kind)
    entry = entry or table.get("default") or {"hours": 24, "text": "1个工作日"}
    return Sla(hours=float(entry["hours"]), text=str(entry["text"]))


def callback_due(now: datetime | None = None) -> datetime:
    """When an after-hours call-back is due: the next opening of service hours plus the
    `callback` hours of sla.yml (city.yml's city_callback_promise says the same to citizens)."""
    p = settings.DATA / "sla.yml"
    table = _sla_table(str(p), p.stat().st_mtime)
    after = float((table.get("callback") or {}).get("hours_after_opening", 2))
    hours = city.profile().get("service_hours") or {}
    tz = city.timezone()
    local = (now or db.utcnow()).astimezone(tz)
    start = time.fromisoformat(str(hours.get("start", "08:00")))
    days = [int(d) for d in hours.get("weekdays", [1, 2, 3, 4, 5])] or [1, 2, 3, 4, 5]
    for ahead in range(0, 8):
        day = (local + timedelta(days=ahead)).date()
        opening = datetime.combine(day, start, tzinfo=tz)
        if day.isoweekday() in days and opening > local:
            return opening + timedelta(hours=after)
    return local + timedelta(hours=24 + after)


def route(topic: str) -> tuple[str, str, str]:
    """(kind, department, priority) for the intent that led to a ticket."""
    catalogue = topics.load()
    t = catalogue.get(topic)
    department = t.department if t else "hotline"
    kind = TOPIC_KIND.get(topic, "consult")
    priority = TOPIC_PRIORITY.get(topic, "P2")
    return kind, department, priority


def one_line(head: str, words: str = "", limit: int = SUMMARY_CHARS) -> str:
    """`head：“the citizen's words”` on one line, cut to what an agent reads in two seconds."""
    words = " ".join((words or "").split())
    if not words:
        return head[:limit]
    room = limit - len(head) - 3
    if room < 6:
        return head[:limit]
    quoted = words if len(words) <= room else words[: room - 1] + "…"
    return f"{head}：“{quoted}”"


def _new_id(session: Any, now: datetime) -> str:
    day = now.astimezone(city.timezone()).strftime("%Y%m%d")
    last = session.execute(
        select(db.Ticket.id).where(db.Ticket.id.like(f"{day}-%")).order_by(db.Ticket.id.desc()).limit(1)
    ).scalar()
    n = int(last.split("-")[1]) + 1 if last else 1
    return f"{day}-{n:06d}"


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
    transcript: list[dict[str, Any]] | None = None,
    handoff: bool = False,
    reason: str | None = None,
    kind: str | None = None,
    department: str | None = None,
    priority: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    sla_due_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """File a ticket; the same idempotency key always returns the first one (created=False)."""
    existing = get_by_key(idempotency_key)
    if existing is not None:
        return existing, False
    r_kind, r_dept, r_prio = route(topic)
    kind, department, priority = kind or r_kind, department or r_dept, priority or r_prio
    # stored as UTC: SQLite keeps the wall-clock time and drops the offset
    now = _utc(now) or db.utcnow()
    sla_due_at = _utc(sla_due_at)
    sla = sla_for(kind, priority, handoff)
    for _attempt in range(20):
        try:
            with db.session() as s:
                ticket = db.Ticket(
                    id=_new_id(s, now),
                    idempotency_key=idempotency_key,
                    created_at=now,
                    updated_at=now,
                    sla_due_at=sla_due_at or now + timedelta(hours=sla.hours),
                    channel=channel,
                    sender_id=sender_id,
                    kind=kind,
                    topic=topic,
                    department=department,
                    priority=priority,
                    status="new",
                    summary=" ".join(summary.split())[:200],
                    description=description,
                    location=location,
                    contact=contact,
                    handoff=handoff,
                    reason=reason,
                    attachments=attachments or [],
                )
                for entry in transcript or []:
                    ticket.transcript.append(
                        db.TranscriptEntry(
                            at=_parse_at(entry.get("at")) or now,
                            sender=entry.get("from", "citizen"),
                            text=str(entry.get("text", "")),
                            agent=entry.get("agent"),
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


def _utc(dt: datetime | None) -> datetime | None:
    return db.aware(dt).astimezone(timezone.utc) if dt else None


def _parse_at(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str) and value:
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _iso(dt: datetime | None) -> str | None:
    dt = db.aware(dt)
    return dt.astimezone(city.timezone()).isoformat(timespec="seconds") if dt else None


def to_dict(t: db.Ticket, *, masked: bool = False, with_transcript: bool = True) -> dict[str, Any]:
    """The contract's JSON shape; `masked` for list views, audit and reports."""
    m = mask if masked else (lambda x: x)
    out: dict[str, Any] = {
        "id": t.id,
        "created_at": _iso(t.created_at),
        "updated_at": _iso(t.updated_at),
        "sla_due_at": _iso(t.sla_due_at),
        "channel": t.channel,
        "sender_id": t.sender_id,
        "kind": t.kind,
        "topic": t.topic,
        "department": t.department,
        "department_name": topics.load().department_name(t.department),
        "priority": t.priority,
        "status": t.status,
        "summary": m(t.summary),
        "description": m(t.description),
        "location": m(t.location) if t.location else t.location,
        "contact": m(t.contact) if t.contact else t.contact,
        "handoff": bool(t.handoff),
        "reason": t.reason,
        "reason_text": reason_text(t.reason),
        "attachments": t.attachments or [],
        "claimed_by": t.claimed_by,
        "claimed_at": _iso(t.claimed_at),
        "first_response_at": _iso(t.first_response_at),
        "closed_at": _iso(t.closed_at),
        "resolution": t.resolution,
        "satisfaction": t.satisfaction,
        "satisfaction_comment": t.satisfaction_comment,
    }
    if with_transcript:
        out["transcript"] = [
            {"at": _iso(e.at), "from": e.sender, "text": m(e.text), **({"agent": e.agent} if e.agent else {})}
            for e in t.transcript
        ]
        out["notes"] = [{"at": _iso(n.at), "agent": n.agent, "text": n.text} for n in t.notes]
    return out


def get(ticket_id: str, *, masked: bool = False) -> dict[str, Any]:
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        return to_dict(t, masked=masked)


def get_by_key(key: str) -> dict[str, Any] | None:
    with db.session() as s:
        t = s.execute(select(db.Ticket).where(db.Ticket.idempotency_key == key)).scalar()
        return to_dict(t) if t else None


def find(ticket_id: str) -> dict[str, Any] | None:
    try:
        return get(ticket_id)
    except TicketError:
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
) -> list[dict[str, Any]]:
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
        return [to_dict(t, masked=masked, with_transcript=with_transcript) for t in rows]


def open_for_sender(sender_id: str, reasons: tuple[str, ...]) -> dict[str, Any] | None:
    """The citizen's newest ticket that is not closed and was filed for one of `reasons`."""
    with db.session() as s:
        t = s.execute(
            select(db.Ticket)
            .where(db.Ticket.sender_id == sender_id, db.Ticket.status != "closed", db.Ticket.reason.in_(reasons))
            .order_by(db.Ticket.created_at.desc())
            .limit(1)
        ).scalar()
        return to_dict(t) if t else None


def mark_handoff(ticket_id: str, reason: str) -> dict[str, Any]:
    """An existing ticket (a report just filed, a call-back) is now being talked over with a person."""
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        if t.status == "closed":
            raise TicketError("ticket is closed")
        t.handoff = True
        t.reason = reason
        t.updated_at = db.utcnow()
    return get(ticket_id)


def append(ticket_id: str, sender: str, text: str, *, agent: str | None = None) -> dict[str, Any]:
    """Add a line to the transcript (citizen, bot or agent)."""
    now = db.utcnow()
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        t.transcript.append(db.TranscriptEntry(at=now, sender=sender, text=text, agent=agent))
        t.updated_at = now
        if sender == "agent" and t.first_response_at is None:
            t.first_response_at = now
    return {"at": _iso(now), "from": sender, "text": text, **({"agent": agent} if agent else {})}


def add_attachment(ticket_id: str, attachment: dict[str, Any]) -> None:
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        t.attachments = [*(t.attachments or []), attachment]
        t.updated_at = db.utcnow()


def escalate(ticket_id: str, priority: str, reason: str) -> dict[str, Any]:
    """Raise a ticket's priority (a crisis during a handoff); never lowers it."""
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        if PRIORITIES.index(priority) < PRIORITIES.index(t.priority):
            t.priority = priority
            now = db.utcnow()
            t.sla_due_at = min(db.aware(t.sla_due_at), now + timedelta(hours=sla_for(t.kind, priority).hours))
            t.reason = f"crisis:{reason}" if reason in topics.CRISIS_INTENTS else reason
            if priority == "P0" and not t.summary.startswith("【危机"):
                t.summary = "【危机升级】" + t.summary  # the agent must see it at a glance
            t.updated_at = now
    return get(ticket_id)


def set_reason(ticket_id: str, reason: str) -> dict[str, Any]:
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        t.reason, t.updated_at = reason, db.utcnow()
    return get(ticket_id)


def claim(ticket_id: str, agent: str) -> dict[str, Any]:
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        if t.status == "closed":
            raise TicketError("ticket is closed")
        if t.status == "claimed" and t.claimed_by != agent:
            raise TicketError(f"ticket already claimed by {t.claimed_by}")
        t.status, t.claimed_by = "claimed", agent
        t.claimed_at = t.claimed_at or db.utcnow()
        t.updated_at = db.utcnow()
    return get(ticket_id)


def add_note(ticket_id: str, agent: str, text: str) -> dict[str, Any]:
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        t.notes.append(db.TicketNote(agent=agent, text=text))
        t.updated_at = db.utcnow()
    return get(ticket_id)


def close(ticket_id: str, agent: str, resolution: str) -> dict[str, Any]:
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        if t.status == "closed":
            raise TicketError("ticket is already closed")
        now = db.utcnow()
        t.status, t.resolution, t.closed_at, t.updated_at = "closed", resolution, now, now
        t.claimed_by = t.claimed_by or agent
    return get(ticket_id)


def rate(ticket_id: str, value: str, comment: str | None = None) -> dict[str, Any]:
    if value not in SATISFACTION:
        raise TicketError(f"satisfaction must be one of {SATISFACTION}")
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        if t is None:
            raise TicketError(f"no ticket {ticket_id}")
        t.satisfaction, t.satisfaction_comment = value, comment
        t.updated_at = db.utcnow()
    return get(ticket_id)


def status_text(ticket: dict[str, Any]) -> str:
    """One line for the citizen (check_ticket_status)."""
    dept = ticket.get("department_name") or ticket["department"]
    if ticket["status"] == "closed":
        return f"已办结（{dept}），处理结果：{ticket.get('resolution') or '已答复'}"
    if ticket["status"] == "claimed":
        return f"正在办理中，已由{dept}工作人员受理"
    return f"已登记，等待{dept}受理，预计 {_iso(db.aware(datetime.fromisoformat(ticket['sla_due_at'])))[:16].replace('T', ' ')} 前答复"
