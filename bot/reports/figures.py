"""The figures of the supervision report (监督评价报告), as typed values, and how each is counted.

`compute()` is a pure function of the database and the date range (the tests call it): it reads
the records (records.py), groups the citizen messages into conversations (conversations.py) and
computes one figure group per function below. What each figure means is printed in the report
(definitions.py), so that anyone can recompute it from the records.
Personal data: texts are masked again here (privacy.mask); no sender id leaves the package.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import Enum

from sqlalchemy.orm import Session

from bot.core import city, topics
from bot.core import tickets as ticket_rules
from bot.core.privacy import mask
from bot.core.vocabulary import KIND_LABELS, Priority, Status
from bot.infra import db
from bot.reports import conversations as conv
from bot.reports.conversations import (
    FALLBACK_INTENT,
    Conversation,
    Conversations,
    is_bot_message,
    is_crisis_message,
    is_crisis_ticket,
    is_handoff,
)
from bot.reports.outcomes import Outcomes, count_outcomes, deflect_intents
from bot.reports.questions import QuestionGroup, group_questions
from bot.reports.rates import ratio
from bot.reports.records import SLACK, Records, TicketRow, bounds, local, read, utc, utc_of

SATISFIED = ("满意", "基本满意")
SATISFACTION_VALUES = ("满意", "基本满意", "不满意")
UNRECOGNISED = "（未识别）"
NO_DEPARTMENT = "（未关联部门）"
NO_TOPIC = "（未关联主题）"


class SlaState(str, Enum):
    """A ticket's first answer against its deadline (sla_due_at)."""

    KEPT = "kept"
    MISSED = "missed"
    PENDING = "pending"  # not answered, not yet due

    def __str__(self) -> str:
        return self.value


SLA_LABELS: dict[str, str] = {SlaState.KEPT: "按时", SlaState.MISSED: "超时", SlaState.PENDING: "未到期"}


# ---------------------------------------------------------------------------------- the figures
@dataclass(frozen=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True)
class Durations:
    """Minutes: how many, and their median, mean and maximum (None when there are none)."""

    n: int
    median_min: float | None
    mean_min: float | None
    max_min: float | None


@dataclass(frozen=True)
class Period:
    first_day: date  # city time zone, included
    last_day: date  # included
    start_utc: datetime
    end_utc: datetime  # excluded
    generated_at: datetime  # city time
    timezone: str


@dataclass(frozen=True)
class Volume:
    """服务量: conversations and messages by channel and by hour (city time)."""

    conversations: int
    citizen_messages: int
    bot_messages: int
    agent_messages: int
    conversations_by_channel: Mapping[str, int]
    messages_by_channel: Mapping[str, int]
    bot_messages_by_channel: Mapping[str, int]
    messages_by_hour: tuple[int, ...]  # 24 hours
    conversations_by_hour: Mapping[str, tuple[int, ...]]  # by channel, then 24 hours
    top_intents: tuple[Count, ...]


@dataclass(frozen=True)
class ChannelContainment:
    conversations: int
    contained: int
    containment: float | None


@dataclass(frozen=True)
class Containment:
    """Conversations that no person had to join, and those that went to one (转人工率). Not
    独立解决率: a conversation the bot did not understand was not handed on either (outcomes.py)."""

    conversations: int
    contained: int
    escalated: int
    rate: float | None
    by_channel: Mapping[str, ChannelContainment]

    @property
    def escalated_rate(self) -> float | None:
        return ratio(self.escalated, self.conversations)


@dataclass(frozen=True)
class HandoffReason:
    reason: str
    text: str
    count: int


@dataclass(frozen=True)
class Handoffs:
    total: int
    reasons: tuple[HandoffReason, ...]  # the most frequent first


@dataclass(frozen=True)
class DepartmentCount:
    department: str
    name: str
    count: int


@dataclass(frozen=True)
class KindCount:
    kind: str
    name: str
    count: int


