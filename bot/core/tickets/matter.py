"""One matter, one ticket: when a citizen asks for a person, a ticket already open on the same
matter is taken up instead of filing a second one.

Two tickets are "the same matter": the report the citizen filed in this conversation and wants
to talk over (its id is in the conversation's `ticket_id` slot), and a call-back they asked for
outside service hours that nobody has answered yet. The citizen's new words go into that
ticket's transcript; within service hours it becomes a live handoff.
"""

from __future__ import annotations

from bot.core.tickets import records
from bot.core.tickets.model import Ticket
from bot.core.tickets.texts import CALLBACK, REPORT, REPORT_DISCUSSION, REQUEST_HUMAN


def report_to_discuss(ticket_id: str | None, sender_id: str) -> Ticket | None:
    """The report this citizen filed and that is still open (never someone else's)."""
    ticket = records.find(ticket_id) if ticket_id else None
    if ticket is None or ticket.sender_id != sender_id or not ticket.is_open:
        return None
    return ticket if ticket.reason == REPORT else None


def take_up(sender_id: str, *, reason: str, in_hours: bool, report_id: str | None, words: str) -> Ticket | None:
    """The open ticket this request for a person belongs to, updated; None: file a new one.

    `words` is what the citizen just said ("" for a button press), `report_id` the ticket of
    the conversation, `reason` why they are going to a person.
    """
    report = report_to_discuss(report_id, sender_id) if reason == REPORT_DISCUSSION else None
    if report is not None:
        if words:
            records.append(report.id, "citizen", words)
        return records.mark_handoff(report.id, reason) if in_hours else report
    waiting = records.open_for_sender(sender_id, (CALLBACK,))
    if waiting is not None:
        if words:
            records.append(waiting.id, "citizen", words)
        return records.mark_handoff(waiting.id, REQUEST_HUMAN) if in_hours else waiting
    return None
