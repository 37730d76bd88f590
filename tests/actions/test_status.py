"""A citizen's ticket status: only their own tickets."""

from __future__ import annotations

from actions import status as a
from bot.core import tickets
from tests.actions.trackers import make_tracker, responses, run


async def test_ticket_status_only_opens_the_citizens_own_ticket(db_url: str) -> None:
    mine, _ = tickets.create(idempotency_key="k1", channel="rest", sender_id="me", topic="report_noise", summary="噪音")
    theirs, _ = tickets.create(
        idempotency_key="k2", channel="rest", sender_id="other", topic="report_noise", summary="噪音"
    )
    dispatcher, _ = await run(
        a.ActionCheckTicketStatus(), make_tracker(f"查询工单 {mine.id}", "check_ticket_status", sender="me")
    )
    assert responses(dispatcher) == ["utter_ticket_status"]
    assert "已登记" in dispatcher.messages[0]["ticket_status_text"]
    dispatcher, _ = await run(
        a.ActionCheckTicketStatus(), make_tracker(f"查询工单 {theirs.id}", "check_ticket_status", sender="me")
    )
    assert responses(dispatcher) == ["utter_ticket_not_found"]