@dataclass(frozen=True)
class Tickets:
    """工单 filed in the range, by department, kind, priority and status."""

    total: int
    handoff: int
    filed_by_bot: int
    by_department: tuple[DepartmentCount, ...]
    by_kind: tuple[KindCount, ...]
    by_priority: Mapping[Priority, int]  # every priority, P0 first
    by_status: Mapping[Status, int]  # every status, in the order of a ticket's life


@dataclass(frozen=True)
class SlaSummary:
    kept: int
    missed: int
    pending: int
    kept_rate: float | None

    @property
    def n(self) -> int:
        """What the rate is of: the tickets answered, in time or not."""
        return self.kept + self.missed


@dataclass(frozen=True)
class Sla:
    """办理时限: the tickets filed in the range, overall and by priority, department and type."""

    overall: SlaSummary
    by_department: Mapping[str, SlaSummary]
    by_priority: Mapping[str, SlaSummary]
    by_type: Mapping[str, SlaSummary]  # handoff | report


@dataclass(frozen=True)
class AgentTimes:
    agent: str
    tickets: int
    replied: int
    closed: int
    claim_wait: Durations
    first_response: Durations
    resolution: Durations


@dataclass(frozen=True)
class Agents:
    rows: tuple[AgentTimes, ...]  # by name
    first_response: Durations  # every ticket of the range
    resolution: Durations


@dataclass(frozen=True)
class AnswerRatings:
    """ "有帮助吗？" after an answer: asked once per conversation at most."""

    offered: int
    rated: int
    participation: float | None
    yes: int
    no: int
    helpful: float | None


@dataclass(frozen=True)
class TicketRatings:
    """The rating asked after a ticket is closed."""

    offered: int
    rated: int
    participation: float | None
    by_value: Mapping[str, int]  # 满意, 基本满意, 不满意: every value, in that order
    satisfaction: float | None


@dataclass(frozen=True)
class RatedGroup:
    name: str  # the topic's title or the department's name
    answers: AnswerRatings
    tickets: TicketRatings


@dataclass(frozen=True)
class Satisfaction:
    """满意度与参评率, overall and by topic and department (keys: ids; "-" for none)."""

    offered: int
    rated: int
    participation: float | None
    answers: AnswerRatings
    tickets: TicketRatings
    by_topic: Mapping[str, RatedGroup]
    by_department: Mapping[str, RatedGroup]


@dataclass(frozen=True)
class Comment:
    """市民意见, masked: with a ticket rating, or said about the service unprompted (no ticket)."""

    ticket_id: str | None
    department: str
    value: str
    comment: str


@dataclass(frozen=True)
class Deflection:
    intent: str
    title: str
    messages: int
    conversations: int


@dataclass(frozen=True)
class Deflections:
    total: int
    by_category: tuple[Deflection, ...]


@dataclass(frozen=True)
class CrisisTicket:
    id: str
    type: str  # the crisis intent
    priority: Priority
    department: str  # its name
    status: Status
    first_response_min: float | None
    sla: SlaState


@dataclass(frozen=True)
class Crises:
    messages: int
    by_type: Mapping[str, int]
    detected_by: Mapping[str, int]  # 词库 (the lexicon) | 模型 (the model)
    conversations: int
    tickets: tuple[CrisisTicket, ...]
    escalated: int


@dataclass(frozen=True)
class BlockedReplies:
    """Replies the output guard stopped (each replaced by the safe answer)."""

    bot_messages: int
    blocked: int
    rate: float | None
    by_reason: tuple[Count, ...]
    by_channel: Mapping[str, int]


@dataclass(frozen=True)
class Unanswered:
    total: int
    share_of_messages: float | None  # of `handled`
    handled: int  # the citizen messages the bot handled
    groups: tuple[QuestionGroup, ...]


@dataclass(frozen=True)
class Figures:
    period: Period
    volume: Volume
    outcomes: Outcomes
    containment: Containment
    handoffs: Handoffs
    tickets: Tickets
    sla: Sla
    agents: Agents
    satisfaction: Satisfaction
    comments: tuple[Comment, ...]
    deflections: Deflections
    crises: Crises
    blocked_replies: BlockedReplies
    unanswered: Unanswered


