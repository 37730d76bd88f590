"""A known day of records for the report's unit tests, written with the product's own functions.

One citizen, or a few, for every figure group: so each group has a test of its own that needs no
stack, and the HTML and the CSV are checked on a day that fills every section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from bot.core import tickets
from bot.infra import db

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # 10:00 in the city (Asia/Shanghai)
NOW = T0 + timedelta(days=6)  # when the report is made: long after the day
SCRIPT_COMMENT = "<script>alert('x')</script> 太慢了 电话13912345678"


def inbound(sender: str, at: datetime, intent: str | None = "greet", *, text: str = "你好", channel: str = "rest",
            handled_by: str = "bot", crisis: str | None = None) -> None:  # fmt: skip
    with db.session() as s:
        s.add(db.InboundRecord(at=at, channel=channel, sender_id=sender, text=text, intent=intent, confidence=0.9,
                               handled_by=handled_by, crisis=crisis))  # fmt: skip


def audit(sender: str, at: datetime, response: str | None, *, blocked: bool = False, reason: str | None = None,
          agent: str | None = None, channel: str = "rest") -> None:  # fmt: skip
    with db.session() as s:
        s.add(db.AuditRecord(at=at, channel=channel, sender_id=sender, response=response, text="…", blocked=blocked,
                             blocked_reason=reason, agent=agent))  # fmt: skip


def feedback(sender: str, at: datetime, kind: str, value: str, *, topic: str | None = None,
             comment: str | None = None, channel: str = "rest") -> None:  # fmt: skip
    with db.session() as s:
        s.add(db.Feedback(at=at, channel=channel, sender_id=sender, kind=kind, value=value, topic=topic,
                          comment=comment))  # fmt: skip


def handled(ticket_id: str, agent: str, claim: int | None, first: int | None, close: int | None,
            satisfaction: str | None = None, comment: str | None = None) -> None:  # fmt: skip
    """An agent's work on a ticket, minutes after T0 (None: not done)."""
    with db.session() as s:
        t = s.get(db.Ticket, ticket_id)
        at = {m: T0 + timedelta(minutes=m) for m in (claim, first, close) if m is not None}
        t.claimed_by = agent
        t.claimed_at, t.first_response_at, t.closed_at = (at.get(m) if m is not None else None
                                                          for m in (claim, first, close))  # fmt: skip
        t.status = "closed" if close is not None else "claimed"
        t.satisfaction, t.satisfaction_comment = satisfaction, comment


@dataclass(frozen=True)
class Day:
    crisis: str
    noise: str
    vending: str
    handoff: str
    callback: str


