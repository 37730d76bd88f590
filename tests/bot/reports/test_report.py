"""The supervision report (bot/reports/report.py): figures checked exactly.

The main test plays a known set of conversations through the real stack (REST channel, Rasa,
actions, desk API) and checks every figure compute() derives from what the product recorded.
The unit tests cover what real time cannot produce in a test (a missed SLA, a 30-minute pause)
on records written with the product's own functions.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from bot.core import city, tickets
from bot.infra import db
from bot.ops import seed
from bot.reports import report as reports
from bot.stack.processes import Stack

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # 10:00 in the city (Asia/Shanghai)


def _inbound(sender: str, at: datetime, intent: str | None = "greet", *, text: str = "你好", channel: str = "rest",
             handled_by: str = "bot", crisis: str | None = None) -> None:  # fmt: skip
    with db.session() as s:
        s.add(db.InboundRecord(at=at, channel=channel, sender_id=sender, text=text, intent=intent, confidence=0.9,
                               handled_by=handled_by, crisis=crisis))  # fmt: skip


def _audit(sender: str, at: datetime, response: str | None, *, blocked: bool = False, reason: str | None = None,
           agent: str | None = None, channel: str = "rest") -> None:  # fmt: skip
    with db.session() as s:
        s.add(db.AuditRecord(at=at, channel=channel, sender_id=sender, response=response, text="…", blocked=blocked,
                             blocked_reason=reason, agent=agent))  # fmt: skip


# ------------------------------------------------------------------------------------ unit tests
def test_a_pause_of_more_than_30_minutes_starts_a_new_conversation(db_url: str) -> None:
    for minutes in (0, 10, 39):  # 29 minutes between the 2nd and 3rd: one conversation
        _inbound("a", T0 + timedelta(minutes=minutes))
    _inbound("a", T0 + timedelta(minutes=39 + 31))  # 31 minutes later: a second one
    _inbound("b", T0 + timedelta(minutes=5), channel="socketio")
    fig = reports.compute(db_url, T0.date(), T0.date())
    assert fig["volume"]["conversations"] == 3
    assert fig["volume"]["citizen_messages"] == 5
    assert fig["volume"]["conversations_by_channel"] == {"rest": 2, "socketio": 1}
    assert fig["volume"]["messages_by_hour"][10] == 4 and fig["volume"]["messages_by_hour"][11] == 1
    assert fig["containment"] == {
        "conversations": 3, "contained": 3, "escalated": 0, "rate": 1.0,
        "by_channel": {"rest": {"conversations": 2, "contained": 2, "containment": 1.0},
                       "socketio": {"conversations": 1, "contained": 1, "containment": 1.0}},
    }  # fmt: skip


def test_the_range_is_whole_days_in_the_city_time_zone(db_url: str) -> None:
    # 23:30 on the 23rd in the city is 15:30 UTC; 00:30 on the 25th is 16:30 UTC on the 24th
    _inbound("early", datetime(2026, 11, 23, 15, 30, tzinfo=timezone.utc))
    _inbound("inside", T0)
    _inbound("late", datetime(2026, 11, 24, 16, 30, tzinfo=timezone.utc))
    assert city.timezone().key == "Asia/Shanghai"
    fig = reports.compute(db_url, T0.date(), T0.date())
    assert fig["volume"]["conversations"] == 1
    assert fig["period"]["from"] == fig["period"]["to"] == "2026-11-24"


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
    fig = reports.compute(db_url, T0.date(), T0.date(), now=T0 + timedelta(days=6))
    assert fig["sla"]["all"] == {"kept": 1, "missed": 1, "pending": 1, "kept_rate": 0.5}
    assert fig["sla"]["priority:P0"] == {"kept": 1, "missed": 0, "pending": 0, "kept_rate": 1.0}
    assert fig["sla"]["type:report"] == {"kept": 0, "missed": 1, "pending": 1, "kept_rate": 0.0}
    assert fig["tickets"]["by_priority"] == {"P0": 1, "P1": 0, "P2": 2}
    assert [r["agent"] for r in fig["agents"]["rows"]] == ["王芳"]
    row = fig["agents"]["rows"][0]
    assert (row["claim_wait"]["median_min"], row["first_response"]["median_min"], row["resolution"]["median_min"]) == (
        2.0,
        5.0,
        40.0,
    )
    assert fig["crisis"]["tickets"] == [
        {"id": p0["id"], "type": "self_harm", "priority": "P0", "department": "12345热线（人工分拨）", "status": "closed",
         "first_response_min": 5.0, "sla": "kept"}
    ]  # fmt: skip
    # a ticket rated although the ask is not in the audit: it was offered (the rating proves it)
    assert fig["satisfaction"]["tickets"]["offered"] == 1 and fig["satisfaction"]["tickets"]["满意"] == 1
    assert late["id"] not in {r["id"] for r in fig["crisis"]["tickets"]}


def test_blocked_replies_are_counted_once_with_their_reason(db_url: str) -> None:
    _inbound("a", T0)
    _audit("a", T0, "utter_greet")
    # what a blocked reply leaves in the audit: the blocked text, then the safe answer sent instead
    _audit("a", T0 + timedelta(seconds=1), None, blocked=True, reason="forbidden phrase: 无可奉告")
    _audit("a", T0 + timedelta(seconds=1), "utter_safe_fallback")
    _audit("a", T0 + timedelta(seconds=2), None, agent="王芳")  # an agent's reply
    _audit("a", T0 + timedelta(seconds=3), "desk_reveal_contact", agent="王芳", channel="desk")  # not a message
    fig = reports.compute(db_url, T0.date(), T0.date())
    assert fig["guard"] == {"bot_messages": 2, "blocked": 1, "rate": 0.5, "by_reason": [{"key": "含禁用表述", "count": 1}],
                            "by_channel": {"rest": 1}}  # fmt: skip
    assert (fig["volume"]["bot_messages"], fig["volume"]["agent_messages"]) == (2, 1)


def test_comments_said_unprompted_are_listed_for_the_supervisors(db_url: str) -> None:
    _inbound("a", T0)
    with db.session(db_url) as s:
        s.add(db.Feedback(at=T0, channel="rest", sender_id="a", kind="comment", value="comment",
                          comment="接线员态度不好"))  # fmt: skip
    fig = reports.compute(db_url, T0.date(), T0.date())
    assert fig["satisfaction"]["comments"] == [
        {"ticket_id": None, "department": "—", "value": "留言", "comment": "接线员态度不好"}
    ]
    assert fig["satisfaction"]["tickets"]["offered"] == 0  # not a rating


def test_unanswered_questions_are_grouped_and_masked() -> None:
    groups = reports.group_questions(
        [
            "小区门口能装个快递柜吗",
            "楼下装个快递柜行不行？",
            "小区里能不能加装快递柜",
            "能不能在我们小区装充电桩",  # shares only the generic 小区 with the parcel lockers
            "小区能装电动车充电桩吗",
            "养犬登记",
            "我电话13812345678 养犬登记在哪",
            "路边停车怎么收费",
        ]
    )
    found = sorted((g["count"], g["keywords"]) for g in groups)
    assert found == [(1, []), (2, ["充电"]), (2, ["养犬", "登记"]), (3, ["快递"])]
    assert groups[0]["count"] == 3  # largest first
    assert groups[0]["variants"] == ["小区门口能装个快递柜吗", "楼下装个快递柜行不行？", "小区里能不能加装快递柜"]
    assert all("13812345678" not in v for g in groups for v in g["variants"])
    assert any("我电话138****5678 养犬登记在哪" in g["variants"] for g in groups)


def test_html_and_csv_carry_the_figures(db_url: str, tmp_path: Path) -> None:
    _inbound("a", T0, "nlu_fallback", text="我的电话是13812345678，养犬登记在哪")
    fig = reports.compute(db_url, T0.date(), T0.date())
    html_path, csv_path = reports.write(fig, tmp_path)
    assert html_path.name == "report-2026-11-24-2026-11-24.html"
    page = html_path.read_text(encoding="utf-8")
    assert "智能服务监督报告" in page and "口径说明" in page and "满意率" in page
    assert page.count('src="data:image/png;base64,') >= 2  # charts are inline: the file stands alone
    assert "13812345678" not in page and "138****5678" in page
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["section", "dimension", "key", "metric", "value"]
    assert ["unanswered", "", "", "total", "1"] in rows
    assert ["containment", "", "", "rate", "1.0"] in rows


def test_the_command_writes_the_report(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _inbound("a", T0)
    assert (
        reports.main(["--from", "2026-11-24", "--to", "2026-11-24", "--out", str(tmp_path), "--database-url", db_url])
        == 0
    )
    assert (tmp_path / "report-2026-11-24-2026-11-24.html").exists()
    assert (tmp_path / "report-2026-11-24-2026-11-24.csv").exists()
    assert "会话 1" in capsys.readouterr().out


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
    fig = reports.compute(stack.env["DATABASE_URL"], start, end)
    citizens, ids, handoff_reason = played["citizens"], played["tickets"], played["handoff_reason"]

    # volume: every message each citizen sent, every reply each received
    said = sum(len(c.said) for c in citizens)
    assert fig["volume"]["conversations"] == 10
    assert fig["volume"]["citizen_messages"] == said
    assert fig["volume"]["messages_by_channel"] == {"rest": said}
    assert sum(fig["volume"]["messages_by_hour"]) == said
    assert fig["volume"]["bot_messages"] == sum(1 for c in citizens for r in c.replies if r.response)
    assert fig["volume"]["agent_messages"] == played["agent_replies"] == 5

    # containment: the crisis and the request for a person went to people; the rest did not
    assert (fig["containment"]["contained"], fig["containment"]["escalated"], fig["containment"]["rate"]) == (8, 2, 0.8)
    assert fig["handoffs"]["total"] == 2
    assert sorted((r["reason"], r["count"]) for r in fig["handoffs"]["reasons"]) == sorted(
        [("crisis:self_harm", 1), (handoff_reason, 1)]
    )

    t = fig["tickets"]
    assert (t["total"], t["handoff"], t["filed_by_bot"]) == (4, 2, 2)
    assert {r["department"]: r["count"] for r in t["by_department"]} == {
        "hotline": 2,
        "ecology_environment": 1,
        "urban_management": 1,
    }
    assert {r["kind"]: r["count"] for r in t["by_kind"]} == {"complaint": 1, "report": 1, "help": 1, "consult": 1}
    assert t["by_priority"] == {"P0": 1, "P1": 0, "P2": 3}
    assert t["by_status"] == {"new": 1, "claimed": 0, "closed": 3}

    # SLA: three answered within minutes, the open report is not yet due
    assert fig["sla"]["all"] == {"kept": 3, "missed": 0, "pending": 1, "kept_rate": 1.0}
    assert fig["sla"]["priority:P0"] == {"kept": 1, "missed": 0, "pending": 0, "kept_rate": 1.0}
    agents = {r["agent"]: r for r in fig["agents"]["rows"]}
    assert sorted(agents) == ["李娜", "王芳", "陈静"]
    assert all((r["tickets"], r["replied"], r["closed"]) == (1, 1, 1) for r in agents.values())
    elapsed_min = (end - start).total_seconds() / 60
    assert fig["agents"]["first_response"]["n"] == 3 and 0 < fig["agents"]["first_response"]["max_min"] < elapsed_min

    # satisfaction: 4 conversations asked "有帮助吗" (A once for two answers), 2 answered (yes, no);
    # 3 closed tickets asked to rate, all rated: 满意 (crisis), 基本满意 (report), 不满意 (handoff)
    s = fig["satisfaction"]
    assert s["answers"] == {"offered": 4, "rated": 2, "participation": 0.5, "yes": 1, "no": 1, "helpful": 0.5}
    assert s["tickets"] == {
        "offered": 3,
        "rated": 3,
        "participation": 1.0,
        "满意": 1,
        "基本满意": 1,
        "不满意": 1,
        "satisfaction": 0.6667,
    }
    assert (s["offered"], s["rated"], s["participation"]) == (7, 5, 0.7143)
    assert s["by_topic"]["report_noise"]["tickets"]["基本满意"] == 1
    assert s["by_topic"]["self_harm"]["tickets"]["满意"] == 1
    assert s["by_topic"]["request_human"]["tickets"]["不满意"] == 1
    assert s["by_topic"]["faq/shebao_card_apply"]["answers"] == {
        "offered": 1,
        "rated": 1,
        "participation": 1.0,
        "yes": 1,
        "no": 0,
        "helpful": 1.0,
    }
    assert s["by_department"]["hotline"]["tickets"]["rated"] == 2
    # one comment (I), masked; E declined to comment and is not listed
    assert [(x["ticket_id"], x["value"], x["comment"]) for x in s["comments"]] == [
        (ids["handoff"], "不满意", COMMENT.replace("13912345678", "139****5678"))
    ]
    assert s["by_department"]["ecology_environment"]["tickets"]["satisfaction"] == 1.0

    assert fig["deflections"]["total"] == 1
    assert [(r["intent"], r["messages"], r["conversations"]) for r in fig["deflections"]["by_category"]] == [
        ("out_of_scope", 1, 1)
    ]
    cr = fig["crisis"]
    assert (cr["messages"], cr["conversations"], cr["escalated"], cr["by_type"]) == (1, 1, 1, {"self_harm": 1})
    assert [(r["id"], r["priority"], r["status"], r["sla"]) for r in cr["tickets"]] == [
        (ids["crisis"], "P0", "closed", "kept")
    ]
    assert (fig["guard"]["blocked"], fig["guard"]["rate"]) == (0, 0.0)
    assert fig["unanswered"]["total"] == 1, fig["unanswered"]
    assert fig["unanswered"]["groups"] == [{"count": 1, "keywords": [], "example": fallback, "variants": [fallback]}]


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
