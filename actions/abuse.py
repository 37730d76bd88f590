"""Abuse gets calm courtesy and the offer to go on helping; abuse that goes on is a person's job.

A citizen who insults the bot is usually one whose matter is stuck: answering the same script a
third time would only read as indifference, so the third abusive message of a session goes to an
agent (within service hours; outside them, a call-back ticket), as the hotline's service rules
ask of a human operator facing an upset caller.
"""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import hand_off_and_tell
from bot.core import tickets

ABUSE_INTENT = "abuse"
# the third abusive message of a session is handed to a person
TO_A_PERSON_AT = 3


def abuse_count(tracker: Tracker) -> int:
    """Abusive messages of the citizen in the current session, the latest one included."""
    count = 0
    for e in reversed(tracker.events):
        if e.get("event") == "session_started":
            break
        if e.get("event") == "user" and ((e.get("parse_data") or {}).get("intent") or {}).get("name") == ABUSE_INTENT:
            count += 1
    return count


class ActionAbuse(Action):
    def name(self) -> str:
        return "action_abuse"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if abuse_count(tracker) < TO_A_PERSON_AT or tracker.get_slot("handed_off"):
            dispatcher.utter_message(response="utter_abuse")
            return []
        dispatcher.utter_message(response="utter_abuse_to_person")
        return await hand_off_and_tell(dispatcher, tracker, why=tickets.REPEATED_ABUSE)
