"""Crisis (lexicon or classifier): the approved script, an urgent ticket, a person at once."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import crisis_check
from actions import tracker as conv
from actions.filing import blocking, file_ticket, publish_ticket, start_handoff, told
from bot.core import tickets, topics

CRISIS_RESPONSE = {
    "self_harm": "utter_crisis_self_harm",
    "emergency": "utter_crisis_emergency",
    "child_welfare": "utter_crisis_child_welfare",
}


def _file_crisis(c: conv.Conversation, intent: str, words: str, description: str) -> tickets.Ticket:
    """Blocking: the P0 ticket, the script in its transcript, the desk alerted, the handoff on."""
    t = topics.load().get(intent)
    ticket = file_ticket(
        c,
        topic=intent,
        what=f"crisis:{intent}",
        handoff_=True,
        reason=tickets.crisis_reason(intent),
        summary=tickets.crisis_summary(t.title if t else intent, words),
        description=description,
    )
    told(ticket, CRISIS_RESPONSE[intent])
    publish_ticket("crisis", ticket, crisis=intent)
    start_handoff(c.sender_id, ticket)
    return ticket


class ActionCrisis(Action):
    def name(self) -> str:
        return "action_crisis"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        facts = crisis_check.crisis_facts(tracker)  # also the answer to the check question
        intent = facts.kind if facts.kind in CRISIS_RESPONSE else "self_harm"
        ticket = await blocking(
            _file_crisis, conv.conversation(tracker), intent, facts.text, crisis_check.described(facts)
        )
        dispatcher.utter_message(response=CRISIS_RESPONSE[intent], ticket_id=ticket.id)
        # a crisis ends whatever form was running; the rules expect the loop to be null
        return [
            SlotSet("ticket_id", ticket.id),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            SlotSet("handed_off", True),
            ConversationPaused(),
        ]