def record_a_known_day() -> Day:
    m = lambda minutes: T0 + timedelta(minutes=minutes)  # noqa: E731
    # A (rest): two FAQ answers, asked "有帮助吗" once, answers 有帮助
    inbound("A", m(0), "faq/shebao_card_apply", text="社保卡怎么办")
    audit("A", m(0), "utter_faq/shebao_card_apply")
    audit("A", m(0), "utter_ask_helpful")
    inbound("A", m(1), "faq/passport_apply", text="护照怎么办")
    audit("A", m(1), "utter_faq/passport_apply")
    feedback("A", m(2), "helpful", "yes", topic="faq/shebao_card_apply")
    # B (web chat, in the afternoon): an answer that did not help
    inbound("B", m(300), "faq/hpf_balance_query", text="公积金余额", channel="socketio")
    audit("B", m(300), "utter_faq/hpf_balance_query", channel="socketio")
    audit("B", m(300), "utter_ask_helpful", channel="socketio")
    feedback("B", m(301), "helpful", "no", topic="faq/hpf_balance_query", channel="socketio")
    # C (WeChat): asked, never answered; back after an hour: a second conversation
    inbound("C", m(20), "faq/id_card_lost", text="身份证丢了", channel="wechat")
    audit("C", m(20), "utter_faq/id_card_lost", channel="wechat")
    audit("C", m(20), "utter_ask_helpful", channel="wechat")
    inbound("C", m(90), "greet", channel="wechat")
    # D: a crisis found by the lexicon; a ticket, answered in 5 minutes, rated 满意
    inbound("D", m(30), "self_harm", text="我不想活了", crisis="self_harm")
    crisis, _ = tickets.create(idempotency_key="k-crisis", channel="rest", sender_id="D", topic="self_harm",
                               summary="危机", handoff=True, reason="crisis:self_harm", now=m(30))  # fmt: skip
    inbound("D", m(33), "inform", text="我现在在家", handled_by="agent")
    audit("D", m(35), None, agent="陈静")
    handled(crisis["id"], "陈静", 32, 35, 60, "满意", "谢谢你们")
    audit("D", m(60), "utter_ask_satisfaction")
    # E: a noise report filed by the bot, closed by the department, rated 基本满意 (no comment)
    inbound("E", m(40), "report_noise", text="楼上装修太吵")
    noise, _ = tickets.create(idempotency_key="k-noise", channel="rest", sender_id="E", topic="report_noise",
                              summary="噪音", reason="report", now=m(41))  # fmt: skip
    handled(noise["id"], "李娜", 50, None, 120, "基本满意")
    audit("E", m(120), "utter_ask_satisfaction")
    # F: a street-vending report, never answered: missed by NOW
    inbound("F", m(45), "report_street_vending", text="路边摆摊占道")
    vending, _ = tickets.create(idempotency_key="k-vending", channel="rest", sender_id="F",
                                topic="report_street_vending", summary="占道", reason="report", now=m(46))  # fmt: skip
    # G: asks for a person; the agent answers and closes, rated 不满意 with a comment that is markup
    inbound("G", m(50), "request_human", text="转人工")
    handoff, _ = tickets.create(idempotency_key="k-handoff", channel="rest", sender_id="G", topic="request_human",
                                summary="转人工", handoff=True, reason="request_human", now=m(50))  # fmt: skip
    audit("G", m(55), None, agent="王芳")
    handled(handoff["id"], "王芳", 52, 55, 70, "不满意", SCRIPT_COMMENT)
    audit("G", m(70), "utter_ask_satisfaction")
    # H: after hours, a callback asked for; still new
    inbound("H", m(60), "request_human", text="找人工", channel="wechat")
    callback, _ = tickets.create(idempotency_key="k-callback", channel="wechat", sender_id="H",
                                 topic="request_human", summary="回访", handoff=True,
                                 reason="after_hours_callback", now=m(60))  # fmt: skip
    # I, J: deflected; K: abuse
    inbound("I", m(70), "out_of_scope", text="帮我写作业")
    inbound("J", m(71), "out_of_scope", text="帮我订外卖", channel="socketio")
    inbound("K", m(72), "abuse", text="你们都是废物")
    # L: a crisis only the model saw
    inbound("L", m(80), "emergency", text="煤气泄漏了")
    # M: questions the bot did not understand
    for i, text in enumerate(["小区门口能装个快递柜吗", "楼下装个快递柜行不行？", "我电话13812345678 养犬登记在哪"]):
        inbound("M", m(100 + i), "nlu_fallback", text=text)
    # N: the guard blocked three replies (each replaced by the safe answer)
    inbound("N", m(110), "greet")
    for i, reason in enumerate(["forbidden phrase: 无可奉告", "not an approved response", "empty reply"]):
        audit("N", m(110 + i), None, blocked=True, reason=reason)
        audit("N", m(110 + i), "utter_safe_fallback")
    audit("N", m(115), "desk_reveal_contact", agent="王芳", channel="desk")  # a look, not a message
    # O: said unprompted about the service, markup included
    inbound("O", m(130), "comment", text="意见")
    feedback("O", m(130), "comment", "comment", comment=SCRIPT_COMMENT)
    return Day(crisis["id"], noise["id"], vending["id"], handoff["id"], callback["id"])


@pytest.fixture()
def known_day(db_url: str) -> Day:
    return record_a_known_day()
