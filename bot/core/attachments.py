"""Media a citizen sends while a report is being filed: kept until the report's ticket exists.

The report form asks its questions over several turns and files the ticket at its end, so a photo
sent in between has no ticket to join yet. It waits in Redis (`keys.report_attachments`, 24 h);
after each turn that ends the form, what waited joins the ticket the form filed, or is dropped
when the form was abandoned (no ticket since the first photo). A channel calls `keep` for media
the bot cannot read and `file_kept` after every turn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.core import tickets
from bot.infra import keys, store

REPORT_FORM = "report_form"
KEEP_S = 24 * 3600
# the form files its ticket during its last turn, seconds at most after the media arrived; the
# slack covers the clocks of two processes (the one that kept the media, the one that filed)
FILED_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Attachment:
    """One piece of media as a ticket keeps it (the desk shows it); unset fields are left out."""

    platform: str
    type: str  # image, video, link ... as the platform names it
    media_id: str | None = None  # the platform's handle (WeChat keeps temporary media for 3 days)
    url: str | None = None
    title: str | None = None
    msg_id: str | None = None
    received_at: str = ""  # ISO 8601, UTC, seconds

    @classmethod
    def received_now(
        cls,
        platform: str,
        type: str,
        *,
        media_id: str | None = None,
        url: str | None = None,
        title: str | None = None,
        msg_id: str | None = None,
    ) -> Attachment:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return cls(platform, type, media_id=media_id, url=url, title=title, msg_id=msg_id, received_at=now)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class Filed:
    """What `file_kept` did with the media kept for a citizen."""

    count: int
    ticket_id: str | None  # None: no ticket since the first of them (the report was abandoned): dropped


def pending_attachments_key(sender_id: str) -> str:
    """Media sent while a report is being filed wait here for the report's ticket (any channel)."""
    return keys.report_attachments(sender_id)


def report_in_progress(active_loop_name: str | None) -> bool:
    """Whether media arriving now are kept for a report (the citizen is in the report form)."""
    return active_loop_name == REPORT_FORM


def joins(kept: list[dict[str, Any]], filed_at: datetime | None) -> bool:
    """Whether the citizen's newest ticket, filed at `filed_at`, is the report the kept media were sent for."""
    if not kept or filed_at is None:
        return False
    since = min(datetime.fromisoformat(a["received_at"]) for a in kept)
    return filed_at >= since - FILED_SLACK


async def keep(sender_id: str, attachment: Attachment) -> None:
    """Keep media for the report being filed (raises store.ERRORS when Redis is unavailable)."""
    key = pending_attachments_key(sender_id)
    r = store.async_client()
    try:
        await r.rpush(key, json.dumps(attachment.as_dict(), ensure_ascii=False))
        await r.expire(key, KEEP_S)
    finally:
        await r.close()


async def file_kept(sender_id: str, active_loop: Callable[[], Awaitable[str | None]] | None) -> Filed | None:
    """After a turn: media kept while a report was being filed join the ticket it produced.

    `active_loop` reads the conversation's active form (None: no conversation store to ask); it
    is only called when something is kept. None when nothing was done: nothing kept, Redis
    unavailable, no way to ask, or the report still being filed."""
    key = pending_attachments_key(sender_id)
    r = store.async_client()
    try:
        try:
            raw: list[str] = await r.lrange(key, 0, -1)
        except store.ERRORS:
            return None
        if not raw or active_loop is None:
            return None
        if report_in_progress(await active_loop()):
            return None
        kept = [json.loads(x) for x in raw]
        newest = await asyncio.to_thread(tickets.query, sender_id=sender_id, limit=1)
        ticket = newest[0] if newest else None
        filed = Filed(len(kept), None)
        if ticket is not None and joins(kept, ticket.created_at):
            for attachment in kept:
                await asyncio.to_thread(tickets.add_attachment, ticket.id, attachment)
            filed = Filed(len(kept), ticket.id)
        await r.delete(key)  # filed with the ticket, or the report was abandoned
        return filed
    finally:
        await r.close()
