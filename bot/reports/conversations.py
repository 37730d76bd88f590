"""Conversations: citizen messages grouped per sender, with what happened in each.

A conversation ends after 30 minutes without a citizen message (口径说明: 会话). Tickets, the
bot's replies, its "有帮助吗？" asks and the citizens' ratings and comments are tied to the
conversation they belong to, so that outcomes (outcomes.py), containment and the answer ratings
are counted per conversation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core import topics
from bot.reports.records import SLACK, AuditRow, FeedbackRow, InboundRow, Records, TicketRow, utc_of

GAP = timedelta(minutes=30)
ASK_HELPFUL = "utter_ask_helpful"
FAQ_ANSWER = "utter_faq/"
FALLBACK_INTENT = "nlu_fallback"  # what the model says of a message it did not understand


@dataclass(frozen=True)
class Said:
    """A citizen message (the text masked when stored)."""

    at: datetime
    intent: str | None
    text: str
    by_bot: bool  # False: it went to a person (handled_by agent)


@dataclass(frozen=True)
class Reply:
    """A message the bot sent, by its approved response's name."""

    at: datetime
    response: str


@dataclass(frozen=True)
class Rating:
    """A citizen's rating or comment: kind helpful (value yes | no), ticket, or comment."""

    at: datetime
    kind: str
    value: str


@dataclass
class Conversation:
    """Built once by `build`, then only read."""

    sender_id: str
    channel: str
    start: datetime
    end: datetime
    messages: int = 0
    handoff: bool = False
    to_agent: bool = False  # a citizen message went to a person (handled_by agent)
    tickets: list[str] = field(default_factory=list)
    helpful_topic: str | None = None  # the FAQ answered before "有帮助吗？"
    helpful_offered: bool = False
    helpful_value: str | None = None
    crisis: bool = False  # a crisis message, or a crisis ticket filed or escalated in it
    filed: bool = False  # a ticket the bot filed by itself (a report, not a handoff)
    said: list[Said] = field(default_factory=list)  # in order
    replies: list[Reply] = field(default_factory=list)  # in order
    ratings: list[Rating] = field(default_factory=list)  # in order

    @property
    def escalated(self) -> bool:
        return self.handoff or self.to_agent


class Conversations:
    """Citizen messages grouped per sender by 30 minutes of inactivity, with a locator."""

    def __init__(self, inbound: list[InboundRow]) -> None:
        self.by_sender: dict[str, list[Conversation]] = defaultdict(list)
        for r in sorted(inbound, key=lambda r: (r.sender_id, utc_of(r.at))):
            at = utc_of(r.at)
            convs = self.by_sender[r.sender_id]
            if not convs or at - convs[-1].end > GAP:
                convs.append(Conversation(r.sender_id, r.channel, at, at))
            c = convs[-1]
            c.end = at
            c.messages += 1
            c.said.append(Said(at, r.intent, r.text or "", r.handled_by != "agent"))
            if r.handled_by == "agent":
                c.to_agent = True
            if is_crisis_message(r):
                c.crisis = True

    def all(self) -> list[Conversation]:
        return [c for convs in self.by_sender.values() for c in convs]

    def find(self, sender_id: str, at: datetime | None) -> Conversation | None:
        """The conversation a record at `at` belongs to (None: outside every conversation)."""
        if at is None:
            return None
        best = None
        for c in self.by_sender.get(sender_id, []):
            if c.start - SLACK <= at <= c.end + GAP:
                best = c  # the latest that covers it
        return best


def is_handoff(t: TicketRow) -> bool:
    """A ticket that put a person in the conversation (not a report the bot filed by itself)."""
    return bool(t.handoff) or (t.reason or "report") != "report"


def is_crisis_message(r: InboundRow) -> bool:
    """Found by the crisis lexicon, or understood by the model as a crisis."""
    return bool(r.crisis) or r.intent in topics.CRISIS_INTENTS


def is_crisis_ticket(t: TicketRow) -> bool:
    """Filed for a crisis, or escalated to one (reason crisis:<intent>)."""
    return (t.reason or "").startswith("crisis:") or t.topic in topics.CRISIS_INTENTS


def is_bot_message(a: AuditRow) -> bool:
    """A message the bot sent (not blocked, not an agent's, not a look at a ticket on the desk)."""
    return a.channel != "desk" and not a.blocked and not a.agent


def build(records: Records) -> Conversations:
    convs = Conversations(records.inbound)
    _link_tickets(convs, records.created)
    _link_helpful_asks(convs, records.audit)
    _link_helpful_answers(convs, records.feedback)
    _link_replies(convs, records.audit)
    _link_ratings(convs, records.feedback)
    return convs


def _link_tickets(convs: Conversations, created: list[TicketRow]) -> None:
    """Each ticket to the conversation in which it was filed."""
    for t in created:
        c = convs.find(t.sender_id, utc_of(t.created_at))
        if c is not None:
            c.tickets.append(t.id)
            if is_handoff(t):
                c.handoff = True
            else:
                c.filed = True
            if is_crisis_ticket(t):
                c.crisis = True


def _link_helpful_asks(convs: Conversations, audit: list[AuditRow]) -> None:
    """The first "有帮助吗？" of a conversation, with the FAQ the bot answered before it."""
    last_faq: dict[str, str] = {}
    for a in audit:
        if not is_bot_message(a):
            continue
        response = a.response or ""
        if response.startswith(FAQ_ANSWER):
            last_faq[a.sender_id] = "faq/" + response.split("/", 1)[1]
        elif response == ASK_HELPFUL:
            c = convs.find(a.sender_id, utc_of(a.at))
            if c is not None and not c.helpful_offered:
                c.helpful_offered = True
                c.helpful_topic = last_faq.get(a.sender_id)


def _link_helpful_answers(convs: Conversations, feedback: list[FeedbackRow]) -> None:
    for f in feedback:
        if f.kind != "helpful":
            continue
        c = convs.find(f.sender_id, utc_of(f.at))
        if c is not None and c.helpful_offered:
            c.helpful_value = f.value  # the last answer counts
            c.helpful_topic = c.helpful_topic or f.topic


def _link_replies(convs: Conversations, audit: list[AuditRow]) -> None:
    for a in audit:
        if is_bot_message(a) and a.response:
            at = utc_of(a.at)
            c = convs.find(a.sender_id, at)
            if c is not None:
                c.replies.append(Reply(at, a.response))


def _link_ratings(convs: Conversations, feedback: list[FeedbackRow]) -> None:
    for f in feedback:
        at = utc_of(f.at)
        c = convs.find(f.sender_id, at)
        if c is not None:
            c.ratings.append(Rating(at, f.kind, f.value))
