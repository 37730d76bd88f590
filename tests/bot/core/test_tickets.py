"""Tickets (bot/core/tickets.py) on a real SQLite database at the latest schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core import tickets
from bot.core.vocabulary import Status
from bot.infra import db

ROOT = Path(__file__).resolve().parents[3]


def _new(key: str = "k", topic: str = "request_human", **kw: object) -> tickets.Ticket:
    ticket, _ = tickets.create(
        idempotency_key=key, channel=str(kw.pop("channel", "rest")), sender_id=str(kw.pop("sender_id", "s")), topic=topic,
        summary=str(kw.pop("summary", "要求人工")), **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return ticket


def test_the_same_key_files_one_ticket(db_url: str) -> None:
    first, created = tickets.create(
        idempotency_key="s:handoff:m1", channel="rest", sender_id="s", topic="request_human", summary="a"
    )
    again, created_again = tickets.create(
        idempotency_key="s:handoff:m1", channel="rest", sender_id="s", topic="request_human", summary="b"
    )
    assert created and not created_again
    assert again.id == first.id and again.summary == "a"
    assert len(tickets.query()) == 1


def test_ids_are_dated_and_sequential_in_the_city_time_zone(db_url: str) -> None:
    late_utc = datetime(2026, 11, 26, 17, 30, tzinfo=timezone.utc)  # 01:30 on the 27th in Shanghai
    a = _new("a", now=late_utc)
    b = _new("b", now=late_utc)
    assert (a.id, b.id) == ("20261127-000001", "20261127-000002")
    assert a.to_json()["created_at"].endswith("+08:00")


def test_ids_stay_unique_when_several_processes_file_at_once(db_url: str) -> None:
    code = (
        "import sys; from bot.core import tickets\n"
        "for i in range(15):\n"
        "    tickets.create(idempotency_key=f'{sys.argv[1]}-{i}', channel='rest', sender_id='p', topic='request_human', summary='x')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"proc{n}"],
            cwd=ROOT,
            env={"DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        for n in range(4)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    ids = [t.id for t in tickets.query(limit=1000)]
    assert len(ids) == 60 and len(set(ids)) == 60
    assert all(re.fullmatch(r"\d{8}-\d{6}", i) for i in ids)


@pytest.mark.parametrize(
    ("topic", "kind", "department", "priority"),
    [
        ("self_harm", "help", None, "P0"),
        ("emergency", "help", None, "P0"),
        ("child_welfare", "help", None, "P0"),
        ("report_noise", "complaint", "ecology_environment", "P2"),
        ("report_utilities", "help", None, "P1"),
        ("suggestion", "suggestion", None, "P2"),
        ("faq/shebao_card_apply", "consult", "hrss", "P2"),
        ("request_human", "consult", "hotline", "P2"),
    ],
)
def test_routing_by_topic_and_crisis_rules(topic: str, kind: str, department: str | None, priority: str) -> None:
    r_kind, r_dept, r_prio = tickets.route(topic)
    assert (r_kind, r_prio) == (kind, priority)
    if department:
        assert r_dept == department


def test_sla_comes_from_priority_then_live_handoff_then_kind(db_url: str) -> None:
    now = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    crisis = _new("c", "self_harm", now=now)
    report = _new("r", "report_noise", now=now)
    live = _new("l", "request_human", handoff=True, now=now)
    assert crisis.sla_due_at - now == timedelta(minutes=15)
    assert report.sla_due_at - now == timedelta(days=5)
    assert live.sla_due_at - now == timedelta(minutes=15)
    assert tickets.sla_for("complaint", "P2").text == "5个工作日"
    assert tickets.sla_for("consult", "P2", handoff=True).text == "15分钟"


def test_an_after_hours_call_back_is_due_after_the_next_opening(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    profile = tmp_path / "city.yml"
    profile.write_text(
        "service_hours: {timezone: Asia/Shanghai, weekdays: [1, 2, 3, 4, 5], start: '09:00', end: '18:00'}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CITY_FILE", str(profile))
    friday_night = datetime(2026, 11, 27, 22, 0, tzinfo=timezone(timedelta(hours=8)))
    assert tickets.callback_due(friday_night) == datetime(2026, 11, 30, 11, 0, tzinfo=timezone(timedelta(hours=8)))
    early_monday = datetime(2026, 11, 30, 6, 0, tzinfo=timezone(timedelta(hours=8)))
    assert tickets.callback_due(early_monday) == datetime(2026, 11, 30, 11, 0, tzinfo=timezone(timedelta(hours=8)))


def test_summary_is_one_short_line() -> None:
    line = tickets.one_line(
        "要求人工｜社保卡挂失与补换", "我的社保卡\n丢了，\t想问问 怎么补办，还有里面的钱会不会被别人取走" * 3
    )
    assert "\n" not in line and len(line) <= tickets.SUMMARY_CHARS
    assert line.startswith("要求人工｜社保卡挂失与补换：“我的社保卡 丢了") and line.endswith("…”")
    assert tickets.one_line("要求人工", "") == "要求人工"


def test_queue_order_is_priority_then_oldest(db_url: str) -> None:
    now = db.utcnow()
    a = _new("a", "report_noise", now=now - timedelta(hours=5))
    b = _new("b", "self_harm", now=now - timedelta(minutes=1))
    c = _new("c", "report_noise", now=now - timedelta(hours=9))
    d = _new("d", "report_utilities", now=now)
    assert [t.id for t in tickets.query(order="queue")] == [b.id, d.id, c.id, a.id]
    assert [t.id for t in tickets.query()] == [d.id, b.id, a.id, c.id]


def test_life_cycle_claim_close_rate(db_url: str) -> None:
    t = _new()
    claimed = tickets.claim(t.id, "agent01")
    assert (claimed.status, claimed.claimed_by) == ("claimed", "agent01")
    with pytest.raises(tickets.TicketError, match="already claimed"):
        tickets.claim(t.id, "agent02")
    closed = tickets.close(t.id, "agent01", "已答复")
    assert closed.status == "closed" and closed.closed_at
    with pytest.raises(tickets.TicketError):
        tickets.claim(t.id, "agent01")
    with pytest.raises(tickets.TicketError):
        tickets.rate(t.id, "还行")
    assert tickets.rate(t.id, "满意").satisfaction == "满意"


def test_escalation_raises_but_never_lowers(db_url: str) -> None:
    t = _new("e", "request_human", handoff=True)
    up = tickets.escalate(t.id, "P0", "self_harm")
    assert (up.priority, up.reason, up.reason_text) == (
        "P0",
        "crisis:self_harm",
        "危机：自伤、自杀或以此相威胁",
    )
    assert up.sla_due_at <= t.sla_due_at
    assert up.summary == "【危机升级】要求人工"
    again = tickets.escalate(t.id, "P1", "child_welfare")
    assert again.priority == "P0" and again.summary == "【危机升级】要求人工"


def test_transcript_keeps_who_said_what(db_url: str) -> None:
    t = _new(
        "t", transcript=[tickets.TranscriptLine(datetime.fromisoformat("2026-11-26T10:00:00+08:00"), "citizen", "人工")]
    )
    tickets.append(t.id, "agent", "您好，我是坐席", agent="agent01")
    tickets.append(t.id, "citizen", "谢谢")
    lines = tickets.get(t.id).transcript
    assert [(e.sender, e.text, e.agent) for e in lines] == [
        ("citizen", "人工", None),
        ("agent", "您好，我是坐席", "agent01"),
        ("citizen", "谢谢", None),
    ]
    assert lines[0].to_json()["at"] == "2026-11-26T10:00:00+08:00"
    assert tickets.get(t.id).first_response_at is not None


def test_masked_view_hides_phone_and_id_numbers(db_url: str) -> None:
    t = _new("m", contact="13912345678", summary="回访 13912345678", description="身份证 11010519491231002X")
    masked = tickets.get(t.id, masked=True)
    assert "13912345678" not in str(masked) and "11010519491231002X" not in str(masked)
    assert tickets.get(t.id).contact == "13912345678"  # the ticket keeps what the citizen gave


def test_a_forwarding_outbox_row_is_written_with_the_ticket(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    t = _new("nf")
    monkeypatch.setenv("FORWARD_URL", "http://127.0.0.1:9/tickets")
    f = _new("f")
    with db.session() as s:
        rows = s.execute(select(db.OutboxItem.ticket_id)).scalars().all()
    assert rows == [f.id] and t.id not in rows


def test_open_for_sender_and_mark_handoff(db_url: str) -> None:
    cb = _new("cb", reason="after_hours_callback", sender_id="x")
    assert tickets.open_for_sender("x", ("after_hours_callback",)).id == cb.id
    assert tickets.open_for_sender("y", ("after_hours_callback",)) is None
    live = tickets.mark_handoff(cb.id, "request_human")
    assert live.handoff is True and live.reason == "request_human"
    tickets.close(cb.id, "a", "done")
    assert tickets.open_for_sender("x", ("request_human",)) is None


API_FIELDS = [
    "id", "created_at", "updated_at", "sla_due_at", "channel", "sender_id", "kind", "topic", "department",
    "department_name", "priority", "status", "summary", "description", "location", "contact", "handoff", "reason",
    "reason_text", "attachments", "claimed_by", "claimed_at", "first_response_at", "closed_at", "resolution",
    "satisfaction", "satisfaction_comment", "transcript", "notes",
]  # fmt: skip


def test_the_json_is_the_apis_shape_with_plain_values(db_url: str) -> None:
    t = _new("j", "report_noise", reason="report", location="建设路12号")
    out = tickets.get(t.id).to_json()
    assert list(out) == API_FIELDS
    assert (out["kind"], out["priority"], out["status"], out["channel"]) == ("complaint", "P2", "new", "rest")
    assert all(type(out[k]) is str for k in ("kind", "priority", "status", "channel"))  # not enum members
    assert (out["department_name"], out["reason_text"]) == ("生态环境局", "事项登记")
    assert out["sla_due_at"].endswith("+08:00") and out["claimed_at"] is None
    assert json.loads(json.dumps(out, ensure_ascii=False)) == out
    listed = tickets.query(sender_id="s")[0].to_json()  # a list view without transcript and notes
    assert list(listed) == API_FIELDS[:-2]
    assert t["id"] == t.id  # read by name, as callers that still treat it as the JSON do


def test_who_may_do_what_in_which_status(db_url: str) -> None:
    t = _new("w")
    assert t.status is Status.NEW and t.is_open
    tickets.claim(t.id, "agent01")
    with pytest.raises(tickets.ClaimedByOther) as other:
        tickets.close(t.id, "agent02", "不是我的")
    assert other.value.agent == "agent01"
    closed = tickets.close(t.id, "boss", "值班长办结", overrule=True)
    assert (closed.status, closed.claimed_by, closed.is_open) == (Status.CLOSED, "agent01", False)
    for change in (
        lambda: tickets.close(t.id, "agent01", "again"),
        lambda: tickets.claim(t.id, "agent01"),
        lambda: tickets.mark_handoff(t.id, "request_human"),
    ):
        with pytest.raises(tickets.Closed):
            change()
    with pytest.raises(tickets.NotFound):
        tickets.claim("20260101-999999", "agent01")
