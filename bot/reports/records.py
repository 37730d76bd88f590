"""What the report reads: the SQL records of a date range, as plain rows, and the range itself.

The running service writes these records anyway: `inbound` (every citizen message: channel,
masked text, intent, crisis), `audit` (every outgoing message, blocked ones included), `tickets`
and `feedback`. The rows are SQLAlchemy's plain rows, not ORM objects: a month of a city's
messages loads several times faster; the protocols below name the columns the report reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Protocol, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import city
from bot.infra import db

# the bot files a ticket and answers while handling a message; the inbound row of that message
# is written after the answer, so a conversation's records may precede its first inbound row
SLACK = timedelta(minutes=5)
ASK_SATISFACTION = "utter_ask_satisfaction"


class InboundRow(Protocol):
    """One citizen message (db.InboundRecord); the text is masked when stored."""

    id: int
    at: datetime
    channel: str
    sender_id: str
    text: str
    intent: str | None
    handled_by: str  # bot | agent
    crisis: str | None


class AuditRow(Protocol):
    """One outgoing message, or one blocked reply (db.AuditRecord)."""

    id: int
    at: datetime
    channel: str
    sender_id: str
    response: str | None
    agent: str | None
    blocked: bool
    blocked_reason: str | None


class FeedbackRow(Protocol):
    """A rating or a comment (db.Feedback)."""

    id: int
    at: datetime
    channel: str
    sender_id: str
    kind: str  # helpful | ticket | comment
    value: str
    topic: str | None
    comment: str | None


class TicketRow(Protocol):
    """A ticket (db.Ticket); status, kind and priority hold bot.core.vocabulary values."""

    id: str
    created_at: datetime
    sla_due_at: datetime
    channel: str
    sender_id: str
    kind: str
    topic: str
    department: str
    priority: str
    status: str
    handoff: bool
    reason: str | None
    claimed_by: str | None
    claimed_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    satisfaction: str | None
    satisfaction_comment: str | None


@dataclass(frozen=True)
class Records:
    """The records of [start, end): audit and feedback in the order they happened."""

    start: datetime
    end: datetime
    inbound: list[InboundRow]
    audit: list[AuditRow]
    feedback: list[FeedbackRow]
    created: list[TicketRow]  # tickets filed in the range
    closed: list[TicketRow]  # tickets closed in the range (their ratings count here)
    asks_after_close: list[AuditRow]  # "请评价" asks, up to SLACK past the end


# ---------------------------------------------------------------------------------------- time
def utc(dt: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite returns them naive)."""
    dt = db.aware(dt)
    return dt.astimezone(timezone.utc) if dt else None


def utc_of(dt: datetime) -> datetime:
    """A time the schema says is never empty, in UTC."""
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def local(dt: datetime, tz: tzinfo | None = None) -> datetime:
    return dt.astimezone(tz or city.timezone())


def bounds(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """[from, to) in UTC: dates are whole days in the city's time zone (both included)."""
    tz = city.timezone()

    def edge(value: date | datetime, is_end: bool) -> datetime:
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(timezone.utc)
        day = value + timedelta(days=1) if is_end else value
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)

    return edge(start, False), edge(end, True)


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 7 days, today included (city time zone)."""
    today = today or datetime.now(city.timezone()).date()
    return today - timedelta(days=6), today


# ---------------------------------------------------------------------------------------- read
@contextmanager
def _session(source: Session | str | None) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
        return
    with db.session(source) as s:
        yield s


def _in_order(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda r: (utc_of(r.at), r.id))


def read(source: Session | str | None, start: datetime, end: datetime) -> Records:
    """The records of [start, end) from a session, a database URL or DATABASE_URL (None)."""
    with _session(source) as s:

        def rows(model: Any, *where: Any) -> list[Any]:
            return list(s.execute(select(model.__table__).where(*where)).all())

        inbound = rows(db.InboundRecord, db.InboundRecord.at >= start, db.InboundRecord.at < end)
        audit = rows(db.AuditRecord, db.AuditRecord.at >= start, db.AuditRecord.at < end)
        feedback = rows(db.Feedback, db.Feedback.at >= start, db.Feedback.at < end)
        created = rows(db.Ticket, db.Ticket.created_at >= start, db.Ticket.created_at < end)
        closed = rows(db.Ticket, db.Ticket.closed_at >= start, db.Ticket.closed_at < end)
        # asks for a ticket rating come right after closure, possibly just past the range's end
        asks = rows(
            db.AuditRecord,
            db.AuditRecord.response == ASK_SATISFACTION,
            db.AuditRecord.at >= start,
            db.AuditRecord.at < end + SLACK,
        )
    return Records(
        start=start,
        end=end,
        inbound=cast(list[InboundRow], inbound),
        audit=cast(list[AuditRow], _in_order(audit)),
        feedback=cast(list[FeedbackRow], _in_order(feedback)),
        created=cast(list[TicketRow], created),
        closed=cast(list[TicketRow], closed),
        asks_after_close=cast(list[AuditRow], asks),
    )
