"""The crisis screening's middle band: ask, then escalate on a yes or go back on a no.

bot.rasa.nlu.CrisisScreen sets the intent `crisis_check` when the screening is unsure. The bot
then does not guess either way: `action_crisis_check` sends the approved check question, which
already carries the emergency numbers (110 / 120 / 12356). A yes, or another risky message, goes
to `action_crisis` (the urgent ticket and the script, data/rules/crisis.yml); a no goes back to
where the conversation was (`action_crisis_check_no`), an open report form asking its question
again with everything it had collected.

`crisis_facts` is what `action_crisis` files: the kind, the citizen's own words and how the
crisis was raised (lexicon pattern, or semantic score and the closest reviewed statement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

KINDS = ("self_harm", "emergency", "child_welfare")
CHECK_INTENT = "crisis_check"
YES_INTENTS = frozenset({"crisis_check_yes", "affirm"})
SCREEN_KEY = "crisis_screen"  # what CrisisScreen adds to the parse data
CLASSIFIER_ONLY = "分类模型"


@dataclass(frozen=True)
class CrisisFacts:
    kind: str
    text: str
    how: str


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [e for e in tracker.events if e.get("event") == "user"]


def _intent(event: dict[str, Any]) -> str:
    return str(((event.get("parse_data") or {}).get("intent") or {}).get("name") or "")


def _words(event: dict[str, Any]) -> str:
    """The citizen's own words: the whole text when the channel cut it for NLU."""
    return str((event.get("metadata") or {}).get("full_text") or event.get("text") or "")


def _how(parse: dict[str, Any]) -> str:
    screen = parse.get(SCREEN_KEY) or {}
    return str(screen.get("how") or CLASSIFIER_ONLY)


def crisis_facts(tracker: Tracker) -> CrisisFacts:
    """What action_crisis files: a crisis said now, or the one the check question asked about."""
    latest = tracker.latest_message or {}
    intent = str((latest.get("intent") or {}).get("name") or "")
    screen = latest.get(SCREEN_KEY) or {}
    events = _user_events(tracker)
    current = events[-1] if events else {"text": latest.get("text"), "metadata": latest.get("metadata")}
    if intent in KINDS:
        return CrisisFacts(kind=intent, text=_words(current), how=_how(latest))
    # the answer to the check question (or a second risky message): the message it asked about
    asked = next((e for e in reversed(events[:-1]) if _intent(e) == CHECK_INTENT), None)
    if asked is None:
        kind = str(screen.get("kind") or "self_harm")
        return CrisisFacts(kind=kind if kind in KINDS else "self_harm", text=_words(current), how=_how(latest))
    parse = asked.get("parse_data") or {}
    kind = str((parse.get(SCREEN_KEY) or {}).get("kind") or screen.get("kind") or "self_harm")
    answer = "市民确认“是”" if intent in YES_INTENTS else f"核实后再次出现风险表述（{_how(latest)}）"
    text = _words(asked) if intent in YES_INTENTS else f"{_words(asked)}\n{_words(current)}"
    return CrisisFacts(
        kind=kind if kind in KINDS else "self_harm",
        text=text,
        how=f"核实问题：{_how(parse)}；{answer}",
    )


class ActionCrisisCheck(Action):
    """The screening is unsure: the approved check question (with the numbers), then listen."""

    def name(self) -> str:
        return "action_crisis_check"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_crisis_check")
        if tracker.active_loop_name:
            # the answer (是 / 不是) must not be taken as the form's answer (需要回电 is yes/no too);
            # the form finds its question again on a no
            return [SlotSet("requested_slot", None)]
        return []


class ActionCrisisCheckNo(Action):
    """No danger: back to where the conversation was (the rule runs the form again, if one was open)."""

    def name(self) -> str:
        return "action_crisis_check_no"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        in_form = bool(tracker.active_loop_name)
        dispatcher.utter_message(response="utter_crisis_check_resume" if in_form else "utter_crisis_check_no")
        return []


def described(facts: CrisisFacts) -> str:
    """The ticket's description: the citizen's words, then how the screening raised it."""
    if facts.how == CLASSIFIER_ONLY:
        return facts.text
    return f"{facts.text}\n\n筛查依据：{facts.how}"
