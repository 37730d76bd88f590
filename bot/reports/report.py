"""Supervision report (监督评价报告): the figures the city audits, whoever operates the service.

    python -m bot.reports.report --from 2026-11-01 --to 2026-11-30 [--out results]

writes `report-<from>-<to>.html` (Chinese, charts inline) and `report-<from>-<to>.csv` (every
figure, one per row, opens in Excel). The desk serves the same report at /supervisor.

Everything is computed from the SQL records the running service writes anyway — `inbound`
(every citizen message: channel, masked text, intent, crisis), `audit` (every outgoing message,
blocked ones included), `tickets` and `feedback` — by `compute()`, a pure function of the
database and the date range that the tests call. The definitions are in DEFINITIONS, and the
report prints them, so that anyone can recompute a figure from the records.
Personal data: texts are masked again here (privacy.mask); no sender id leaves this module.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import logging
import re
import statistics
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import city, topics
from bot.core.privacy import mask
from bot.infra import db, settings

log = logging.getLogger(__name__)

GAP = timedelta(minutes=30)  # a conversation ends after 30 minutes without a citizen message
# the bot files a ticket and answers while handling a message; the inbound row of that message
# is written after the answer, so a conversation's records may precede its first inbound row
SLACK = timedelta(minutes=5)
SATISFIED = ("满意", "基本满意")
SATISFACTION_VALUES = ("满意", "基本满意", "不满意")
KIND_NAMES = {"consult": "咨询", "help": "求助", "complaint": "投诉", "report": "举报", "suggestion": "建议"}
PRIORITY_NAMES = {"P0": "P0 危机", "P1": "P1 紧急", "P2": "P2 一般"}
STATUS_NAMES = {"new": "待认领", "claimed": "办理中", "closed": "已办结"}
SLA_NAMES = {"kept": "按时", "missed": "超时", "pending": "未到期"}
CHANNEL_NAMES = {"rest": "REST 接口", "socketio": "网页聊天", "telegram": "Telegram", "wechat": "微信公众号"}
FALLBACK_INTENT = "nlu_fallback"
ASK_HELPFUL = "utter_ask_helpful"
ASK_SATISFACTION = "utter_ask_satisfaction"

DEFINITIONS: list[tuple[str, str]] = [
    ("统计范围", "统计期间内（城市时区，含起止两日）产生的记录；工单按受理时间计入，工单评价按办结时间计入。"),
    ("会话", "同一市民（同一渠道账号）的消息，相邻两条间隔不超过30分钟的为一次会话；会话的渠道以第一条消息为准。"),
    (
        "消息",
        "市民消息：市民发来的每条消息；机器人回复：实际发出的每条机器人消息（被拦截的回复以替代的安全答复计一次）；坐席回复：坐席经工作台发出的每条消息。",
    ),
    (
        "机器人独立解决率",
        "未转人工的会话 ÷ 全部会话。转人工：会话中生成了转人工工单（含危机转介和非人工服务时间的回访登记），或市民消息已转给坐席。机器人登记的诉求工单不算转人工。",
    ),
    (
        "SLA 按时",
        "工单首次答复（坐席首次回复或办结，取较早者）早于或等于办理时限 sla_due_at 为按时；晚于时限，或至今未答复且已过时限为超时；未答复且未到时限为未到期。按时率 = 按时 ÷（按时 + 超时）。",
    ),
    (
        "坐席用时",
        "认领等待 = 受理到认领；首次响应 = 受理到坐席首次回复；办结用时 = 受理到办结。按认领坐席统计，取中位数。",
    ),
    (
        "参评率",
        "已评价 ÷ 请求评价的机会。评价机会：机器人询问“有帮助吗”的会话（每次会话最多询问一次），以及办结后请市民评价的工单。",
    ),
    (
        "满意率",
        "工单评价中（满意 + 基本满意）÷ 已评价，即“满意”与“基本满意”都计为满意。回答有帮助率 =“有帮助” ÷ 已评价的会话。",
    ),
    (
        "劝导分流",
        "识别为非政务咨询（与政务无关、私人民事、超出法律政策范围、辱骂）的市民消息，机器人以审定话术礼貌说明。",
    ),
    ("危机转介", "危机词库或模型识别出自伤、紧急险情、儿童福利的市民消息，以及由此生成或升级的最高优先级工单。"),
    ("拦截回复", "输出安全检查拦下、未发给市民的回复（不在审定答复库内或含禁用表述），以安全答复代替。"),
    (
        "未能回答的问题",
        "机器人未能理解（nlu_fallback）的市民消息，供运营补充知识库：文字相同（标点除外）或有共同关键词（两字以上的词，常用泛词与数字除外）的归为一组；个人信息已脱敏。",
    ),
]


# ---------------------------------------------------------------------------------------- time
def _utc(dt: datetime | None) -> datetime | None:
    dt = db.aware(dt)
    return dt.astimezone(timezone.utc) if dt else None


def bounds(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """[from, to) in UTC: dates are whole days in the city's time zone (both included)."""
    tz = city.timezone()

    def edge(value: date | datetime, is_end: bool) -> datetime:
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(timezone.utc)
        day = value + timedelta(days=1) if is_end else value
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)

    return edge(start, False), edge(end, True)


def _local(dt: datetime, tz: Any = None) -> datetime:
    return dt.astimezone(tz or city.timezone())


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0) / 60.0


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _stats(values: list[float]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "median_min": None, "mean_min": None, "max_min": None}
    return {
        "n": len(vals),
        "median_min": round(statistics.median(vals), 2),
        "mean_min": round(statistics.fmean(vals), 2),
        "max_min": round(max(vals), 2),
    }


# ------------------------------------------------------------------------------- conversations
@dataclass
class Conversation:
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

    @property
    def escalated(self) -> bool:
        return self.handoff or self.to_agent


class _Conversations:
    """Citizen messages grouped per sender by 30 minutes of inactivity, with a locator."""

    def __init__(self, inbound: list[db.InboundRecord]) -> None:
        self.by_sender: dict[str, list[Conversation]] = defaultdict(list)
        for r in sorted(inbound, key=lambda r: (r.sender_id, _utc(r.at))):
            at = _utc(r.at)
            convs = self.by_sender[r.sender_id]
            if not convs or at - convs[-1].end > GAP:
                convs.append(Conversation(r.sender_id, r.channel, at, at))
            c = convs[-1]
            c.end = at
            c.messages += 1
            if r.handled_by == "agent":
                c.to_agent = True

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


# ------------------------------------------------------------------------------------- compute
@contextmanager
def _session(source: Session | str | None) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
        return
    with db.session(source) as s:
        yield s


def _is_handoff(t: db.Ticket) -> bool:
    """A ticket that put a person in the conversation (not a report the bot filed by itself)."""
    return bool(t.handoff) or (t.reason or "report") != "report"


