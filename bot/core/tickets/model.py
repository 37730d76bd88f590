"""A ticket (工单) as the core hands it to the actions, the channels and the desk, and its JSON
as the API returns it (CONTRACT.md "Ticket").

Values are the vocabulary's enums (bot/core/vocabulary.py); times are aware datetimes (UTC as
stored), written as ISO 8601 in the city's time zone only at the edge, by `to_json()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal, cast

from bot.core import topics
from bot.core.privacy import mask
from bot.core.tickets import lifecycle, texts
from bot.core.tickets.timefmt import iso
from bot.core.vocabulary import Channel, Kind, Priority, Status
from bot.infra import db

# who said a transcript line (the JSON's "from")
Speaker = Literal["citizen", "bot", "agent"]
SATISFACTION = ("满意", "基本满意", "不满意")


def _aware(dt: datetime | None) -> datetime:
    """A time read from a NOT NULL column (SQLite hands it back without its zone)."""
    out = db.aware(dt)
    return out if out is not None else datetime.fromtimestamp(0, tz=timezone.utc)


def _channel(value: str) -> Channel | str:
    """A known channel as its enum; any other name (a channel added without one) stays readable."""
    try:
        return Channel(value)
    except ValueError:
        return value


def _masked(text: str | None) -> str | None:
    return mask(text) if text else text


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    sender: Speaker
    text: str
    agent: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "from": self.sender,
            "text": self.text,
            **({"agent": self.agent} if self.agent else {}),
        }


@dataclass(frozen=True)
class Note:
    """An agent's internal note (the citizen never sees it)."""

    at: datetime
    agent: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "agent": self.agent, "text": self.text}


@dataclass(frozen=True)
class Ticket:
    id: str
    created_at: datetime
    updated_at: datetime
    sla_due_at: datetime
    channel: Channel | str
    sender_id: str
    kind: Kind
    topic: str
    department: str
    priority: Priority
    status: Status
    summary: str
    description: str
    location: str | None
    contact: str | None
    handoff: bool
    reason: str | None
    attachments: tuple[Mapping[str, Any], ...]
    claimed_by: str | None
    claimed_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    satisfaction: str | None
    satisfaction_comment: str | None
    # None: not loaded (list views ask for the ticket without them)
    transcript: tuple[TranscriptLine, ...] | None = None
    notes: tuple[Note, ...] | None = None

    @property
    def is_open(self) -> bool:
        return lifecycle.is_open(self.status)

    @property
    def department_name(self) -> str:
        return topics.load().department_name(self.department)

    @property
    def reason_text(self) -> str | None:
        return texts.reason_text(self.reason)

    def masked(self) -> Ticket:
        """Phone and ID numbers masked, as wherever a ticket is displayed or logged (CONTRACT.md)."""
        return replace(
            self,
            summary=mask(self.summary),
            description=mask(self.description),
            location=_masked(self.location),
            contact=_masked(self.contact),
            resolution=_masked(self.resolution),
            transcript=None
            if self.transcript is None
            else tuple(replace(e, text=mask(e.text)) for e in self.transcript),
            notes=None if self.notes is None else tuple(replace(n, text=mask(n.text)) for n in self.notes),
        )

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON, as GET /api/tickets/{id} returns it."""
        out: dict[str, Any] = {
            "id": self.id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "sla_due_at": iso(self.sla_due_at),
            "channel": str(self.channel),
            "sender_id": self.sender_id,
            "kind": self.kind.value,
            "topic": self.topic,
            "department": self.department,
            "department_name": self.department_name,
            "priority": self.priority.value,
            "status": self.status.value,
            "summary": self.summary,
            "description": self.description,
            "location": self.location,
            "contact": self.contact,
            "handoff": self.handoff,
            "reason": self.reason,
            "reason_text": self.reason_text,
            "attachments": [dict(a) for a in self.attachments],
            "claimed_by": self.claimed_by,
            "claimed_at": iso(self.claimed_at),
            "first_response_at": iso(self.first_response_at),
            "closed_at": iso(self.closed_at),
            "resolution": self.resolution,
            "satisfaction": self.satisfaction,
            "satisfaction_comment": self.satisfaction_comment,
        }
        if self.transcript is not None:
            out["transcript"] = [e.to_json() for e in self.transcript]
        if self.notes is not None:
            out["notes"] = [n.to_json() for n in self.notes]
        return out

    def __getitem__(self, field: str) -> Any:
        """The JSON's value by name (`ticket["id"]`), for callers that still read a ticket as the
        API's JSON (channels/wechat.py, tests of the channels and reports); new code reads attributes."""
        return self.to_json()[field]

    @classmethod
    def from_row(cls, t: Any, *, with_transcript: bool = True) -> Ticket:
        """From a `db.Ticket` row, inside its session (the transcript and notes load lazily)."""
        return cls(
            id=t.id,
            created_at=_aware(t.created_at),
            updated_at=_aware(t.updated_at),
            sla_due_at=_aware(t.sla_due_at),
            channel=_channel(t.channel),
            sender_id=t.sender_id,
            kind=Kind(t.kind),
            topic=t.topic,
            department=t.department,
            priority=Priority(t.priority),
            status=Status(t.status),
            summary=t.summary,
            description=t.description or "",
            location=t.location,
            contact=t.contact,
            handoff=bool(t.handoff),
            reason=t.reason,
            attachments=tuple(t.attachments or ()),
            claimed_by=t.claimed_by,
            claimed_at=db.aware(t.claimed_at),
            first_response_at=db.aware(t.first_response_at),
            closed_at=db.aware(t.closed_at),
            resolution=t.resolution,
            satisfaction=t.satisfaction,
            satisfaction_comment=t.satisfaction_comment,
            transcript=tuple(_line(e) for e in t.transcript) if with_transcript else None,
            notes=tuple(Note(at=_aware(n.at), agent=n.agent, text=n.text) for n in t.notes)
            if with_transcript
            else None,
        )


def _line(e: Any) -> TranscriptLine:
    return TranscriptLine(at=_aware(e.at), sender=cast(Speaker, e.sender), text=e.text, agent=e.agent)
