"""What citizens think of the service: "有帮助吗" after an answer, a rating after a closed ticket,
and a comment (invited after a rating, or said unprompted).

A rating or comment lands on the citizen's own ticket and rating only: a ticket number or a
feedback id from someone else's conversation changes nothing. The feedback table is for the
supervision figures and is masked like a log; the ticket keeps the citizen's own words.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import tickets
from bot.core.privacy import mask
from bot.infra import db

COMMENT_CHARS = 2000  # a comment longer than this is cut; the ticket is not a place for essays


@dataclass(frozen=True)
class Who:
    channel: str
    sender_id: str


@dataclass(frozen=True)
class Rated:
    feedback_id: str  # what a following comment attaches to
    value: str  # one of tickets.SATISFACTION
    ticket: tickets.Ticket | None  # the citizen's own ticket that now holds the rating


def _own(ticket: tickets.Ticket | None, who: Who) -> tickets.Ticket | None:
    return ticket if ticket is not None and ticket.sender_id == who.sender_id else None


def rate_ticket(who: Who, ticket_id: str | None, value: str) -> Rated:
    """A rating (tickets.SATISFACTION) after a ticket was closed: on the ticket when it is the
    citizen's, and always as a feedback row."""
    ticket = tickets.find(ticket_id) if ticket_id else None
    own = _own(ticket, who)
    if own is not None:
        own = tickets.rate(own.id, value)
    with db.session() as s:
        row = db.Feedback(
            channel=who.channel,
            sender_id=who.sender_id,
            kind="ticket",
            value=value,
            topic=ticket.topic if ticket else None,
            department=ticket.department if ticket else None,
            ticket_id=ticket_id,
        )
        s.add(row)
        s.flush()
        feedback_id = str(row.id)
    return Rated(feedback_id, value, own)


def comment_on_rating(who: Who, feedback_id: int, comment: str) -> Rated | None:
    """The comment a rating invited; None when that rating is not this citizen's."""
    comment = comment[:COMMENT_CHARS]
    with db.session() as s:
        row = s.get(db.Feedback, feedback_id)
        if row is None or row.sender_id != who.sender_id:
            return None
        row.comment = mask(comment)
        ticket_id, value = row.ticket_id, row.value
    own = _own(tickets.find(ticket_id), who) if ticket_id else None
    if own is not None:
        own = tickets.rate(own.id, value, comment)
    return Rated(str(feedback_id), value, own)


def comment_unprompted(who: Who, comment: str) -> None:
    """A comment of its own, not tied to a rating."""
    with db.session() as s:
        s.add(
            db.Feedback(
                channel=who.channel,
                sender_id=who.sender_id,
                kind="comment",
                value="comment",
                comment=mask(comment[:COMMENT_CHARS]),
            )
        )


def helpful(who: Who, value: str, topic: str | None, department: str | None) -> None:
    """ "yes" or "no" to "有帮助吗？" after an answer on `topic`."""
    with db.session() as s:
        s.add(
            db.Feedback(
                channel=who.channel,
                sender_id=who.sender_id,
                kind="helpful",
                value=value,
                topic=topic,
                department=department,
            )
        )
