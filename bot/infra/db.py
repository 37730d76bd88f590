"""Durable records in SQL (SQLite by default, PostgreSQL in production) through SQLAlchemy.

Tickets, their transcript and notes, the audit trail of every outgoing message, satisfaction,
inbound message records for supervision, and the forwarding outbox. The schema is versioned
with Alembic (migrations/); `migrate()` brings any database to the latest revision.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, relationship, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.infra import settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:

    class Base:
        """What mypy sees of the declarative base. SQLAlchemy 1.4 ships no annotations, so
        `declarative_base()` is Any, and strict mode lets no class subclass Any."""

        metadata: Any
        __tablename__: str

        def __init__(self, **columns: Any) -> None: ...

else:
    Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ticket(Base):
    __tablename__ = "tickets"
    id = Column(String(32), primary_key=True)
    idempotency_key = Column(String(200), unique=True, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    sla_due_at = Column(DateTime(timezone=True), nullable=False)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(200), nullable=False, index=True)
    kind = Column(String(16), nullable=False)
    topic = Column(String(80), nullable=False)
    department = Column(String(64), nullable=False, index=True)
    priority = Column(String(4), nullable=False, index=True)
    status = Column(String(16), nullable=False, default="new", index=True)
    summary = Column(Text, nullable=False)
    description = Column(Text, nullable=False, default="")
    location = Column(Text, nullable=True)
    contact = Column(String(64), nullable=True)
    handoff = Column(Boolean, nullable=False, default=False)
    reason = Column(String(64), nullable=True)
    attachments = Column(JSON, nullable=False, default=list)
    claimed_by = Column(String(64), nullable=True)
    claimed_at = Column(DateTime(timezone=True), nullable=True)
    first_response_at = Column(DateTime(timezone=True), nullable=True)
    closed_at = Column(DateTime(timezone=True), nullable=True)
    resolution = Column(Text, nullable=True)
    satisfaction = Column(String(8), nullable=True)
    satisfaction_comment = Column(Text, nullable=True)
    transcript = relationship("TranscriptEntry", order_by="TranscriptEntry.id", cascade="all, delete-orphan")
    notes = relationship("TicketNote", order_by="TicketNote.id", cascade="all, delete-orphan")


class TranscriptEntry(Base):
    __tablename__ = "transcript_entries"
    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(32), ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    sender = Column("from", String(8), nullable=False)  # citizen | bot | agent
    text = Column(Text, nullable=False)
    agent = Column(String(64), nullable=True)


class TicketNote(Base):
    __tablename__ = "ticket_notes"
    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(32), ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    agent = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)


class AuditRecord(Base):
    """Every outgoing message (and every blocked one), for supervisors."""

    __tablename__ = "audit"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(200), nullable=False, index=True)
    response = Column(String(120), nullable=True)
    text = Column(Text, nullable=False)  # masked
    model_version = Column(String(120), nullable=True)
    agent = Column(String(64), nullable=True)
    ticket_id = Column(String(32), nullable=True)
    blocked = Column(Boolean, nullable=False, default=False)
    blocked_reason = Column(String(200), nullable=True)


class InboundRecord(Base):
    """One citizen message: what the bot understood (text masked), for reports and learning."""

    __tablename__ = "inbound"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(200), nullable=False, index=True)
    text = Column(Text, nullable=False)  # masked
    intent = Column(String(120), nullable=True)
    confidence = Column(Float, nullable=True)
    handled_by = Column(String(8), nullable=False, default="bot")  # bot | agent
    crisis = Column(String(32), nullable=True)


class Feedback(Base):
    """Satisfaction: 'helpful' after an answer, 'ticket' after a closed ticket."""

    __tablename__ = "feedback"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(200), nullable=False)
    kind = Column(String(16), nullable=False)  # helpful | ticket | comment (said unprompted)
    value = Column(String(16), nullable=False)
    topic = Column(String(80), nullable=True)
    department = Column(String(64), nullable=True)
    ticket_id = Column(String(32), nullable=True)
    comment = Column(Text, nullable=True)


class OutboxItem(Base):
    """Tickets to forward to an external system: written with the ticket, sent until acked."""

    __tablename__ = "outbox"
    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(32), nullable=False, unique=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    delivered_at = Column(DateTime(timezone=True), nullable=True)
    last_error = Column(Text, nullable=True)
    last_status = Column(Integer, nullable=True)  # HTTP status of the last attempt
    gave_up_at = Column(DateTime(timezone=True), nullable=True)  # refused (4xx): not retried


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Run on every new SQLite connection."""
    # WAL: the desk reads while the action server writes, from other processes
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives a process crash; only a power cut may lose the
    # last commits. Profiling (docs/performance.md) found the fsync of every audit
    # and inbound record among the largest costs of a turn. Production: PostgreSQL.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker] = {}


def engine(url: str | None = None) -> Engine:
    url = url or settings.load().sqlalchemy_url
    with _lock:
        if url not in _engines:
            # a server (PostgreSQL) may drop idle connections: check each one before use
            kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": not url.startswith("sqlite")}
            if url.startswith("sqlite"):
                Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
                # SQLAlchemy 1.4 gives file databases a NullPool: a new connection, and its four
                # PRAGMAs, for every session. That was 8.7 ms of every audit row (docs/performance.md);
                # pooled it is well under a millisecond. Connections are per thread of use only.
                kwargs["poolclass"] = QueuePool
                kwargs["pool_size"] = 5
                kwargs["max_overflow"] = 10
            eng = create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                event.listen(eng, "connect", _sqlite_pragmas)
            _engines[url] = eng
            _factories[url] = sessionmaker(bind=eng, future=True, expire_on_commit=False)
        return _engines[url]


@contextmanager
def session(url: str | None = None) -> Iterator[Session]:
    url = url or settings.load().sqlalchemy_url
    engine(url)
    s = _factories[url]()  # made once per engine: a sessionmaker per session was measurable
    try:
        yield s
        s.commit()
    except Exception:
        s.rollback()
        raise
    finally:
        s.close()


def dispose(url: str) -> None:
    """Close the pooled connections to a database that is going away (tests' throwaway files)."""
    with _lock:
        eng = _engines.pop(url, None)
        _factories.pop(url, None)
    if eng is not None:
        eng.dispose()


@overload
def aware(dt: datetime) -> datetime: ...
@overload
def aware(dt: None) -> None: ...
def aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def migrate(url: str | None = None) -> None:
    """Bring the database to the latest schema (Alembic), safe to call from every process."""
    from alembic import command
    from alembic.config import Config

    url = url or settings.load().sqlalchemy_url
    cfg = Config(str(settings.ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(settings.ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    for attempt in range(3):
        try:
            command.upgrade(cfg, "head")
            return
        except Exception:  # another process may be creating the same tables right now
            if attempt == 2:
                raise
            log.warning("schema migration raced with another process; retrying")
