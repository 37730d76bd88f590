"""The figures of the supervision report (bot/reports/figures.py), checked exactly.

One test per figure group on a known day of records written with the product's own functions
(conftest.py), the unit tests for what real time cannot produce in a test (a missed SLA, a
30-minute pause), and one that plays a known set of conversations through the real stack (REST
channel, Rasa, actions, desk API) and checks every figure compute() derives from what the product
recorded.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import datetime, timedelta

import aiohttp
import pytest

from bot.core import tickets
from bot.core.vocabulary import Priority, Status
from bot.infra import db
from bot.ops import seed
from bot.reports.figures import (
    AnswerRatings,
    BlockedReplies,
    ChannelContainment,
    Comment,
    Count,
    CrisisTicket,
    Deflection,
    DepartmentCount,
    Durations,
    Figures,
    HandoffReason,
    KindCount,
    SlaState,
    SlaSummary,
    TicketRatings,
    compute,
)
from bot.reports.outcomes import Ending, Outcome
from bot.reports.questions import QuestionGroup
from bot.stack.processes import Stack
from tests.bot.reports.conftest import NOW, SCRIPT_COMMENT, T0, Day, audit, inbound


def _known(db_url: str) -> Figures:
    return compute(db_url, T0.date(), T0.date(), now=NOW)


# ------------------------------------------------------------------------- one test per group
def test_period(known_day: Day, db_url: str) -> None:
    p = _known(db_url).period
    assert (p.first_day.isoformat(), p.last_day.isoformat(), p.timezone) == (
        "2026-11-24",
        "2026-11-24",
        "Asia/Shanghai",
    )
    assert (p.start_utc.isoformat(), p.end_utc.isoformat()) == (
        "2026-11-23T16:00:00+00:00",
        "2026-11-24T16:00:00+00:00",
    )
    assert p.generated_at.isoformat() == "2026-11-30T10:00:00+08:00"


def test_volume_by_channel_and_hour(known_day: Day, db_url: str) -> None:
    v = _known(db_url).volume
    assert (v.conversations, v.citizen_messages, v.bot_messages, v.agent_messages) == (16, 20, 13, 2)
    assert v.conversations_by_channel == {"rest": 11, "socketio": 2, "wechat": 3}
    assert v.messages_by_channel == {"rest": 15, "socketio": 2, "wechat": 3}
    assert v.bot_messages_by_channel == {"rest": 9, "socketio": 2, "wechat": 2}
    assert len(v.messages_by_hour) == 24 and sum(v.messages_by_hour) == 20
    assert {h: n for h, n in enumerate(v.messages_by_hour) if n} == {10: 8, 11: 10, 12: 1, 15: 1}
    assert {ch: {h: n for h, n in enumerate(hours) if n} for ch, hours in v.conversations_by_hour.items()} == {
        "rest": {10: 5, 11: 5, 12: 1}, "socketio": {11: 1, 15: 1}, "wechat": {10: 1, 11: 2}
    }  # fmt: skip
    assert v.top_intents[0] == Count("nlu_fallback", 3) and len(v.top_intents) == 14


def test_containment(known_day: Day, db_url: str) -> None:
    c = _known(db_url).containment
    # the crisis, the request for a person and the call-back went to people
    assert (c.conversations, c.contained, c.escalated, c.rate) == (16, 13, 3, 0.8125)
    assert c.by_channel == {
        "rest": ChannelContainment(11, 9, 0.8182),
        "socketio": ChannelContainment(2, 2, 1.0),
        "wechat": ChannelContainment(3, 2, 0.6667),
    }


def test_outcomes(known_day: Day, db_url: str) -> None:
    o = _known(db_url).outcomes
    # A said 有帮助; C's first conversation and O's comment ended on what the bot served. B's answer
    # was rated 没帮助, C came back only to greet, M was not understood, N got only the safe answer:
    # none of them solved, though no person joined them (containment counts them as contained)
    assert o.overall.by_outcome == {
        Outcome.CRISIS_ESCALATED: 2, Outcome.HANDED_TO_PERSON: 2, Outcome.TICKET_FILED: 2, Outcome.DEFLECTED: 3,
        Outcome.ANSWERED_CONFIRMED: 1, Outcome.ANSWERED_NO_REPLY: 2, Outcome.NOT_UNDERSTOOD: 4,
    }  # fmt: skip
    assert (o.overall.conversations, o.overall.solved, o.overall.solved_rate) == (16, 3, 0.1875)
    assert {ch: (c.conversations, c.solved, c.solved_rate) for ch, c in o.by_channel.items()} == {
        "rest": (11, 2, 0.1818), "socketio": (2, 0, 0.0), "wechat": (3, 1, 0.3333)
    }  # fmt: skip
    nu = o.not_understood
    assert (nu.conversations, nu.by_ending) == (4, {Ending.FALLBACK: 2, Ending.REPHRASE: 0, Ending.CHECK: 0,
                                                    Ending.NOT_HELPFUL: 1, Ending.NO_ANSWER: 1})  # fmt: skip
    assert nu.groups == (
        QuestionGroup(2, (), "你好", ("你好",)),
        QuestionGroup(1, (), "公积金余额", ("公积金余额",)),
        QuestionGroup(1, (), "我电话138****5678 养犬登记在哪", ("我电话138****5678 养犬登记在哪",)),
    )


def test_handoffs(known_day: Day, db_url: str) -> None:
    h = _known(db_url).handoffs
    assert h.total == 3
    assert h.reasons == (
        HandoffReason("after_hours_callback", "非人工服务时间，待回访", 1),
        HandoffReason("crisis:self_harm", "危机：自伤、自杀或以此相威胁", 1),
        HandoffReason("request_human", "市民要求人工", 1),
    )


def test_tickets_by_department_kind_priority_and_status(known_day: Day, db_url: str) -> None:
    t = _known(db_url).tickets
    assert (t.total, t.handoff, t.filed_by_bot) == (5, 3, 2)
    assert t.by_department == (
        DepartmentCount("hotline", "12345热线（人工分拨）", 3),
        DepartmentCount("ecology_environment", "生态环境局", 1),
        DepartmentCount("urban_management", "城市管理局（综合行政执法局）", 1),
    )
    assert t.by_kind == (KindCount("consult", "咨询", 2), KindCount("complaint", "投诉", 1),
                         KindCount("help", "求助", 1), KindCount("report", "举报", 1))  # fmt: skip
    assert list(t.by_priority.items()) == [(Priority.P0, 1), (Priority.P1, 0), (Priority.P2, 4)]
    assert list(t.by_status.items()) == [(Status.NEW, 2), (Status.CLAIMED, 0), (Status.CLOSED, 3)]


def test_sla_by_priority_department_and_type(known_day: Day, db_url: str) -> None:
    sla = _known(db_url).sla
    # the unanswered street-vending report and call-back are past due six days later
    assert sla.overall == SlaSummary(kept=3, missed=2, pending=0, kept_rate=0.6)
    assert sla.by_priority == {"P0": SlaSummary(1, 0, 0, 1.0), "P2": SlaSummary(2, 2, 0, 0.5)}
    assert sla.by_department == {
        "ecology_environment": SlaSummary(1, 0, 0, 1.0),
        "hotline": SlaSummary(2, 1, 0, 0.6667),
        "urban_management": SlaSummary(0, 1, 0, 0.0),
    }
    assert sla.by_type == {"handoff": SlaSummary(2, 1, 0, 0.6667), "report": SlaSummary(1, 1, 0, 0.5)}


def test_agents(known_day: Day, db_url: str) -> None:
    a = _known(db_url).agents
    assert [r.agent for r in a.rows] == ["李娜", "王芳", "陈静"]
    li = a.rows[0]  # closed the noise report without a reply
    assert (li.tickets, li.replied, li.closed) == (1, 0, 1)
    assert (li.claim_wait, li.first_response, li.resolution) == (
        Durations(1, 9.0, 9.0, 9.0), Durations(0, None, None, None), Durations(1, 79.0, 79.0, 79.0)
    )  # fmt: skip
    assert a.first_response == Durations(n=2, median_min=5.0, mean_min=5.0, max_min=5.0)
    assert a.resolution == Durations(n=3, median_min=30.0, mean_min=43.0, max_min=79.0)


def test_satisfaction_by_topic_and_department(known_day: Day, db_url: str) -> None:
    s = _known(db_url).satisfaction
    assert s.answers == AnswerRatings(offered=3, rated=2, participation=0.6667, yes=1, no=1, helpful=0.5)
    assert s.tickets == TicketRatings(offered=3, rated=3, participation=1.0,
                                      by_value={"满意": 1, "基本满意": 1, "不满意": 1}, satisfaction=0.6667)  # fmt: skip
    assert (s.offered, s.rated, s.participation) == (6, 5, 0.8333)
    assert list(s.by_topic) == ["faq/hpf_balance_query", "faq/id_card_lost", "faq/shebao_card_apply", "report_noise",
                                "request_human", "self_harm"]  # fmt: skip
    assert s.by_topic["faq/id_card_lost"].answers == AnswerRatings(1, 0, 0.0, 0, 0, None)  # asked, not answered
    assert s.by_topic["report_noise"].tickets.by_value == {"满意": 0, "基本满意": 1, "不满意": 0}
    assert list(s.by_department) == ["ecology_environment", "hotline", "housing_fund", "hrss", "public_security"]
    hotline = s.by_department["hotline"]
    assert (hotline.name, hotline.tickets.rated, hotline.tickets.satisfaction) == ("12345热线（人工分拨）", 2, 0.5)


def test_comments_are_masked_with_a_rating_or_unprompted(known_day: Day, db_url: str) -> None:
    masked = SCRIPT_COMMENT.replace("13912345678", "139****5678")
    assert _known(db_url).comments == (
        Comment(known_day.crisis, "12345热线（人工分拨）", "满意", "谢谢你们"),
        Comment(known_day.handoff, "12345热线（人工分拨）", "不满意", masked),
        Comment(None, "—", "留言", masked),
    )


def test_deflections(known_day: Day, db_url: str) -> None:
    d = _known(db_url).deflections
    assert d.total == 3
    assert d.by_category == (Deflection("out_of_scope", d.by_category[0].title, 2, 2),
                             Deflection("abuse", d.by_category[1].title, 1, 1))  # fmt: skip
    assert all(x.title != x.intent for x in d.by_category)  # the catalogue's titles


def test_crises_by_lexicon_and_model(known_day: Day, db_url: str) -> None:
    cr = _known(db_url).crises
    assert (cr.messages, cr.conversations, cr.escalated) == (2, 2, 1)
    assert cr.by_type == {"emergency": 1, "self_harm": 1}
    assert cr.detected_by == {"模型": 1, "词库": 1}
    assert cr.tickets == (
        CrisisTicket(
            known_day.crisis, "self_harm", Priority.P0, "12345热线（人工分拨）", Status.CLOSED, 5.0, SlaState.KEPT
        ),
    )


def test_blocked_replies_by_reason(known_day: Day, db_url: str) -> None:
    assert _known(db_url).blocked_replies == BlockedReplies(
        bot_messages=13, blocked=3, rate=0.2308,
        by_reason=(Count("不在审定答复库", 1), Count("含禁用表述", 1), Count("空或超长", 1)), by_channel={"rest": 3},
    )  # fmt: skip


def test_unanswered(known_day: Day, db_url: str) -> None:
    u = _known(db_url).unanswered
    assert (u.total, u.share_of_messages) == (3, 0.1579)  # of the 19 messages the bot handled
    assert u.groups == (
        QuestionGroup(2, ("快递",), "小区门口能装个快递柜吗", ("小区门口能装个快递柜吗", "楼下装个快递柜行不行？")),
        QuestionGroup(1, (), "我电话138****5678 养犬登记在哪", ("我电话138****5678 养犬登记在哪",)),
    )


def test_an_empty_range_has_every_group_empty(db_url: str) -> None:
    fig = compute(db_url, T0.date(), T0.date(), now=NOW)
    assert (fig.volume.conversations, fig.containment.rate, fig.handoffs.reasons, fig.tickets.total) == (0, None, (), 0)
    assert fig.sla.overall == SlaSummary(0, 0, 0, None) and fig.sla.by_priority == {}
    assert fig.agents.rows == () and fig.agents.first_response == Durations(0, None, None, None)
    assert (fig.satisfaction.participation, fig.satisfaction.by_topic, fig.comments) == (None, {}, ())
    assert (fig.deflections.total, fig.crises.messages, fig.blocked_replies.rate, fig.unanswered.groups) == (
        0,
        0,
        None,
        (),
    )
    assert list(fig.tickets.by_priority.values()) == [0, 0, 0] and list(fig.tickets.by_status.values()) == [0, 0, 0]
    assert (fig.outcomes.overall.solved_rate, fig.outcomes.by_channel, fig.outcomes.not_understood.groups) == (
        None, {}, ()
    )  # fmt: skip
    assert set(fig.outcomes.overall.by_outcome.values()) == {0}


# ------------------------------------------------------------------------------ unit tests
def test_sla_kept_missed_and_pending_and_agent_times(db_url: str) -> None:
    # a P0 crisis answered after 5 minutes (due 15): kept
    p0, _ = tickets.create(idempotency_key="p0", channel="rest", sender_id="c1", topic="self_harm", summary="危机",
                           handoff=True, reason="crisis:self_harm", now=T0)  # fmt: skip
    # a noise complaint (5 working days) never answered, looked at 6 days later: missed
    late, _ = tickets.create(idempotency_key="late", channel="rest", sender_id="c2", topic="report_noise", summary="噪音",
                             reason="report", now=T0)  # fmt: skip
    # a suggestion (10 days), still open after 6 days: pending
    tickets.create(idempotency_key="open", channel="rest", sender_id="c3", topic="suggestion", summary="建议",
                   reason="report", now=T0)  # fmt: skip
    with db.session() as s:
        t = s.get(db.Ticket, p0["id"])
        t.status, t.claimed_by = "closed", "王芳"
        t.claimed_at, t.first_response_at, t.closed_at = (
            T0 + timedelta(minutes=2),
            T0 + timedelta(minutes=5),
            T0 + timedelta(minutes=40),
        )
        t.satisfaction = "满意"
    fig = compute(db_url, T0.date(), T0.date(), now=T0 + timedelta(days=6))
    assert fig.sla.overall == SlaSummary(kept=1, missed=1, pending=1, kept_rate=0.5)
    assert fig.sla.by_priority["P0"] == SlaSummary(kept=1, missed=0, pending=0, kept_rate=1.0)
    assert fig.sla.by_type["report"] == SlaSummary(kept=0, missed=1, pending=1, kept_rate=0.0)
    assert fig.tickets.by_priority == {"P0": 1, "P1": 0, "P2": 2}
    assert [r.agent for r in fig.agents.rows] == ["王芳"]
    row = fig.agents.rows[0]
    assert (row.claim_wait.median_min, row.first_response.median_min, row.resolution.median_min) == (
        2.0,
        5.0,
        40.0,
    )
    assert fig.crises.tickets == (
        CrisisTicket(id=p0["id"], type="self_harm", priority=Priority.P0, department="12345热线（人工分拨）",
                     status=Status.CLOSED, first_response_min=5.0, sla=SlaState.KEPT),
    )  # fmt: skip
    # a ticket rated although the ask is not in the audit: it was offered (the rating proves it)
    assert fig.satisfaction.tickets.offered == 1 and fig.satisfaction.tickets.by_value["满意"] == 1
    assert late["id"] not in {r.id for r in fig.crises.tickets}


def test_blocked_replies_are_counted_once_with_their_reason(db_url: str) -> None:
    inbound("a", T0)
    audit("a", T0, "utter_greet")
    # what a blocked reply leaves in the audit: the blocked text, then the safe answer sent instead
    audit("a", T0 + timedelta(seconds=1), None, blocked=True, reason="forbidden phrase: 无可奉告")
    audit("a", T0 + timedelta(seconds=1), "utter_safe_fallback")
    audit("a", T0 + timedelta(seconds=2), None, agent="王芳")  # an agent's reply
    audit("a", T0 + timedelta(seconds=3), "desk_reveal_contact", agent="王芳", channel="desk")  # not a message
    fig = compute(db_url, T0.date(), T0.date())
    assert fig.blocked_replies == BlockedReplies(bot_messages=2, blocked=1, rate=0.5,
                                                 by_reason=(Count(key="含禁用表述", count=1),),
                                                 by_channel={"rest": 1})  # fmt: skip
    assert (fig.volume.bot_messages, fig.volume.agent_messages) == (2, 1)


def test_comments_said_unprompted_are_listed_for_the_supervisors(db_url: str) -> None:
    inbound("a", T0)
    with db.session(db_url) as s:
        s.add(db.Feedback(at=T0, channel="rest", sender_id="a", kind="comment", value="comment",
                          comment="接线员态度不好"))  # fmt: skip
    fig = compute(db_url, T0.date(), T0.date())
    assert fig.comments == (Comment(ticket_id=None, department="—", value="留言", comment="接线员态度不好"),)
    assert fig.satisfaction.tickets.offered == 0  # not a rating


# ------------------------------------------------------------------------- through the real stack
FALLBACK_CANDIDATES = ["小区门口能装个快递柜吗", "路边停车怎么收费", "地铁几号线到火车站", "？？"]


def _parse(stack: Stack, text: str) -> dict:
    req = urllib.request.Request(
        f"{stack.rasa_url}/model/parse", data=json.dumps({"text": text}).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as r:  # loopback test server
        return json.loads(r.read())


def _faq_texts() -> list[str]:
    # one wording per topic from the NLU data, the first that is a plain question
    picked = []
    for topic in (
        "faq/shebao_card_apply",
        "faq/hpf_balance_query",
        "faq/passport_apply",
        "faq/marriage_registration",
        "faq/id_card_lost",
    ):
        picked.append(seed.examples(topic)[0])
    return picked


COMMENT = "回复太慢了，等了好久，有事请打我电话13912345678"


@pytest.mark.stack
def test_figures_of_a_known_set_of_conversations(stack: Stack) -> None:
    fallback = next((t for t in FALLBACK_CANDIDATES if _parse(stack, t)["intent"]["name"] == "nlu_fallback"), None)
    assert fallback, "the model understands every candidate; add one it does not"
    faq = _faq_texts()
    noise = next(x for x in seed.examples("report_noise") if len(x) >= 12)
    vending = next(x for x in seed.examples("report_street_vending") if len(x) >= 12)
    start = db.utcnow()  # the warm-up message of the stack came before: not counted
    played = asyncio.run(_play(stack, faq, noise, vending, fallback))
    end = db.utcnow() + timedelta(seconds=1)
    fig = compute(stack.env["DATABASE_URL"], start, end)
    citizens, ids, handoff_reason = played["citizens"], played["tickets"], played["handoff_reason"]

    # volume: every message each citizen sent, every reply each received
    said = sum(len(c.said) for c in citizens)
    assert fig.volume.conversations == 10
    assert fig.volume.citizen_messages == said
    assert fig.volume.messages_by_channel == {"rest": said}
    assert sum(fig.volume.messages_by_hour) == said
    assert fig.volume.bot_messages == sum(1 for c in citizens for r in c.replies if r.response)
    assert fig.volume.agent_messages == played["agent_replies"] == 5

    # containment: the crisis and the request for a person went to people; the rest did not
    assert (fig.containment.contained, fig.containment.escalated, fig.containment.rate) == (8, 2, 0.8)
    assert fig.handoffs.total == 2
    # outcomes: A said 有帮助; C and D left after their answers; B said 没帮助 and J was not understood
    assert fig.outcomes.overall.by_outcome == {
        Outcome.CRISIS_ESCALATED: 1, Outcome.HANDED_TO_PERSON: 1, Outcome.TICKET_FILED: 2, Outcome.DEFLECTED: 1,
        Outcome.ANSWERED_CONFIRMED: 1, Outcome.ANSWERED_NO_REPLY: 2, Outcome.NOT_UNDERSTOOD: 2,
    }, fig.outcomes  # fmt: skip
    assert (fig.outcomes.overall.solved, fig.outcomes.overall.solved_rate) == (3, 0.3)
    nu = fig.outcomes.not_understood
    assert nu.by_ending[Ending.NOT_HELPFUL] == 1 and nu.by_ending[Ending.NO_ANSWER] == 0, nu
    assert {v for g in nu.groups for v in g.variants} == {faq[2], fallback}, nu
    assert sorted((r.reason, r.count) for r in fig.handoffs.reasons) == sorted(
        [("crisis:self_harm", 1), (handoff_reason, 1)]
    )

    t = fig.tickets
    assert (t.total, t.handoff, t.filed_by_bot) == (4, 2, 2)
    assert {r.department: r.count for r in t.by_department} == {
        "hotline": 2,
        "ecology_environment": 1,
        "urban_management": 1,
    }
    assert {r.kind: r.count for r in t.by_kind} == {"complaint": 1, "report": 1, "help": 1, "consult": 1}
    assert t.by_priority == {"P0": 1, "P1": 0, "P2": 3}
    assert t.by_status == {"new": 1, "claimed": 0, "closed": 3}

    # SLA: three answered within minutes, the open report is not yet due
    assert fig.sla.overall == SlaSummary(kept=3, missed=0, pending=1, kept_rate=1.0)
    assert fig.sla.by_priority["P0"] == SlaSummary(kept=1, missed=0, pending=0, kept_rate=1.0)
    agents = {r.agent: r for r in fig.agents.rows}
    assert sorted(agents) == ["李娜", "王芳", "陈静"]
    assert all((r.tickets, r.replied, r.closed) == (1, 1, 1) for r in agents.values())
    elapsed_min = (end - start).total_seconds() / 60
    max_min = fig.agents.first_response.max_min
    # minutes to two decimals: agents answering within 0.3 s of the filing (a quiet machine) show 0.0
    assert fig.agents.first_response.n == 3 and max_min is not None and 0 <= max_min < elapsed_min

    # satisfaction: 4 conversations asked "有帮助吗" (A once for two answers), 2 answered (yes, no);
    # 3 closed tickets asked to rate, all rated: 满意 (crisis), 基本满意 (report), 不满意 (handoff)
    s = fig.satisfaction
    assert s.answers == AnswerRatings(offered=4, rated=2, participation=0.5, yes=1, no=1, helpful=0.5)
    assert s.tickets == TicketRatings(
        offered=3,
        rated=3,
        participation=1.0,
        by_value={"满意": 1, "基本满意": 1, "不满意": 1},
        satisfaction=0.6667,
    )
    assert (s.offered, s.rated, s.participation) == (7, 5, 0.7143)
    assert s.by_topic["report_noise"].tickets.by_value["基本满意"] == 1
    assert s.by_topic["self_harm"].tickets.by_value["满意"] == 1
    assert s.by_topic["request_human"].tickets.by_value["不满意"] == 1
    assert s.by_topic["faq/shebao_card_apply"].answers == AnswerRatings(
        offered=1,
        rated=1,
        participation=1.0,
        yes=1,
        no=0,
        helpful=1.0,
    )
    assert s.by_department["hotline"].tickets.rated == 2
    # one comment (I), masked; E declined to comment and is not listed
    assert [(x.ticket_id, x.value, x.comment) for x in fig.comments] == [
        (ids["handoff"], "不满意", COMMENT.replace("13912345678", "139****5678"))
    ]
    assert s.by_department["ecology_environment"].tickets.satisfaction == 1.0

    assert fig.deflections.total == 1
    assert [(r.intent, r.messages, r.conversations) for r in fig.deflections.by_category] == [("out_of_scope", 1, 1)]
    cr = fig.crises
    assert (cr.messages, cr.conversations, cr.escalated, cr.by_type) == (1, 1, 1, {"self_harm": 1})
    assert [(r.id, r.priority, r.status, r.sla) for r in cr.tickets] == [(ids["crisis"], "P0", "closed", "kept")]
    assert (fig.blocked_replies.blocked, fig.blocked_replies.rate) == (0, 0.0)
    assert fig.unanswered.total == 1, fig.unanswered
    assert fig.unanswered.groups == (QuestionGroup(count=1, keywords=(), example=fallback, variants=(fallback,)),)


async def _play(stack: Stack, faq: list[str], noise: str, vending: str, fallback: str) -> dict:
    run = datetime.now().strftime("%H%M%S%f")
    token = stack.env["DESK_API_TOKEN"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        desk = seed.Desk(http, stack.desk_url, token)

        def citizen(name: str) -> seed.RestCitizen:
            return seed.RestCitizen(http, stack.rasa_url, f"rep-{run}-{name}")

        a, b, c, d, e, f, g, h, i, j = (citizen(x) for x in "ABCDEFGHIJ")
        # A: two answers in one conversation, asked once, "有帮助"
        assert (await seed.ask_faq(a, faq[0], "有帮助")) == "utter_faq/shebao_card_apply"
        assert a.last("utter_feedback_thanks")
        await seed.ask_faq(a, faq[1], None)
        assert a.names().count("utter_ask_helpful") == 1
        # B: "没帮助"; C and D do not answer the question
        await seed.ask_faq(b, faq[2], "没帮助")
        assert b.last("utter_feedback_sorry")
        await seed.ask_faq(c, faq[3], None)
        await seed.ask_faq(d, faq[4], None)
        # E: a noise complaint filed, answered and closed by the department, rated 基本满意
        noise_id = await seed.file_report(e, noise)
        mark = await seed.agent_handles(
            desk, e, noise_id, "李娜", ["您好，承办部门已安排人员现场核查。"], "已现场处理", live=False
        )
        await seed.rate(e, "基本满意", mark, comment="")  # presses 不用了
        # F: a street-vending report filed and left open
        vending_id = await seed.file_report(f, vending)
        # G: out of scope
        await g.say(seed.examples("out_of_scope")[0])
        assert g.last("utter_out_of_scope")
        # H: a crisis taken by an agent, answered, closed, rated 满意
        await h.say("我不想活了")
        crisis_id = seed.crisis_ticket(h)
        mark = await seed.agent_handles(desk, h, crisis_id, "陈静", ["您好，我一直在这里陪着您。", "已为您联系属地工作人员。"],
                                        "已转介心理援助", live=True, citizen_says="我现在在家")  # fmt: skip
        await seed.rate(h, "满意", mark)
        # I: asks for a person, the agent answers twice and closes, rated 不满意
        await i.say("转人工")
        handoff_id = seed.handoff_ticket(i)
        reason = "request_human" if i.last("utter_handoff") else "after_hours_callback"
        mark = await seed.agent_handles(desk, i, handoff_id, "王芳", ["您好，我是12345热线工作人员。", "您的问题已记录并转办。"],
                                        "已解答", live=True, citizen_says="好的")  # fmt: skip
        await seed.rate(i, "不满意", mark, comment=COMMENT)
        # J: a question the bot cannot answer
        await j.say(fallback)
        assert j.last("utter_default") or j.last("utter_ask_which_topic"), j.names()
        for x in (a, b, c, d, e, f, g, h, i, j):  # anything still waiting in an outbox
            x.replies += [seed.parse_reply(m) for m in await x._poll()]
        for ticket_id, topic in ((noise_id, "report_noise"), (vending_id, "report_street_vending")):
            assert (await desk.call("GET", f"/api/tickets/{ticket_id}"))["topic"] == topic
        return {
            "citizens": [a, b, c, d, e, f, g, h, i, j],
            "tickets": {"noise": noise_id, "vending": vending_id, "crisis": crisis_id, "handoff": handoff_id},
            "handoff_reason": reason,
            "agent_replies": 1 + 2 + 2,
        }
