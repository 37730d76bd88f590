"""Personal data is kept no longer than the retention settings (bot/ops/retention.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import redis as redis_lib
from aiohttp import web

from bot.core import handoff
from bot.infra import db, keys, settings
from bot.ops import retention

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def _ticket(tid: str, updated: datetime, closed: datetime | None = None) -> None:
    with db.session() as s:
        s.add(db.Ticket(id=tid, idempotency_key=f"k-{tid}", created_at=updated - timedelta(days=1), updated_at=updated,
                        sla_due_at=updated, channel="rest", sender_id=f"s-{tid}", kind="complaint", topic="report_noise",
                        department="urban_management", priority="P2", status="closed" if closed else "new",
                        summary="噪音", description="电话13812345678", contact="13812345678", closed_at=closed))  # fmt: skip
        s.add(db.TranscriptEntry(ticket_id=tid, sender="citizen", text="楼下很吵，电话13812345678", at=updated))
        s.add(db.TicketNote(ticket_id=tid, agent="王芳", text="已联系", at=updated))
        s.add(db.OutboxItem(ticket_id=tid, created_at=updated))


def _records(at: datetime, sender: str) -> None:
    with db.session() as s:
        s.add(db.AuditRecord(at=at, channel="rest", sender_id=sender, response="utter_greet", text="您好"))
        s.add(db.InboundRecord(at=at, channel="rest", sender_id=sender, text="你好"))
        s.add(db.Feedback(at=at, channel="rest", sender_id=sender, kind="helpful", value="yes"))


def _count(model: type, **where: str) -> int:
    with db.session() as s:
        return s.query(model).filter_by(**where).count()


def test_tickets_and_records_past_retention_are_deleted(
    db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_TICKET_DAYS", "1095")
    monkeypatch.setenv("RETENTION_AUDIT_DAYS", "365")
    _ticket("20231101-000001", updated=NOW - timedelta(days=1100), closed=NOW - timedelta(days=1100))  # expired
    _ticket("20231101-000002", updated=NOW - timedelta(days=1100))  # open, untouched for 3 years: expired
    _ticket("20231101-000003", updated=NOW - timedelta(days=10), closed=None)  # old, but changed lately: kept
    _ticket("20261120-000001", updated=NOW - timedelta(days=6), closed=NOW - timedelta(days=5))  # recent: kept
    _records(NOW - timedelta(days=400), "old")
    _records(NOW - timedelta(days=300), "new")
    handoff.start("s-20231101-000002", "20231101-000002", "rest")  # would hold the citizen forever
    handoff.start("s-20231101-000003", "20231101-000003", "rest")

    result = retention.purge(now=NOW)

    assert (result.tickets, result.audit, result.inbound, result.feedback, result.handoffs_ended) == (2, 1, 1, 1, 1)
    with db.session() as s:
        assert sorted(t.id for t in s.query(db.Ticket)) == ["20231101-000003", "20261120-000001"]
    for child in (db.TranscriptEntry, db.TicketNote, db.OutboxItem):
        assert _count(child, ticket_id="20231101-000001") == 0 and _count(child, ticket_id="20261120-000001") == 1
    for model in (db.AuditRecord, db.InboundRecord, db.Feedback):
        assert _count(model, sender_id="old") == 0 and _count(model, sender_id="new") == 1
    assert handoff.current("s-20231101-000002") is None
    assert handoff.current("s-20231101-000003") == {"ticket_id": "20231101-000003", "channel": "rest"}
    assert retention.purge(now=NOW).tickets == 0  # nothing left to do the second time


def test_shorter_settings_delete_sooner(db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_TICKET_DAYS", "30")
    monkeypatch.setenv("RETENTION_AUDIT_DAYS", "7")
    _ticket("20261001-000001", updated=NOW - timedelta(days=31), closed=NOW - timedelta(days=31))
    _records(NOW - timedelta(days=8), "week-old")
    result = retention.purge(now=NOW)
    assert (result.tickets, result.audit) == (1, 1)


def test_trackers_without_expiry_get_one_and_old_live_events_go(
    db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_TRACKER_DAYS", "30")
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    r.set("hotline:tracker:no-ttl", "{}")
    r.set("hotline:tracker:with-ttl", "{}", ex=600)
    r.set("hotline:lock:abc", "x")  # not a tracker: left alone
    now = datetime.now(timezone.utc)
    old_ms = int((now - timedelta(days=31)).timestamp() * 1000)
    r.xadd(keys.DESK_EVENTS, {"event": '{"type": "citizen_message", "text": "电话13812345678"}'}, id=f"{old_ms}-0")
    handoff.publish("citizen_message", text="刚才的消息")

    result = retention.purge(now=now)

    assert result.trackers_given_ttl == 1
    assert 29 * 86400 < r.ttl("hotline:tracker:no-ttl") <= 30 * 86400
    assert r.ttl("hotline:tracker:with-ttl") <= 600
    assert r.ttl("hotline:lock:abc") == -1
    assert result.events == 1
    assert [e[1]["event"] for e in r.xrange(keys.DESK_EVENTS)] == ['{"type": "citizen_message", "text": "刚才的消息"}']


def test_redis_down_still_purges_the_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    _records(NOW - timedelta(days=400), "old")
    assert retention.purge(now=NOW).audit == 1


async def test_the_desk_runs_the_purge_at_start_and_stops_cleanly(db_url: str, redis_url: str) -> None:
    _records(db.utcnow() - timedelta(days=settings.load().retention_audit_days + 1), "old")
    app = web.Application()
    retention.start_retention_task(app, interval_s=3600)
    app.freeze()
    await app.startup()
    for _ in range(100):
        if _count(db.AuditRecord, sender_id="old") == 0:
            break
        await asyncio.sleep(0.05)
    await app.cleanup()
    assert _count(db.AuditRecord, sender_id="old") == 0


def test_command_line(db_url: str, redis_url: str) -> None:
    _records(db.utcnow() - timedelta(days=400), "old")
    proc = subprocess.run([sys.executable, "-m", "bot.ops.retention"], cwd=settings.ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(settings.ROOT), "DATABASE_URL": db_url, "REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "audit=1" in proc.stdout and _count(db.AuditRecord, sender_id="old") == 0
