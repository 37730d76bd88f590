"""Blocking work (SQL, Redis) runs off the action server's event loop (actions/filing.py):
rasa-sdk 3.6.2 runs every action on one loop, so one slow database must not stall the others."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from rasa_sdk.events import SlotSet

from actions import crisis
from bot.core import tickets
from tests.actions.trackers import make_tracker, run


async def test_a_slow_database_does_not_stall_the_event_loop(
    db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = tickets.create

    def slow_create(**kwargs: Any) -> tuple[tickets.Ticket, bool]:
        time.sleep(0.5)
        return create(**kwargs)

    monkeypatch.setattr(tickets, "create", slow_create)
    ticks = 0

    async def other_citizens() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(other_citizens())
    try:
        _, events = await run(crisis.ActionCrisis(), make_tracker("我不想活了", "self_harm", sender="slow"))
    finally:
        ticker.cancel()
    assert ticks >= 20, ticks  # the loop kept serving others while the ticket was being filed
    [ticket] = tickets.query(sender_id="slow")
    assert SlotSet("ticket_id", ticket.id) in events
