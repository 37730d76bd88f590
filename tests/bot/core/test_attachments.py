"""Media sent while a report is being filed (bot/core/attachments.py), on a real Redis and database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bot.core import attachments, tickets
from bot.core.attachments import Attachment
from bot.infra import store


def _at(seconds: float) -> str:
    base = datetime(2026, 11, 26, 9, 0, 0, tzinfo=timezone.utc)
    return (base + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _when(seconds: int) -> datetime:
    return datetime.fromisoformat(_at(seconds))


def test_only_the_report_form_keeps_media() -> None:
    assert attachments.report_in_progress("report_form")
    assert not attachments.report_in_progress(None)
    assert not attachments.report_in_progress("rating_form")


def test_an_attachment_keeps_its_field_order_and_leaves_out_what_is_unset() -> None:
    a = Attachment("wechat", "image", media_id="m-1", url=None, title="", msg_id="42", received_at=_at(0))
    assert list(a.as_dict().items()) == [
        ("platform", "wechat"),
        ("type", "image"),
        ("media_id", "m-1"),
        ("msg_id", "42"),
        ("received_at", _at(0)),
    ]
    now = Attachment.received_now("wechat", "video")
    assert datetime.fromisoformat(now.received_at) > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_kept_media_join_a_ticket_filed_since_the_first_of_them_and_its_failing_twin() -> None:
    kept = [{"received_at": _at(10)}, {"received_at": _at(0)}]
    assert attachments.joins(kept, _when(30))
    assert attachments.joins(kept, _when(-5))  # another process's clock, a little behind
    assert not attachments.joins(kept, _when(-6))  # an older ticket: the report was abandoned
    assert not attachments.joins(kept, None)
    assert not attachments.joins([], _when(30))


async def test_media_kept_during_a_report_join_its_ticket_once_the_form_is_over(redis_url: str, db_url: str) -> None:
    sender = "c-report-1"
    photo = Attachment.received_now("wechat", "image", media_id="media-1")
    await attachments.keep(sender, photo)
    r = store.client()
    key = attachments.pending_attachments_key(sender)
    assert key == f"report:attachments:{sender}"
    assert [json.loads(x) for x in r.lrange(key, 0, -1)] == [photo.as_dict()]
    assert 0 < r.ttl(key) <= 24 * 3600

    async def in_form() -> str | None:
        return "report_form"

    async def form_over() -> str | None:
        return None

    assert await attachments.file_kept(sender, in_form) is None  # still being filed: they wait
    assert await attachments.file_kept(sender, None) is None  # no conversation store to ask
    assert r.llen(key) == 1
    ticket, _ = tickets.create(idempotency_key=f"r-{sender}", channel="wechat", sender_id=sender,
                               topic="report_noise", summary="噪音扰民")  # fmt: skip
    filed = await attachments.file_kept(sender, form_over)
    assert filed == attachments.Filed(1, ticket["id"])
    assert [a["media_id"] for a in tickets.get(ticket["id"])["attachments"]] == ["media-1"]
    assert r.llen(key) == 0
    assert await attachments.file_kept(sender, form_over) is None  # nothing kept any more


async def test_media_of_an_abandoned_report_are_dropped(redis_url: str, db_url: str) -> None:
    sender = "c-report-2"
    await attachments.keep(sender, Attachment.received_now("wechat", "image", media_id="media-2"))

    async def form_over() -> str | None:
        return None

    assert await attachments.file_kept(sender, form_over) == attachments.Filed(1, None)
    assert store.client().llen(attachments.pending_attachments_key(sender)) == 0
