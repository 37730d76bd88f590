"""Forwarding new tickets to the city's own ticketing system (optional, FORWARD_URL).

An outbox: `tickets.create` writes an outbox row in the same transaction as the ticket, so a
ticket the citizen was told about is never lost, whatever crashes afterwards. A worker (in the
desk process; any number of them) POSTs each row with `requests`:

- JSON body = the ticket (contract shape, unmasked: the city's system is the system of record),
  `Idempotency-Key: <ticket id>` so that a repeat after a lost answer makes nothing twice,
  `Authorization: Bearer FORWARD_TOKEN` when set;
- a timeout on every call (FORWARD_TIMEOUT_S);
- 2xx: delivered. 5xx, 429, timeouts and refused connections: retried with exponential backoff
  and jitter, capped at FORWARD_MAX_BACKOFF_S, for as long as it takes. Any other answer (a
  4xx: the receiver refuses this ticket; retrying cannot help): given up, recorded on the row
  and as a note on the ticket, and shown live on the desk.
Rows are leased before sending (an UPDATE that only one worker can win), so several workers
never send the same row at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, update

from bot.core import tickets
from bot.infra import db, settings

log = logging.getLogger(__name__)
BASE_DELAY_S = 2.0
LEASE_S = 120.0
POLL_S = 1.0
RETRY_STATUSES = frozenset({429})
USER_AGENT = "hotline12345-forwarder/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool
    status: int | None
    error: str | None


def backoff(attempts: int, base: float = BASE_DELAY_S, cap: float | None = None) -> float:
    """Seconds before attempt `attempts + 1`: base, 2×base, 4×base … capped, ±20 % jitter."""
    cap = settings.load().forward_max_backoff_s if cap is None else cap
    # the exponent stops at 64, long past any cap: 2 ** 1024 and above overflows a float
    delay = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 64))
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security


def post(ticket: dict[str, Any], cfg: settings.Settings | None = None) -> Outcome:
    cfg = cfg or settings.load()
    headers = {"Idempotency-Key": ticket["id"], "User-Agent": USER_AGENT}
    if cfg.forward_token:
        headers["Authorization"] = f"Bearer {cfg.forward_token}"
    try:
        resp = requests.post(cfg.forward_url, json=ticket, headers=headers, timeout=(3.05, cfg.forward_timeout_s))
    except requests.Timeout:
        return Outcome(False, True, None, "timeout")
    except requests.ConnectionError as exc:  # the request never reached the receiver: safe to repeat
        return Outcome(False, True, None, f"connection error: {type(exc).__name__}")
    if 200 <= resp.status_code < 300:
        return Outcome(True, False, resp.status_code, None)
    body = (resp.text or "")[:500]
    retry = resp.status_code >= 500 or resp.status_code in RETRY_STATUSES
    return Outcome(False, retry, resp.status_code, f"HTTP {resp.status_code}: {body}")


def _lease(item_id: int, seen_next: datetime, now: datetime) -> bool:
    with db.session() as s:
        result = s.execute(
            update(db.OutboxItem)
            .where(
                db.OutboxItem.id == item_id,
                db.OutboxItem.next_attempt_at == seen_next,
                db.OutboxItem.delivered_at.is_(None),
                db.OutboxItem.gave_up_at.is_(None),
            )
            .values(next_attempt_at=now + timedelta(seconds=LEASE_S))
        )
        won: bool = result.rowcount == 1
        return won


def run_once(now: datetime | None = None, base_delay: float = BASE_DELAY_S, limit: int = 20) -> int:
    """Send every row that is due; returns how many were attempted."""
    cfg = settings.load()
    if not cfg.forward_url:
        return 0
    now = now or db.utcnow()
    with db.session() as s:
        due = s.execute(
            select(db.OutboxItem.id, db.OutboxItem.next_attempt_at, db.OutboxItem.ticket_id)
            .where(
                db.OutboxItem.delivered_at.is_(None),
                db.OutboxItem.gave_up_at.is_(None),
                db.OutboxItem.next_attempt_at <= now,
            )
            .order_by(db.OutboxItem.next_attempt_at)
            .limit(limit)
        ).all()
    attempted = 0
    for item_id, seen_next, ticket_id in due:
        if not _lease(item_id, seen_next, now):
            continue  # another worker has it
        attempted += 1
        ticket = tickets.find(ticket_id)
        outcome = post(ticket.to_json(), cfg) if ticket else Outcome(False, False, None, "ticket no longer exists")
        _record(item_id, ticket_id, outcome, base_delay)
    return attempted


def _record(item_id: int, ticket_id: str, outcome: Outcome, base_delay: float) -> None:
    now = db.utcnow()
    with db.session() as s:
        item = s.get(db.OutboxItem, item_id)
        item.attempts += 1
        item.last_status = outcome.status
        item.last_error = outcome.error
        if outcome.delivered:
            item.delivered_at = now
        elif outcome.retry:
            item.next_attempt_at = now + timedelta(seconds=backoff(item.attempts, base_delay))
        else:
            item.gave_up_at = now
        attempts = item.attempts
    if outcome.delivered:
        log.info("ticket %s forwarded (attempt %d)", ticket_id, attempts)
    elif outcome.retry:
        log.warning("forwarding ticket %s failed (attempt %d, %s); will retry", ticket_id, attempts, outcome.error)
    else:
        log.error("forwarding ticket %s refused (%s); not retried", ticket_id, outcome.error)
        _tell_the_desk(ticket_id, outcome)


def _tell_the_desk(ticket_id: str, outcome: Outcome) -> None:
    from bot.core import handoff
    from bot.infra import store

    try:
        tickets.add_note(
            ticket_id, "system", f"【系统】转发至外部工单系统被拒绝（{outcome.error or '未知原因'}），请人工处理。"
        )
    except tickets.TicketError:
        return
    try:
        handoff.publish("forward_failed", ticket_id=ticket_id, status=outcome.status)
    except store.ERRORS:
        log.warning("could not publish forward_failed for %s", ticket_id)


def status(ticket_id: str) -> dict[str, Any] | None:
    """The forwarding state of one ticket for the desk, None when it is not forwarded."""
    with db.session() as s:
        item = s.execute(select(db.OutboxItem).where(db.OutboxItem.ticket_id == ticket_id)).scalar()
        if item is None:
            return None
        state = "delivered" if item.delivered_at else "failed" if item.gave_up_at else "pending"
        return {
            "state": state,
            "attempts": item.attempts,
            "last_status": item.last_status,
            "last_error": item.last_error,
            "delivered_at": tickets.iso(item.delivered_at),
        }


async def worker(stop: asyncio.Event, poll_s: float = POLL_S) -> None:
    """Runs in the desk process until `stop` is set."""
    log.info("forwarding worker started")
    while not stop.is_set():
        try:
            await asyncio.to_thread(run_once)
        except Exception:  # a database hiccup must not end the worker: the rows wait for the next round
            log.exception("forwarding round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_s)
        except TimeoutError:
            pass
