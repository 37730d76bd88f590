"""Not understood: rephrase; two close topics: ask which one; the second time: offer a person."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.core import topics


def close_topics(tracker: Tracker, floor: float = 0.2) -> list[str]:
    """Titles of the two best FAQ/report candidates when both are plausible."""
    parse = tracker.latest_message
    catalogue = topics.load()
    titles: list[str] = []
    ranking = ((parse.get("response_selector") or {}).get("faq", {}) or {}).get("ranking") or []
    intents = parse.get("intent_ranking") or []
    candidates: list[tuple[float, str]] = []
    faq_conf = next((i.get("confidence", 0) for i in intents if i.get("name") == "faq"), 0)
    for r in ranking[:2]:
        topic = catalogue.get(r.get("intent_response_key") or "")
        if topic is not None:
            candidates.append((faq_conf * r.get("confidence", 0), topic.title))
    for i in intents[:3]:
        t = catalogue.get(i.get("name") or "")
        if t and t.kind == "report":
            candidates.append((i.get("confidence", 0), t.title))
    candidates.sort(reverse=True)
    for conf, title in candidates:
        if conf >= floor and title not in titles:
            titles.append(title)
    return titles[:2]


def fallback_streak(tracker: Tracker) -> int:
    """How many of the citizen's latest messages in a row were not understood."""
    streak = 0
    for e in reversed(tracker.events):
        if e.get("event") == "user":
            if ((e.get("parse_data") or {}).get("intent") or {}).get("name") == "nlu_fallback":
                streak += 1
            else:
                break
    return streak


class ActionHandleFallback(Action):
    def name(self) -> str:
        return "action_handle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if fallback_streak(tracker) >= 2:
            # the slot lets the rules read a typed "好的" right after the offer as "a person, please"
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("offered_human", True)]
        options = close_topics(tracker)
        if len(options) >= 2:
            dispatcher.utter_message(
                response="utter_ask_which_topic",
                buttons=[{"title": title, "payload": title} for title in options],
            )
            return [SlotSet("offered_human", False)]
        dispatcher.utter_message(response="utter_default")
        return [SlotSet("offered_human", False)]
