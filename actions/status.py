"""A citizen asks how their ticket is doing: only their own tickets, a number alone opens
nobody else's."""

from __future__ import annotations

import re

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.filing import blocking
from bot.core import tickets

TICKET_ID = re.compile(r"\d{8}-\d{6}")


def own_ticket(sender_id: str, ticket_id: str | None) -> tuple[str | None, tickets.Ticket | None]:
    """Blocking: (the id asked about or the citizen's newest, the ticket if it is theirs)."""
    if not ticket_id:
        newest = tickets.query(sender_id=sender_id, limit=1)
        if not newest:
            return None, None
        ticket_id = newest[0].id
    ticket = tickets.find(ticket_id)
    return ticket_id, ticket if ticket is not None and ticket.sender_id == sender_id else None


class ActionCheckTicketStatus(Action):
    def name(self) -> str:
        return "action_check_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        typed = TICKET_ID.search(tracker.latest_message.get("text") or "")
        ticket_id, ticket = await blocking(own_ticket, tracker.sender_id, typed.group(0) if typed else None)
        if ticket_id is None:
            dispatcher.utter_message(response="utter_ask_ticket_id")
            return []
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_id=ticket_id)
            return [SlotSet("ticket_id", ticket_id)]
        status = tickets.status_text(ticket)
        dispatcher.utter_message(response="utter_ticket_status", ticket_id=ticket_id, ticket_status_text=status)
        return [SlotSet("ticket_id", ticket_id), SlotSet("ticket_status_text", status)]