# ---------------------------------------------------------------------------------------- compute
@dataclass(frozen=True)
class _Day:
    """What every figure group reads."""

    records: Records
    locate: Conversations
    conversations: list[Conversation]
    catalogue: topics.Catalogue
    now: datetime
    tz: tzinfo
    ticket_offers: list[TicketRow]  # closed tickets whose citizen was asked to rate them


def compute(
    source: Session | str | None,
    start: date | datetime,
    end: date | datetime,
    *,
    now: datetime | None = None,
) -> Figures:
    """All the figures of the report for [start, end] (dates: whole days, city time zone)."""
    t0, t1 = bounds(start, end)
    catalogue = topics.load()
    records = read(source, t0, t1)
    convs = conv.build(records)
    day = _Day(
        records=records,
        locate=convs,
        conversations=convs.all(),
        catalogue=catalogue,
        now=utc(now) or db.utcnow(),
        tz=city.timezone(),  # once: reading it means reading the settings and the city file
        ticket_offers=_asked_to_rate(records),
    )
    return Figures(
        period=_period(day),
        volume=_volume(day),
        outcomes=count_outcomes(day.conversations, deflect_intents(catalogue)),
        containment=_containment(day),
        handoffs=_handoffs(day),
        tickets=_tickets(day),
        sla=_sla(day),
        agents=_agents(day),
        satisfaction=_satisfaction(day),
        comments=_comments(day),
        deflections=_deflections(day),
        crises=_crises(day),
        blocked_replies=_blocked_replies(day),
        unanswered=_unanswered(day),
    )


# ---------------------------------------------------------------------------------------- helpers
_rate = ratio


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0) / 60.0


def _durations(values: Iterable[float | None]) -> Durations:
    vals = [v for v in values if v is not None]
    if not vals:
        return Durations(0, None, None, None)
    return Durations(
        len(vals), round(statistics.median(vals), 2), round(statistics.fmean(vals), 2), round(max(vals), 2)
    )