def _sla_state(t: db.Ticket, now: datetime) -> str:
    due = _utc(t.sla_due_at)
    answered = [x for x in (_utc(t.first_response_at), _utc(t.closed_at)) if x is not None]
    if answered:
        return "kept" if min(answered) <= due else "missed"
    return "missed" if now > due else "pending"


def _count(rows: Counter) -> list[dict[str, Any]]:
    return [{"key": k, "count": n} for k, n in sorted(rows.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def _dept_name(cat: topics.Catalogue, dept: str | None) -> str:
    return cat.department_name(dept) if dept else "（未关联部门）"


def _topic_title(cat: topics.Catalogue, topic: str | None) -> str:
    if not topic:
        return "（未关联主题）"
    t = cat.get(topic)
    return t.title if t else topic


def compute(
    source: Session | str | None,
    start: date | datetime,
    end: date | datetime,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """All the figures of the report for [start, end] (dates: whole days, city time zone)."""
    t0, t1 = bounds(start, end)
    now = _utc(now) or db.utcnow()
    cat = topics.load()
    with _session(source) as s:

        def rows(model: Any, *where: Any) -> list[Any]:
            # plain rows, not ORM objects: a month of a city's messages loads several times faster
            return list(s.execute(select(model.__table__).where(*where)).all())

        inbound = rows(db.InboundRecord, db.InboundRecord.at >= t0, db.InboundRecord.at < t1)
        audit = rows(db.AuditRecord, db.AuditRecord.at >= t0, db.AuditRecord.at < t1)
        feedback = rows(db.Feedback, db.Feedback.at >= t0, db.Feedback.at < t1)
        created = rows(db.Ticket, db.Ticket.created_at >= t0, db.Ticket.created_at < t1)
        closed = rows(db.Ticket, db.Ticket.closed_at >= t0, db.Ticket.closed_at < t1)
        # asks for a ticket rating come right after closure, possibly just past the range's end
        asks_after_close = rows(
            db.AuditRecord,
            db.AuditRecord.response == ASK_SATISFACTION,
            db.AuditRecord.at >= t0,
            db.AuditRecord.at < t1 + SLACK,
        )

    convs = _Conversations(inbound)
    conversations = convs.all()

    # --- tickets linked to the conversation in which they were filed --------------------------
    for t in created:
        c = convs.find(t.sender_id, _utc(t.created_at))
        if c is not None:
            c.tickets.append(t.id)
            if _is_handoff(t):
                c.handoff = True

    # --- what the bot sent: FAQ answers and the "有帮助吗？" asks ------------------------------
    last_faq: dict[str, str] = {}
    bot_sent = agent_sent = 0
    bot_by_channel: Counter = Counter()
    blocked_rows = []
    for a in sorted(audit, key=lambda a: (_utc(a.at), a.id)):
        if a.channel == "desk":
            continue  # a look at a ticket's contact, not a message
        if a.blocked:
            blocked_rows.append(a)
            continue
        if a.agent:
            if a.response is None:
                agent_sent += 1
            continue
        bot_sent += 1
        bot_by_channel[a.channel] += 1
        response = a.response or ""
        if response.startswith("utter_faq/"):
            last_faq[a.sender_id] = "faq/" + response.split("/", 1)[1]
        elif response == ASK_HELPFUL:
            c = convs.find(a.sender_id, _utc(a.at))
            if c is not None and not c.helpful_offered:
                c.helpful_offered = True
                c.helpful_topic = last_faq.get(a.sender_id)
    for f in sorted(feedback, key=lambda f: (_utc(f.at), f.id)):
        if f.kind != "helpful":
            continue
        c = convs.find(f.sender_id, _utc(f.at))
        if c is not None and c.helpful_offered:
            c.helpful_value = f.value  # the last answer counts
            c.helpful_topic = c.helpful_topic or f.topic

    # --- volumes --------------------------------------------------------------------------------
    hours = list(range(24))
    msg_by_channel: Counter = Counter(r.channel for r in inbound)
    tz = city.timezone()  # once: reading it means reading the settings and the city file
    msg_by_hour: Counter = Counter(_local(_utc(r.at), tz).hour for r in inbound)
    conv_by_channel: Counter = Counter(c.channel for c in conversations)
    conv_by_hour_channel: dict[str, list[int]] = {}
    for c in conversations:
        conv_by_hour_channel.setdefault(c.channel, [0] * 24)[_local(c.start, tz).hour] += 1
    escalated = [c for c in conversations if c.escalated]
    contained = len(conversations) - len(escalated)
    by_channel_containment = {
        ch: {
            "conversations": n,
            "contained": n - sum(1 for c in escalated if c.channel == ch),
            "containment": _rate(n - sum(1 for c in escalated if c.channel == ch), n),
        }
        for ch, n in sorted(conv_by_channel.items())
    }

    # --- handoffs and tickets ---------------------------------------------------------------------
    from bot.core import tickets as ticket_rules  # reason texts, one place

    handoffs = [t for t in created if _is_handoff(t)]
    reasons: Counter = Counter(t.reason or "request_human" for t in handoffs)
    sla_rows: dict[str, Counter] = {"all": Counter()}
    for t in created:
        state = _sla_state(t, now)
        sla_rows["all"][state] += 1
        sla_rows.setdefault(f"priority:{t.priority}", Counter())[state] += 1
        sla_rows.setdefault(f"department:{t.department}", Counter())[state] += 1
        sla_rows.setdefault(f"type:{'handoff' if _is_handoff(t) else 'report'}", Counter())[state] += 1

    def sla_summary(cnt: Counter) -> dict[str, Any]:
        kept, missed, pending = cnt.get("kept", 0), cnt.get("missed", 0), cnt.get("pending", 0)
        return {"kept": kept, "missed": missed, "pending": pending, "kept_rate": _rate(kept, kept + missed)}

    agents: dict[str, dict[str, list]] = defaultdict(lambda: {"claim": [], "first": [], "resolve": [], "closed": []})
    for t in created:
        if not t.claimed_by:
            continue
        a = agents[t.claimed_by]
        a["claim"].append(_minutes(_utc(t.created_at), _utc(t.claimed_at)))
        a["first"].append(_minutes(_utc(t.created_at), _utc(t.first_response_at)))
        a["resolve"].append(_minutes(_utc(t.created_at), _utc(t.closed_at)))
        a["closed"].append(1 if t.closed_at else 0)
    agent_rows = []
    for name in sorted(agents):
        a = agents[name]
        agent_rows.append(
            {
                "agent": name,
                "tickets": len(a["claim"]),
                "replied": sum(1 for x in a["first"] if x is not None),
                "closed": sum(a["closed"]),
                "claim_wait": _stats(a["claim"]),
                "first_response": _stats(a["first"]),
                "resolution": _stats(a["resolve"]),
            }
        )
    all_first = [_minutes(_utc(t.created_at), _utc(t.first_response_at)) for t in created]
    all_resolve = [_minutes(_utc(t.created_at), _utc(t.closed_at)) for t in created]

    # --- satisfaction ---------------------------------------------------------------------------
    asked_tickets: set[str] = set()
    asks_by_sender: dict[str, list[datetime]] = defaultdict(list)
    for a in asks_after_close:
        if not a.blocked:
            asks_by_sender[a.sender_id].append(_utc(a.at))
    for t in closed:
        closed_at = _utc(t.closed_at)
        if t.satisfaction or any(closed_at - SLACK <= x for x in asks_by_sender.get(t.sender_id, [])):
            asked_tickets.add(t.id)
    ticket_offers = [t for t in closed if t.id in asked_tickets]
    ticket_rated = [t for t in ticket_offers if t.satisfaction in SATISFACTION_VALUES]
    helpful_offers = [c for c in conversations if c.helpful_offered]
    helpful_rated = [c for c in helpful_offers if c.helpful_value in ("yes", "no")]

    def sat_block(offers: list[db.Ticket]) -> dict[str, Any]:
        rated = [t for t in offers if t.satisfaction in SATISFACTION_VALUES]
        values = Counter(t.satisfaction for t in rated)
        good = sum(values.get(v, 0) for v in SATISFIED)
        return {
            "offered": len(offers),
            "rated": len(rated),
            "participation": _rate(len(rated), len(offers)),
            **{v: values.get(v, 0) for v in SATISFACTION_VALUES},
            "satisfaction": _rate(good, len(rated)),
        }

    def helpful_block(offers: list[Conversation]) -> dict[str, Any]:
        rated = [c for c in offers if c.helpful_value in ("yes", "no")]
        yes = sum(1 for c in rated if c.helpful_value == "yes")
        return {
            "offered": len(offers),
            "rated": len(rated),
            "participation": _rate(len(rated), len(offers)),
            "yes": yes,
            "no": len(rated) - yes,
            "helpful": _rate(yes, len(rated)),
        }

    by_topic: dict[str, dict[str, Any]] = {}
    by_dept: dict[str, dict[str, Any]] = {}
    helpful_topics = sorted({c.helpful_topic or "" for c in helpful_offers})
    ticket_topics = sorted({t.topic for t in ticket_offers})
    for topic in sorted(set(helpful_topics) | set(ticket_topics)):
        by_topic[topic or "-"] = {
            "title": _topic_title(cat, topic or None),
            "answers": helpful_block([c for c in helpful_offers if (c.helpful_topic or "") == topic]),
            "tickets": sat_block([t for t in ticket_offers if t.topic == topic]),
        }

    def helpful_dept(c: Conversation) -> str:
        t = cat.get(c.helpful_topic) if c.helpful_topic else None
        return t.department if t else "-"

    for dept in sorted({helpful_dept(c) for c in helpful_offers} | {t.department for t in ticket_offers}):
        by_dept[dept] = {
            "name": _dept_name(cat, None if dept == "-" else dept),
            "answers": helpful_block([c for c in helpful_offers if helpful_dept(c) == dept]),
            "tickets": sat_block([t for t in ticket_offers if t.department == dept]),
        }
    offered_all = len(helpful_offers) + len(ticket_offers)
    rated_all = len(helpful_rated) + len(ticket_rated)
    comments = [
        {
            "ticket_id": t.id,
            "department": _dept_name(cat, t.department),
            "value": t.satisfaction,
            "comment": mask(t.satisfaction_comment),
        }
        for t in ticket_rated
        if t.satisfaction_comment
    ] + [  # said about the service unprompted (masked when stored)
        {"ticket_id": None, "department": "—", "value": "留言", "comment": mask(f.comment)}
        for f in sorted(feedback, key=lambda f: (_utc(f.at), f.id))
        if f.kind == "comment" and f.comment
    ]

    # --- deflections, crises, guard, fallbacks ------------------------------------------------------
    deflect_intents = {t.intent for t in cat.of_kind("deflect")}
    deflections: Counter = Counter(r.intent for r in inbound if r.intent in deflect_intents and r.handled_by == "bot")
    deflect_convs = {
        intent: len(
            {id(convs.find(r.sender_id, _utc(r.at))) for r in inbound if r.intent == intent and r.handled_by == "bot"}
        )
        for intent in deflections
    }
    crisis_msgs = [r for r in inbound if r.crisis or r.intent in topics.CRISIS_INTENTS]
    crisis_types: Counter = Counter(r.crisis or r.intent for r in crisis_msgs)
    crisis_detected_by: Counter = Counter("词库" if r.crisis else "模型" for r in crisis_msgs)
    crisis_tickets = [t for t in created if (t.reason or "").startswith("crisis:") or t.topic in topics.CRISIS_INTENTS]
    crisis_ticket_rows = [
        {
            "id": t.id,
            "type": (t.reason or "").split(":", 1)[1] if (t.reason or "").startswith("crisis:") else t.topic,
            "priority": t.priority,
            "department": _dept_name(cat, t.department),
            "status": t.status,
            "first_response_min": None
            if _minutes(_utc(t.created_at), _utc(t.first_response_at)) is None
            else round(_minutes(_utc(t.created_at), _utc(t.first_response_at)), 2),  # type: ignore[arg-type]
            "sla": _sla_state(t, now),
        }
        for t in sorted(crisis_tickets, key=lambda t: t.id)
    ]
    blocked_reasons: Counter = Counter(_blocked_reason(a.blocked_reason) for a in blocked_rows)
    blocked_channels: Counter = Counter(a.channel for a in blocked_rows)
    fallbacks = [r for r in inbound if r.intent == FALLBACK_INTENT and r.handled_by == "bot"]
    intents: Counter = Counter(r.intent or "（未识别）" for r in inbound if r.handled_by == "bot")

    return {
        "period": {
            "from": _local(t0).date().isoformat(),
            "to": (_local(t1) - timedelta(seconds=1)).date().isoformat(),
            "start_utc": t0.isoformat(),
            "end_utc": t1.isoformat(),
            "generated_at": _local(now).isoformat(timespec="seconds"),
            "timezone": str(city.timezone()),
        },
        "volume": {
            "conversations": len(conversations),
            "citizen_messages": len(inbound),
            "bot_messages": bot_sent,
            "agent_messages": agent_sent,
            "conversations_by_channel": dict(sorted(conv_by_channel.items())),
            "messages_by_channel": dict(sorted(msg_by_channel.items())),
            "bot_messages_by_channel": dict(sorted(bot_by_channel.items())),
            "messages_by_hour": [msg_by_hour.get(h, 0) for h in hours],
            "conversations_by_hour": {ch: v for ch, v in sorted(conv_by_hour_channel.items())},
            "top_intents": _count(intents)[:15],
        },
        "containment": {
            "conversations": len(conversations),
            "contained": contained,
            "escalated": len(escalated),
            "rate": _rate(contained, len(conversations)),
            "by_channel": by_channel_containment,
        },
        "handoffs": {
            "total": len(handoffs),
            "reasons": [
                {"reason": k, "text": ticket_rules.reason_text(k) or k, "count": n}
                for k, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        },
        "tickets": {
            "total": len(created),
            "handoff": len(handoffs),
            "filed_by_bot": len(created) - len(handoffs),
            "by_department": [
                {"department": d["key"], "name": _dept_name(cat, d["key"]), "count": d["count"]}
                for d in _count(Counter(t.department for t in created))
            ],
            "by_kind": [
                {"kind": d["key"], "name": KIND_NAMES.get(d["key"], d["key"]), "count": d["count"]}
                for d in _count(Counter(t.kind for t in created))
            ],
            "by_priority": {p: sum(1 for t in created if t.priority == p) for p in ("P0", "P1", "P2")},
            "by_status": {st: sum(1 for t in created if t.status == st) for st in ("new", "claimed", "closed")},
        },
        "sla": {key: sla_summary(cnt) for key, cnt in sorted(sla_rows.items())},
        "agents": {
            "rows": agent_rows,
            "first_response": _stats(all_first),  # type: ignore[arg-type]
            "resolution": _stats(all_resolve),  # type: ignore[arg-type]
        },
        "satisfaction": {
            "offered": offered_all,
            "rated": rated_all,
            "participation": _rate(rated_all, offered_all),
            "answers": helpful_block(helpful_offers),
            "tickets": sat_block(ticket_offers),
            "by_topic": by_topic,
            "by_department": by_dept,
            "comments": comments,
        },
        "deflections": {
            "total": sum(deflections.values()),
            "by_category": [
                {"intent": k, "title": _topic_title(cat, k), "messages": n, "conversations": deflect_convs[k]}
                for k, n in sorted(deflections.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        },
        "crisis": {
            "messages": len(crisis_msgs),
            "by_type": {k: crisis_types[k] for k in sorted(crisis_types)},
            "detected_by": dict(sorted(crisis_detected_by.items())),
            "conversations": len({id(convs.find(r.sender_id, _utc(r.at))) for r in crisis_msgs}),
            "tickets": crisis_ticket_rows,
            "escalated": len(crisis_tickets),
        },
        "guard": {
            "bot_messages": bot_sent,
            "blocked": len(blocked_rows),
            "rate": _rate(len(blocked_rows), bot_sent),
            "by_reason": _count(blocked_reasons),
            "by_channel": dict(sorted(blocked_channels.items())),
        },
        "unanswered": {
            "total": len(fallbacks),
            "share_of_messages": _rate(len(fallbacks), sum(1 for r in inbound if r.handled_by == "bot")),
            "groups": group_questions([r.text for r in fallbacks]),
        },
    }


def _blocked_reason(reason: str | None) -> str:
    r = (reason or "").strip()
    if r.startswith("forbidden phrase"):
        return "含禁用表述"
    if r.startswith("not an approved"):
        return "不在审定答复库"
    if r.startswith("empty"):
        return "空或超长"
    return r or "未说明"


# ---------------------------------------------------------------------- grouping the unanswered
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# words that say nothing about what was asked: two questions sharing only these are not alike
GENERIC_WORDS = frozenset(
    "请问 你好 您好 我们 你们 他们 自己 怎么 怎么办 怎样 如何 什么 哪里 在哪 哪个 哪些 能不能 可不可以 可以 行不行 是不是 "
    "有没有 需要 应该 为什么 多少 几点 一下 这个 那个 这样 现在 今天 明天 昨天 时候 问题 情况 事情 办理 申请 "
    "谢谢 麻烦 小区 路边 楼下 门口 家里 附近 政府 市民 工作 部门 手续 东西 一个 还是 已经 没有 不能 不是 电话 手机 号码".split()
)


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    terms = settings.DATA / "jieba" / "gov_terms.txt"
    if terms.exists():  # the same government terms as the NLU pipeline (社保卡, 公积金 ...)
        jieba.load_userdict(str(terms))
    return jieba


def _normalize(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text or "").lower())


@lru_cache(maxsize=20000)
@lru_cache(maxsize=20000)  # the same question comes again and again
def _keywords(text: str) -> frozenset[str]:
    words = _jieba().lcut(_normalize(text))
    return frozenset(
        w for w in words if len(w) >= 2 and w not in GENERIC_WORDS and not any(ch.isdigit() or ch == "*" for ch in w)
    )


def group_questions(texts: list[str], top: int = 20) -> list[dict[str, Any]]:
    """Masked questions grouped for the ops team: the same wording (punctuation aside), or a
    shared keyword (jieba words of 2+ characters, generic words and numbers left out). A word
    found in more than half of the questions says too little to group by."""
    items = [(t, _normalize(t), _keywords(t)) for t in (mask(raw or "").strip() for raw in texts) if t]
    df = Counter(w for _, _, words in items for w in words)
    too_common = {w for w, n in df.items() if len(items) >= 6 and n > len(items) / 2}
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, (_, norm, words) in enumerate(items):
        for key in [f"={norm}", *sorted(words - too_common)]:
            if key in first_with:
                parent[root(i)] = root(first_with[key])
            else:
                first_with[key] = i
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        groups[root(i)].append(i)
    out = []
    for members in groups.values():
        texts_in = Counter(items[i][0] for i in members)
        shared = Counter(w for i in members for w in items[i][2] - too_common)
        keywords = sorted((w for w, n in shared.items() if n > 1), key=lambda w: (-shared[w], w))
        out.append(
            {
                "count": len(members),
                "keywords": keywords[:3],
                "example": texts_in.most_common(1)[0][0],
                "variants": [t for t, _ in texts_in.most_common(4)],
            }
        )
    out.sort(key=lambda g: (-g["count"], g["example"]))
    return out[:top]


# ------------------------------------------------------------------------------------------ CSV
def csv_rows(fig: dict[str, Any]) -> list[list[Any]]:
    """Every figure as (section, dimension, key, metric, value): one flat table."""
    rows: list[list[Any]] = [["section", "dimension", "key", "metric", "value"]]

    def add(section: str, dimension: str, key: Any, metric: str, value: Any) -> None:
        rows.append([section, dimension, "" if key is None else key, metric, "" if value is None else value])

    p = fig["period"]
    add("period", "", "", "from", p["from"])
    add("period", "", "", "to", p["to"])
    add("period", "", "", "generated_at", p["generated_at"])
    v = fig["volume"]
    for metric in ("conversations", "citizen_messages", "bot_messages", "agent_messages"):
        add("volume", "", "", metric, v[metric])
    for ch, n in v["conversations_by_channel"].items():
        add("volume", "channel", ch, "conversations", n)
    for ch, n in v["messages_by_channel"].items():
        add("volume", "channel", ch, "citizen_messages", n)
    for h, n in enumerate(v["messages_by_hour"]):
        add("volume", "hour", h, "citizen_messages", n)
    for ch, per_hour in v["conversations_by_hour"].items():
        for h, n in enumerate(per_hour):
            if n:
                add("volume", f"hour@{ch}", h, "conversations", n)
    c = fig["containment"]
    for metric in ("conversations", "contained", "escalated", "rate"):
        add("containment", "", "", metric, c[metric])
    for ch, row in c["by_channel"].items():
        for metric, val in row.items():
            add("containment", "channel", ch, metric, val)
    add("handoffs", "", "", "total", fig["handoffs"]["total"])
    for r in fig["handoffs"]["reasons"]:
        add("handoffs", "reason", r["reason"], "count", r["count"])
    t = fig["tickets"]
    for metric in ("total", "handoff", "filed_by_bot"):
        add("tickets", "", "", metric, t[metric])
    for r in t["by_department"]:
        add("tickets", "department", r["department"], "count", r["count"])
    for r in t["by_kind"]:
        add("tickets", "kind", r["kind"], "count", r["count"])
    for k, n in t["by_priority"].items():
        add("tickets", "priority", k, "count", n)
    for k, n in t["by_status"].items():
        add("tickets", "status", k, "count", n)
    for key, row in fig["sla"].items():
        dim, _, k = key.partition(":")
        for metric, val in row.items():
            add("sla", dim, k, metric, val)
    a = fig["agents"]
    for which in ("first_response", "resolution"):
        for metric, val in a[which].items():
            add("agents", "all", "", f"{which}_{metric}", val)
    for r in a["rows"]:
        for metric in ("tickets", "replied", "closed"):
            add("agents", "agent", r["agent"], metric, r[metric])
        for which in ("claim_wait", "first_response", "resolution"):
            for metric, val in r[which].items():
                add("agents", "agent", r["agent"], f"{which}_{metric}", val)
    s = fig["satisfaction"]
    for metric in ("offered", "rated", "participation"):
        add("satisfaction", "", "", metric, s[metric])
    for kind in ("answers", "tickets"):
        for metric, val in s[kind].items():
            add("satisfaction", kind, "", metric, val)
    for dim, table in (("topic", s["by_topic"]), ("department", s["by_department"])):
        for key, row in table.items():
            for kind in ("answers", "tickets"):
                for metric, val in row[kind].items():
                    add("satisfaction", f"{dim}/{kind}", key, metric, val)
    add("deflections", "", "", "total", fig["deflections"]["total"])
    for r in fig["deflections"]["by_category"]:
        add("deflections", "category", r["intent"], "messages", r["messages"])
        add("deflections", "category", r["intent"], "conversations", r["conversations"])
    cr = fig["crisis"]
    for metric in ("messages", "conversations", "escalated"):
        add("crisis", "", "", metric, cr[metric])
    for k, n in cr["by_type"].items():
        add("crisis", "type", k, "messages", n)
    for r in cr["tickets"]:
        add("crisis", "ticket", r["id"], "first_response_min", r["first_response_min"])
        add("crisis", "ticket", r["id"], "sla", r["sla"])
    g = fig["guard"]
    for metric in ("bot_messages", "blocked", "rate"):
        add("guard", "", "", metric, g[metric])
    for r in g["by_reason"]:
        add("guard", "reason", r["key"], "blocked", r["count"])
    u = fig["unanswered"]
    add("unanswered", "", "", "total", u["total"])
    add("unanswered", "", "", "share_of_messages", u["share_of_messages"])
    for i, grp in enumerate(u["groups"], 1):
        add("unanswered", "group", i, "count", grp["count"])
        add("unanswered", "group", i, "keywords", " ".join(grp["keywords"]))
        add("unanswered", "group", i, "example", grp["example"])
    return rows


def to_csv(fig: dict[str, Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(csv_rows(fig))
    return buf.getvalue()


# --------------------------------------------------------------------------------------- charts
CJK_FONT_HINTS = (
    "notosanscjk",
    "notoserifcjk",
    "sourcehansans",
    "wqy",
    "droidsansfallback",
    "simhei",
    "msyh",
    "pingfang",
)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font family with Chinese glyphs for the charts (Debian: fonts-noto-cjk), or None."""
    from matplotlib import font_manager

    candidates = [
        p
        for p in font_manager.findSystemFonts()
        if any(h in Path(p).name.lower().replace("-", "") for h in CJK_FONT_HINTS)
    ]
    # prefer a sans-serif regular face
    candidates.sort(key=lambda p: ("sans" not in p.lower(), "regular" not in p.lower(), "bold" in p.lower(), p))
    for path in candidates:
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
        except Exception:  # an unreadable font file: try the next one
            log.debug("font %s not usable", path, exc_info=True)
    return None


def _integer_ticks(axis: Any) -> None:
    """Counts are whole numbers: no 0.5 tick on a chart of conversations."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


class _Charts:
    """Small PNG charts as data: URIs. Without a CJK font, labels fall back to ids in Latin letters."""

    COLORS = ("#0b5cad", "#e07b00", "#2e7d32", "#c62828", "#6a1b9a", "#00838f", "#607d8b")

    def __init__(self) -> None:
        self.font = cjk_font()
        self.zh = self.font is not None

    def label(self, zh: str, latin: str) -> str:
        return zh if self.zh else latin

    def _render(self, draw: Any, size: tuple[float, float]) -> str:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        rc = {
            "font.family": [self.font, "DejaVu Sans"] if self.font else ["DejaVu Sans"],
            "font.size": 9,
            "axes.unicode_minus": False,
        }
        with matplotlib.rc_context(rc):
            figure = Figure(figsize=size, dpi=110)
            FigureCanvasAgg(figure)
            ax = figure.add_subplot(1, 1, 1)
            draw(ax)
            ax.spines["top"].set_visible(False)
            ax.spines["right"].set_visible(False)
            figure.tight_layout()
            buf = io.BytesIO()
            figure.savefig(buf, format="png")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    def hbar(
        self, labels: list[str], values: list[float], title: str, *, pct: bool = False, color: str | None = None
    ) -> str:
        def draw(ax: Any) -> None:
            ys = list(range(len(labels)))[::-1]
            ax.barh(ys, values, color=color or self.COLORS[0])
            ax.set_yticks(ys, labels)
            ax.set_title(title, loc="left")
            top = max(values) if values else 1
            for y, v in zip(ys, values, strict=True):
                ax.text(v + top * 0.01, y, f"{v:.0%}" if pct else f"{v:g}", va="center", fontsize=8)
            ax.set_xlim(0, (1.0 if pct else top) * 1.15 or 1)
            if not pct:
                _integer_ticks(ax.xaxis)

        return self._render(draw, (6.2, 0.7 + 0.3 * max(len(labels), 2)))

    def stacked_hours(self, series: dict[str, list[int]], names: dict[str, str], title: str) -> str:
        def draw(ax: Any) -> None:
            bottom = [0] * 24
            for i, (key, vals) in enumerate(series.items()):
                ax.bar(
                    range(24), vals, bottom=bottom, label=names.get(key, key), color=self.COLORS[i % len(self.COLORS)]
                )
                bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
            ax.set_xticks(range(0, 24, 2))
            _integer_ticks(ax.yaxis)
            ax.set_xlabel(self.label("时（城市时间）", "hour (city time)"))
            ax.set_title(title, loc="left")
            if series:
                ax.legend(frameon=False, fontsize=8)

        return self._render(draw, (6.2, 2.6))

    def stacked_states(
        self, rows: list[tuple[str, dict[str, int]]], states: list[tuple[str, str, str]], title: str
    ) -> str:
        """rows: (label, {state: n}); states: (state, legend, color)."""

        def draw(ax: Any) -> None:
            ys = list(range(len(rows)))[::-1]
            left = [0] * len(rows)
            for state, legend, color in states:
                vals = [r[1].get(state, 0) for r in rows]
                ax.barh(ys, vals, left=left, label=legend, color=color)
                left = [a + b for a, b in zip(left, vals, strict=True)]
            ax.set_yticks(ys, [r[0] for r in rows])
            _integer_ticks(ax.xaxis)
            ax.set_title(title, loc="left", pad=18)
            # the legend above the bars, right of the title: never over a bar
            ax.legend(frameon=False, fontsize=8, ncol=len(states), loc="lower right", bbox_to_anchor=(1.0, 1.0))

        return self._render(draw, (6.2, 1.0 + 0.3 * max(len(rows), 2)))


# ----------------------------------------------------------------------------------------- HTML
CSS = """
:root { --ink:#1d2733; --muted:#66727f; --line:#dde3ea; --brand:#0b5cad; --bg:#f4f6f9; --ok:#2e7d32; --bad:#c62828; }
* { box-sizing: border-box; }
body.report { margin:0; background:var(--bg); color:var(--ink); font: 14px/1.55 "PingFang SC","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",system-ui,sans-serif; }
.report header { background:var(--brand); color:#fff; padding:16px 24px; }
.report header h1 { margin:0; font-size:20px; }
.report header p { margin:4px 0 0; opacity:.9; }
.report main { max-width:1100px; margin:0 auto; padding:16px 24px 48px; }
.report form.range { display:flex; gap:10px; align-items:center; flex-wrap:wrap; margin:0 0 12px; }
.report form.range input, .report form.range button { font:inherit; padding:5px 10px; border:1px solid var(--line); border-radius:6px; background:#fff; }
.report form.range button { background:var(--brand); border-color:var(--brand); color:#fff; }
.report .kpis { display:grid; grid-template-columns:repeat(auto-fill,minmax(160px,1fr)); gap:10px; margin:12px 0 8px; }
.report .kpi { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.report .kpi b { display:block; font-size:22px; color:var(--brand); }
.report .kpi span { color:var(--muted); font-size:13px; }
.report section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:14px 0; }
.report section h2 { margin:0 0 8px; font-size:16px; }
.report .grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:12px; align-items:start; }
.report table { border-collapse:collapse; width:100%; font-size:13px; }
.report th, .report td { border-bottom:1px solid var(--line); padding:4px 6px; text-align:left; vertical-align:top; }
.report th { color:var(--muted); font-weight:normal; }
.report td.n { text-align:right; font-variant-numeric:tabular-nums; }
.report img { max-width:100%; height:auto; }
.report .muted { color:var(--muted); }
.report dl.defs { display:grid; grid-template-columns:9em 1fr; gap:4px 12px; margin:0; font-size:13px; }
.report dl.defs dt { color:var(--muted); }
.report dl.defs dd { margin:0; }
.report .bad { color:var(--bad); }
.report .ok { color:var(--ok); }
@media print { .report form.range { display:none; } .report section { break-inside:avoid; } }
"""


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _dur(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    if minutes < 1:
        return f"{round(minutes * 60)}秒"
    if minutes < 120:
        return f"{minutes:.1f}分钟"
    return f"{minutes / 60:.1f}小时"


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _table(head: list[str], rows: list[list[Any]], numeric_from: int = 1) -> str:
    if not rows:
        return '<p class="muted">统计期间内没有记录。</p>'
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{_e(c)}</td>' if i >= numeric_from else f"<td>{_e(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{_e(alt)}">'


def render_html(
    fig: dict[str, Any],
    *,
    css_href: str | None = None,
    form_action: str | None = None,
    csv_href: str | None = None,
) -> str:
    """The report page. Standalone (inline CSS) unless `css_href` is given (the desk's CSP)."""
    ch = _Charts()
    cat = topics.load()
    p, v, c, t, s = fig["period"], fig["volume"], fig["containment"], fig["tickets"], fig["satisfaction"]
    city_name = city.profile().get("city_name", "")
    sla_all = fig["sla"].get("all", {})
    kpis = [
        (v["conversations"], "会话"),
        (v["citizen_messages"], "市民消息"),
        (_pct(c["rate"]), "机器人独立解决率"),
        (fig["handoffs"]["total"], "转人工"),
        (t["total"], "工单"),
        (_pct(sla_all.get("kept_rate")), "SLA 按时率"),
        (_pct(s["participation"]), "参评率"),
        (_pct(s["tickets"]["satisfaction"]), "工单满意率"),
        (_pct(s["answers"]["helpful"]), "回答有帮助率"),
        (fig["crisis"]["escalated"], "危机转介工单"),
        (fig["guard"]["blocked"], "拦截回复"),
        (fig["unanswered"]["total"], "未能回答"),
    ]
    parts: list[str] = []
    parts.append(
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{_e(a)}</b><span>{_e(b)}</span></div>' for a, b in kpis)
        + "</div>"
    )

    # volume
    names = {k: ch.label(CHANNEL_NAMES.get(k, k), k) for k in v["conversations_by_channel"]}
    vol_rows = [
        [CHANNEL_NAMES.get(k, k), v["conversations_by_channel"].get(k, 0), v["messages_by_channel"].get(k, 0), v["bot_messages_by_channel"].get(k, 0),
         _pct(c["by_channel"].get(k, {}).get("containment"))]
        for k in sorted(set(v["conversations_by_channel"]) | set(v["messages_by_channel"]))
    ]  # fmt: skip
    hours_chart = _img(
        ch.stacked_hours(
            v["conversations_by_hour"], names, ch.label("各时段会话数（按渠道）", "Conversations by hour and channel")
        ),
        "各时段会话数",
    )
    parts.append(
        '<section><h2>服务量</h2><div class="grid"><div>'
        + _table(["渠道", "会话", "市民消息", "机器人回复", "独立解决率"], vol_rows)
        + f'<p class="muted">机器人回复 {v["bot_messages"]} 条，坐席回复 {v["agent_messages"]} 条。</p></div><div>{hours_chart}</div></div></section>'
    )

    # containment and handoffs
    reasons = fig["handoffs"]["reasons"]
    reason_chart = (
        _img(
            ch.hbar(
                [ch.label(r["text"], r["reason"]) for r in reasons],
                [r["count"] for r in reasons],
                ch.label("转人工原因", "Handoff reasons"),
            ),
            "转人工原因",
        )
        if reasons
        else ""
    )
    parts.append(
        '<section><h2>机器人独立解决与转人工</h2><div class="grid"><div>'
        + f"<p>全部 {c['conversations']} 次会话中，{c['contained']} 次由机器人独立完成（{_pct(c['rate'])}），{c['escalated']} 次转人工。</p>"
        + _table(["转人工原因", "次数"], [[r["text"], r["count"]] for r in reasons])
        + f"</div><div>{reason_chart}</div></div></section>"
    )

    # tickets
    dept_chart = (
        _img(
            ch.hbar(
                [ch.label(r["name"], r["department"]) for r in t["by_department"]],
                [r["count"] for r in t["by_department"]],
                ch.label("各部门工单", "Tickets by department"),
            ),
            "各部门工单",
        )
        if t["by_department"]
        else ""
    )
    kinds = "、".join(f"{r['name']} {r['count']}" for r in t["by_kind"]) or "—"
    prios = "、".join(f"{PRIORITY_NAMES[k]} {n}" for k, n in t["by_priority"].items())
    statuses = "、".join(f"{STATUS_NAMES[k]} {n}" for k, n in t["by_status"].items())
    parts.append(
        '<section><h2>工单</h2><div class="grid"><div>'
        + f"<p>共 {t['total']} 张：转人工 {t['handoff']} 张，机器人登记诉求 {t['filed_by_bot']} 张。</p>"
        + f"<p>类型：{_e(kinds)}<br>优先级：{_e(prios)}<br>状态：{_e(statuses)}</p>"
        + _table(["部门", "工单"], [[r["name"], r["count"]] for r in t["by_department"]])
        + f"</div><div>{dept_chart}</div></div></section>"
    )

    # SLA
    sla = fig["sla"]
    sla_rows = []
    sla_keys = [("all", "全部"), ("type:handoff", "转人工"), ("type:report", "机器人登记")]
    sla_keys += [(f"priority:{k}", PRIORITY_NAMES[k]) for k in ("P0", "P1", "P2")]
    for key, label in sla_keys:
        if key in sla:
            r = sla[key]
            sla_rows.append([label, r["kept"], r["missed"], r["pending"], _pct(r["kept_rate"])])
    dept_sla = sorted(
        ((k.split(":", 1)[1], r) for k, r in sla.items() if k.startswith("department:")), key=lambda kv: kv[0]
    )
    sla_chart = (
        _img(
            ch.stacked_states(
                [
                    (
                        ch.label(cat.department_name(d), d),
                        {"kept": r["kept"], "missed": r["missed"], "pending": r["pending"]},
                    )
                    for d, r in dept_sla
                ],
                [
                    ("kept", ch.label("按时", "kept"), "#2e7d32"),
                    ("missed", ch.label("超时", "missed"), "#c62828"),
                    ("pending", ch.label("未到期", "pending"), "#90a4ae"),
                ],
                ch.label("各部门办理时限（SLA）", "SLA by department"),
            ),
            "各部门SLA",
        )
        if dept_sla
        else ""
    )
    parts.append(
        '<section><h2>办理时限（SLA）</h2><div class="grid"><div>'
        + _table(["", "按时", "超时", "未到期", "按时率"], sla_rows)
        + f"</div><div>{sla_chart}</div></div></section>"
    )

    # agents
    a = fig["agents"]
    agent_rows = [
        [
            r["agent"],
            r["tickets"],
            r["replied"],
            r["closed"],
            _dur(r["claim_wait"]["median_min"]),
            _dur(r["first_response"]["median_min"]),
            _dur(r["resolution"]["median_min"]),
        ]
        for r in a["rows"]
    ]
    parts.append(
        "<section><h2>坐席响应与办结用时</h2>"
        + f"<p>全部工单首次响应中位数 {_dur(a['first_response']['median_min'])}（{a['first_response']['n']} 张已响应），"
        + f"办结用时中位数 {_dur(a['resolution']['median_min'])}（{a['resolution']['n']} 张已办结）。</p>"
        + _table(
            ["坐席", "认领工单", "已回复", "已办结", "认领等待（中位）", "首次响应（中位）", "办结用时（中位）"],
            agent_rows,
        )
        + "</section>"
    )

    # satisfaction
    ans, tk = s["answers"], s["tickets"]
    sat_chart = _img(
        ch.hbar(
            [
                ch.label(x, y)
                for x, y in (
                    ("满意", "satisfied"),
                    ("基本满意", "fairly satisfied"),
                    ("不满意", "dissatisfied"),
                    ("回答有帮助", "answer helpful"),
                    ("回答没帮助", "not helpful"),
                )
            ],
            [tk["满意"], tk["基本满意"], tk["不满意"], ans["yes"], ans["no"]],
            ch.label("评价分布", "Ratings"),
            color="#2e7d32",
        ),
        "评价分布",
    )
    topic_rows = [
        [row["title"], row["answers"]["offered"], row["answers"]["rated"], _pct(row["answers"]["helpful"]),
         row["tickets"]["offered"], row["tickets"]["rated"], _pct(row["tickets"]["participation"]), _pct(row["tickets"]["satisfaction"])]
        for row in s["by_topic"].values()
    ]  # fmt: skip
    dept_rows = [
        [row["name"], row["answers"]["offered"], row["answers"]["rated"], _pct(row["answers"]["helpful"]),
         row["tickets"]["offered"], row["tickets"]["rated"], _pct(row["tickets"]["participation"]), _pct(row["tickets"]["satisfaction"])]
        for row in s["by_department"].values()
    ]  # fmt: skip
    head = ["", "回答·询问", "回答·评价", "有帮助率", "工单·邀评", "工单·评价", "参评率", "满意率"]
    comments = "".join(f"<li>{_e(x['value'])}｜{_e(x['department'])}：{_e(x['comment'])}</li>" for x in s["comments"])
    parts.append(
        "<section><h2>满意度与参评率</h2><div class=\"grid\"><div>"
        + f"<p>评价机会 {s['offered']} 次，已评价 {s['rated']} 次，参评率 {_pct(s['participation'])}。</p>"
        + f"<p>回答“有帮助吗”：询问 {ans['offered']} 次会话，评价 {ans['rated']} 次（参评率 {_pct(ans['participation'])}），有帮助率 {_pct(ans['helpful'])}。<br>"
        + f"工单办结评价：邀评 {tk['offered']} 张，评价 {tk['rated']} 张（参评率 {_pct(tk['participation'])}），"
        + f"满意 {tk['满意']}、基本满意 {tk['基本满意']}、不满意 {tk['不满意']}，满意率 {_pct(tk['satisfaction'])}。</p>"
        + f"</div><div>{sat_chart}</div></div>"
        + "<h3>按主题</h3>" + _table(["主题", *head[1:]], topic_rows)
        + "<h3>按部门</h3>" + _table(["部门", *head[1:]], dept_rows)
        + (f"<h3>市民意见（已脱敏）</h3><ul>{comments}</ul>" if comments else "")
        + "</section>"
    )  # fmt: skip

    # deflections and crises
    d = fig["deflections"]
    cr = fig["crisis"]
    crisis_names = {k: _topic_title(cat, k) for k in topics.CRISIS_INTENTS}
    crisis_rows = [
        [
            r["id"],
            crisis_names.get(r["type"], r["type"]),
            r["priority"],
            r["department"],
            STATUS_NAMES.get(r["status"], r["status"]),
            _dur(r["first_response_min"]),
            SLA_NAMES.get(r["sla"], r["sla"]),
        ]
        for r in cr["tickets"]
    ]
    detected = "、".join(f"{k} {n}" for k, n in cr["detected_by"].items()) or "—"
    types = "、".join(f"{crisis_names.get(k, k)} {n}" for k, n in cr["by_type"].items()) or "—"
    parts.append(
        '<section><h2>劝导分流与危机转介</h2><div class="grid"><div><h3>劝导分流</h3>'
        + _table(["类别", "消息", "会话"], [[r["title"], r["messages"], r["conversations"]] for r in d["by_category"]])
        + "</div><div><h3>危机转介</h3>"
        + f"<p>识别危机消息 {cr['messages']} 条（{cr['conversations']} 次会话；{_e(types)}；识别方式：{_e(detected)}），"
        + f"生成或升级为危机工单 {cr['escalated']} 张。</p>"
        + _table(["工单", "类型", "优先级", "部门", "状态", "首次响应", "SLA"], crisis_rows, numeric_from=99)
        + "</div></div></section>"
    )

    # guard
    g = fig["guard"]
    parts.append(
        "<section><h2>输出安全检查</h2>"
        + f"<p>机器人发出回复 {g['bot_messages']} 条，拦截 {g['blocked']} 条（{_pct(g['rate'])}），均以安全答复代替。</p>"
        + _table(["拦截原因", "条数"], [[r["key"], r["count"]] for r in g["by_reason"]])
        + "</section>"
    )

    # unanswered
    u = fig["unanswered"]
    parts.append(
        "<section><h2>未能回答的问题（供补充知识库）</h2>"
        + f"<p>共 {u['total']} 条，占机器人处理消息的 {_pct(u['share_of_messages'])}。文字相同或有共同关键词的归为一组，个人信息已脱敏：</p>"
        + _table(
            ["次数", "关键词", "问题（示例）", "其他说法"],
            [
                [grp["count"], "、".join(grp["keywords"]), grp["example"], "；".join(grp["variants"][1:])]
                for grp in u["groups"]
            ],
            numeric_from=99,
        )
        + "</section>"
    )

    # definitions
    parts.append(
        '<section><h2>口径说明</h2><dl class="defs">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(val)}</dd>" for k, val in DEFINITIONS)
        + "</dl>"
        + (
            f'<p class="muted">图表字体：{_e(ch.font)}</p>'
            if ch.font
            else '<p class="muted">本机未安装中文字体，图表标签以英文/编号显示。</p>'
        )
        + "</section>"
    )

    style = f'<link rel="stylesheet" href="{_e(css_href)}">' if css_href else f"<style>{CSS}</style>"
    form = ""
    if form_action is not None:
        form = (
            f'<form class="range" method="get" action="{_e(form_action)}">'
            f'<label>起 <input type="date" name="from" value="{_e(p["from"])}"></label>'
            f'<label>止 <input type="date" name="to" value="{_e(p["to"])}"></label>'
            '<button type="submit">生成报告</button>'
            + (f'<a href="{_e(csv_href)}">下载 CSV</a>' if csv_href else "")
            + '<a href="/">返回工作台</a></form>'
        )
    title = f"{city_name}12345 智能服务监督报告"
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} {_e(p['from'])}—{_e(p['to'])}</title>{style}</head>"
        f'<body class="report"><header><h1>{_e(title)}</h1>'
        f"<p>统计期间 {_e(p['from'])} 至 {_e(p['to'])}（{_e(p['timezone'])}）· 生成于 {_e(p['generated_at'])}</p></header>"
        f"<main>{form}{''.join(parts)}</main></body></html>"
    )


# ------------------------------------------------------------------------------------------- CLI
def write(fig: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"report-{fig['period']['from']}-{fig['period']['to']}"
    html_path, csv_path = out_dir / f"{stem}.html", out_dir / f"{stem}.csv"
    html_path.write_text(render_html(fig), encoding="utf-8")
    # UTF-8 with BOM: Excel, which most offices open CSVs with, then reads Chinese correctly
    csv_path.write_text(to_csv(fig), encoding="utf-8-sig")
    return html_path, csv_path


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 7 days, today included (city time zone)."""
    today = today or datetime.now(city.timezone()).date()
    return today - timedelta(days=6), today


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.reports.report", description="监督评价报告：HTML（含图表）与 CSV"
    )
    parser.add_argument("--from", dest="start", type=_day, help="起始日期 YYYY-MM-DD（默认：6天前）")
    parser.add_argument("--to", dest="end", type=_day, help="截止日期 YYYY-MM-DD（含当日，默认：今天）")
    parser.add_argument("--out", type=Path, default=settings.ROOT / "results", help="输出目录（默认 results/）")
    parser.add_argument("--database-url", default=None, help="默认取 DATABASE_URL")
    args = parser.parse_args(argv)
    start, end = default_range()
    start, end = args.start or (args.end - timedelta(days=6) if args.end else start), args.end or end
    if start > end:
        parser.error("--from 晚于 --to")
    logging.basicConfig(level=logging.WARNING)
    url = args.database_url or settings.load().sqlalchemy_url
    db.migrate(url)
    fig = compute(url, start, end)
    html_path, csv_path = write(fig, args.out)
    sys.stdout.write(
        f"{html_path}\n{csv_path}\n"
        f"会话 {fig['volume']['conversations']} · 工单 {fig['tickets']['total']} · "
        f"独立解决率 {_pct(fig['containment']['rate'])} · 参评率 {_pct(fig['satisfaction']['participation'])}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