def _count(rows: Counter[str]) -> tuple[Count, ...]:
    """The most frequent first, then by key."""
    return tuple(Count(k, n) for k, n in sorted(rows.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _dept_name(cat: topics.Catalogue, dept: str | None) -> str:
    return cat.department_name(dept) if dept else NO_DEPARTMENT


def topic_title(cat: topics.Catalogue, topic: str | None) -> str:
    if not topic:
        return NO_TOPIC
    t = cat.get(topic)
    return t.title if t else topic


# ------------------------------------------------------------------------------ period and volume
def _period(day: _Day) -> Period:
    t0, t1 = day.records.start, day.records.end
    return Period(
        first_day=local(t0, day.tz).date(),
        last_day=(local(t1, day.tz) - timedelta(seconds=1)).date(),
        start_utc=t0,
        end_utc=t1,
        generated_at=local(day.now, day.tz),
        timezone=str(day.tz),
    )


def _volume(day: _Day) -> Volume:
    inbound, audit = day.records.inbound, day.records.audit
    by_hour = Counter(local(utc_of(r.at), day.tz).hour for r in inbound)
    conv_by_hour: dict[str, list[int]] = {}
    for c in day.conversations:
        conv_by_hour.setdefault(c.channel, [0] * 24)[local(c.start, day.tz).hour] += 1
    bot_by_channel = Counter(a.channel for a in audit if is_bot_message(a))
    intents = Counter(r.intent or UNRECOGNISED for r in inbound if r.handled_by == "bot")
    return Volume(
        conversations=len(day.conversations),
        citizen_messages=len(inbound),
        bot_messages=sum(bot_by_channel.values()),
        agent_messages=sum(
            1 for a in audit if a.channel != "desk" and not a.blocked and a.agent and a.response is None
        ),
        conversations_by_channel=dict(sorted(Counter(c.channel for c in day.conversations).items())),
        messages_by_channel=dict(sorted(Counter(r.channel for r in inbound).items())),
        bot_messages_by_channel=dict(sorted(bot_by_channel.items())),
        messages_by_hour=tuple(by_hour.get(h, 0) for h in range(24)),
        conversations_by_hour={ch: tuple(v) for ch, v in sorted(conv_by_hour.items())},
        top_intents=_count(intents)[:15],
    )


# ------------------------------------------------------------------ containment, handoffs, tickets
def _containment(day: _Day) -> Containment:
    convs = day.conversations
    escalated = Counter(c.channel for c in convs if c.escalated)
    per_channel = Counter(c.channel for c in convs)
    return Containment(
        conversations=len(convs),
        contained=len(convs) - escalated.total(),
        escalated=escalated.total(),
        rate=_rate(len(convs) - escalated.total(), len(convs)),
        by_channel={
            ch: ChannelContainment(n, n - escalated[ch], _rate(n - escalated[ch], n))
            for ch, n in sorted(per_channel.items())
        },
    )


def _handoffs(day: _Day) -> Handoffs:
    reasons = Counter(t.reason or "request_human" for t in day.records.created if is_handoff(t))
    return Handoffs(
        total=reasons.total(),
        reasons=tuple(
            HandoffReason(k, ticket_rules.reason_text(k) or k, n)
            for k, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
    )


def _tickets(day: _Day) -> Tickets:
    created, cat = day.records.created, day.catalogue
    handoffs = sum(1 for t in created if is_handoff(t))
    return Tickets(
        total=len(created),
        handoff=handoffs,
        filed_by_bot=len(created) - handoffs,
        by_department=tuple(
            DepartmentCount(d.key, _dept_name(cat, d.key), d.count)
            for d in _count(Counter(t.department for t in created))
        ),
        by_kind=tuple(
            KindCount(k.key, KIND_LABELS.get(k.key, k.key), k.count) for k in _count(Counter(t.kind for t in created))
        ),
        by_priority={p: sum(1 for t in created if t.priority == p) for p in Priority},
        by_status={st: sum(1 for t in created if t.status == st) for st in Status},
    )


# -------------------------------------------------------------------------------- SLA and agents
def sla_state(t: TicketRow, now: datetime) -> SlaState:
    due = utc_of(t.sla_due_at)
    answered = [x for x in (utc(t.first_response_at), utc(t.closed_at)) if x is not None]
    if answered:
        return SlaState.KEPT if min(answered) <= due else SlaState.MISSED
    return SlaState.MISSED if now > due else SlaState.PENDING


def _sla_summary(states: Iterable[SlaState]) -> SlaSummary:
    n = Counter(states)
    kept, missed = n[SlaState.KEPT], n[SlaState.MISSED]
    return SlaSummary(kept, missed, n[SlaState.PENDING], _rate(kept, kept + missed))


def _sla(day: _Day) -> Sla:
    states = [(t, sla_state(t, day.now)) for t in day.records.created]

    def by(key: Callable[[TicketRow], str]) -> dict[str, SlaSummary]:
        groups: dict[str, list[SlaState]] = defaultdict(list)
        for t, state in states:
            groups[key(t)].append(state)
        return {k: _sla_summary(v) for k, v in sorted(groups.items())}

    return Sla(
        overall=_sla_summary(s for _, s in states),
        by_department=by(lambda t: t.department),
        by_priority=by(lambda t: t.priority),
        by_type=by(lambda t: "handoff" if is_handoff(t) else "report"),
    )


def _agents(day: _Day) -> Agents:
    created = day.records.created
    by_agent: dict[str, list[TicketRow]] = defaultdict(list)
    for t in created:
        if t.claimed_by:
            by_agent[t.claimed_by].append(t)

    def since_filed(ts: list[TicketRow], when: Callable[[TicketRow], datetime | None]) -> Durations:
        return _durations(_minutes(utc(t.created_at), utc(when(t))) for t in ts)

    rows = tuple(
        AgentTimes(
            agent=name,
            tickets=len(ts),
            replied=sum(1 for t in ts if t.first_response_at is not None),
            closed=sum(1 for t in ts if t.closed_at),
            claim_wait=since_filed(ts, lambda t: t.claimed_at),
            first_response=since_filed(ts, lambda t: t.first_response_at),
            resolution=since_filed(ts, lambda t: t.closed_at),
        )
        for name, ts in sorted(by_agent.items())
    )
    return Agents(
        rows=rows,
        first_response=since_filed(created, lambda t: t.first_response_at),
        resolution=since_filed(created, lambda t: t.closed_at),
    )


# ---------------------------------------------------------------------------------- satisfaction
def _asked_to_rate(records: Records) -> list[TicketRow]:
    """Closed tickets whose citizen was asked to rate (a rating proves the ask, audited or not)."""
    asks: dict[str, list[datetime]] = defaultdict(list)
    for a in records.asks_after_close:
        if not a.blocked:
            asks[a.sender_id].append(utc_of(a.at))
    offered = []
    for t in records.closed:
        closed_at = utc_of(t.closed_at) if t.closed_at else None
        asked = closed_at is not None and any(closed_at - SLACK <= x for x in asks.get(t.sender_id, []))
        if t.satisfaction or asked:
            offered.append(t)
    return offered


def _ticket_ratings(offers: list[TicketRow]) -> TicketRatings:
    rated = [t for t in offers if t.satisfaction in SATISFACTION_VALUES]
    values = Counter(t.satisfaction for t in rated)
    return TicketRatings(
        offered=len(offers),
        rated=len(rated),
        participation=_rate(len(rated), len(offers)),
        by_value={v: values.get(v, 0) for v in SATISFACTION_VALUES},
        satisfaction=_rate(sum(values.get(v, 0) for v in SATISFIED), len(rated)),
    )


def _answer_ratings(offers: list[Conversation]) -> AnswerRatings:
    rated = [c for c in offers if c.helpful_value in ("yes", "no")]
    yes = sum(1 for c in rated if c.helpful_value == "yes")
    return AnswerRatings(
        offered=len(offers),
        rated=len(rated),
        participation=_rate(len(rated), len(offers)),
        yes=yes,
        no=len(rated) - yes,
        helpful=_rate(yes, len(rated)),
    )


def _rated_by(
    day: _Day, answer_key: Callable[[Conversation], str], ticket_key: Callable[[TicketRow], str]
) -> dict[str, tuple[list[Conversation], list[TicketRow]]]:
    """The rated answers and tickets grouped by one key ("" or "-" for none), sorted by it."""
    groups: dict[str, tuple[list[Conversation], list[TicketRow]]] = defaultdict(lambda: ([], []))
    for c in day.conversations:
        if c.helpful_offered:
            groups[answer_key(c)][0].append(c)
    for t in day.ticket_offers:
        groups[ticket_key(t)][1].append(t)
    return dict(sorted(groups.items()))


def _satisfaction(day: _Day) -> Satisfaction:
    cat = day.catalogue
    answers = _answer_ratings([c for c in day.conversations if c.helpful_offered])
    tickets = _ticket_ratings(day.ticket_offers)

    def answer_department(c: Conversation) -> str:
        t = cat.get(c.helpful_topic) if c.helpful_topic else None
        return t.department if t else "-"

    by_topic = _rated_by(day, lambda c: c.helpful_topic or "", lambda t: t.topic)
    by_department = _rated_by(day, answer_department, lambda t: t.department)
    return Satisfaction(
        offered=answers.offered + tickets.offered,
        rated=answers.rated + tickets.rated,
        participation=_rate(answers.rated + tickets.rated, answers.offered + tickets.offered),
        answers=answers,
        tickets=tickets,
        by_topic={
            topic or "-": RatedGroup(topic_title(cat, topic or None), _answer_ratings(a), _ticket_ratings(t))
            for topic, (a, t) in by_topic.items()
        },
        by_department={
            dept: RatedGroup(_dept_name(cat, None if dept == "-" else dept), _answer_ratings(a), _ticket_ratings(t))
            for dept, (a, t) in by_department.items()
        },
    )


def _comments(day: _Day) -> tuple[Comment, ...]:
    with_rating = [
        Comment(t.id, _dept_name(day.catalogue, t.department), t.satisfaction, mask(t.satisfaction_comment))
        for t in day.ticket_offers
        if t.satisfaction in SATISFACTION_VALUES and t.satisfaction and t.satisfaction_comment
    ]
    unprompted = [  # masked when stored, and again here
        Comment(None, "—", "留言", mask(f.comment)) for f in day.records.feedback if f.kind == "comment" and f.comment
    ]
    return (*with_rating, *unprompted)


# ---------------------------------------------------------------- deflections, crises, the guard
def _deflections(day: _Day) -> Deflections:
    deflect_intents = {t.intent for t in day.catalogue.of_kind("deflect")}
    messages = [r for r in day.records.inbound if r.intent in deflect_intents and r.handled_by == "bot"]
    per_intent = Counter(r.intent or "" for r in messages)
    conversations: dict[str, set[int]] = defaultdict(set)
    for r in messages:
        conversations[r.intent or ""].add(id(day.locate.find(r.sender_id, utc_of(r.at))))
    return Deflections(
        total=len(messages),
        by_category=tuple(
            Deflection(k, topic_title(day.catalogue, k), n, len(conversations[k]))
            for k, n in sorted(per_intent.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
    )


def _crisis_type(t: TicketRow) -> str:
    reason = t.reason or ""
    return reason.split(":", 1)[1] if reason.startswith("crisis:") else t.topic


def _crises(day: _Day) -> Crises:
    messages = [r for r in day.records.inbound if is_crisis_message(r)]
    by_type = Counter(r.crisis or r.intent or "" for r in messages)
    detected_by = Counter("词库" if r.crisis else "模型" for r in messages)
    escalated = [t for t in day.records.created if is_crisis_ticket(t)]
    rows = []
    for t in sorted(escalated, key=lambda t: t.id):
        first = _minutes(utc(t.created_at), utc(t.first_response_at))
        rows.append(
            CrisisTicket(
                id=t.id,
                type=_crisis_type(t),
                priority=Priority(t.priority),
                department=_dept_name(day.catalogue, t.department),
                status=Status(t.status),
                first_response_min=None if first is None else round(first, 2),
                sla=sla_state(t, day.now),
            )
        )
    return Crises(
        messages=len(messages),
        by_type={k: by_type[k] for k in sorted(by_type)},
        detected_by=dict(sorted(detected_by.items())),
        conversations=len({id(day.locate.find(r.sender_id, utc_of(r.at))) for r in messages}),
        tickets=tuple(rows),
        escalated=len(escalated),
    )


def _blocked_reason(reason: str | None) -> str:
    r = (reason or "").strip()
    if r.startswith("forbidden phrase"):
        return "含禁用表述"
    if r.startswith("not an approved"):
        return "不在审定答复库"
    if r.startswith("empty"):
        return "空或超长"
    return r or "未说明"


def _blocked_replies(day: _Day) -> BlockedReplies:
    audit = day.records.audit
    blocked = [a for a in audit if a.channel != "desk" and a.blocked]
    sent = sum(1 for a in audit if is_bot_message(a))
    return BlockedReplies(
        bot_messages=sent,
        blocked=len(blocked),
        rate=_rate(len(blocked), sent),
        by_reason=_count(Counter(_blocked_reason(a.blocked_reason) for a in blocked)),
        by_channel=dict(sorted(Counter(a.channel for a in blocked).items())),
    )


def _unanswered(day: _Day) -> Unanswered:
    by_bot = [r for r in day.records.inbound if r.handled_by == "bot"]
    fallbacks = [r for r in by_bot if r.intent == FALLBACK_INTENT]
    return Unanswered(
        total=len(fallbacks),
        share_of_messages=_rate(len(fallbacks), len(by_bot)),
        handled=len(by_bot),
        groups=tuple(group_questions([r.text for r in fallbacks])),
    )
