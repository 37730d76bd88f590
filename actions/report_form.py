"""The report form (报事): the topic and what the first message already says, the questions and
their validation, filing the ticket, correcting a field, stopping."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import tracker as conv
from actions.filing import blocking, file_ticket
from bot.core import tickets, topics
from bot.core.extract import extract_place, extract_time
from bot.core.privacy import ID_RE, normalize_mobile, valid_id_number, valid_mobile

REPORT_SLOTS = ("report_what", "report_where", "report_when", "report_callback", "report_phone", "report_id_number")
# 个人信息保护法 (minimum necessary): the ID number is asked only where the receiving department
# cannot act without identifying the citizen — 劳动保障监察 on wage arrears (the worker's identity
# ties the claim to the employment record). Every other kind is filed without it.
ID_NUMBER_TOPICS = frozenset({"report_wage_arrears"})
# "no" to the ID number, in the words citizens use (the buttons send /skip)
ID_DECLINE = re.compile(r"跳过|不想|不愿|不方便|不提供|不给|不留|没带|算了|拒绝|^不$|^不用")
NOT_GIVEN = "未提供"
BRIEF_CHARS = 80
STORY_CHARS = 12  # a first message this long is the story itself; shorter only names the topic


def brief(text: str) -> str:
    """The start of a citizen's story for the confirmation; the ticket keeps the whole text."""
    text = " ".join(text.split())
    return text if len(text) <= BRIEF_CHARS else text[:BRIEF_CHARS] + "……"


def given(value: Any) -> Any:
    """A slot's value, None when the citizen did not give it."""
    return None if value in (None, NOT_GIVEN) else value


class ActionStartReport(Action):
    """A report intent: remember the topic and everything the first message already says."""

    def name(self) -> str:
        return "action_start_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = conv.intent(tracker) or "suggestion"
        t = topics.load().get(intent)
        text = conv.latest_text(tracker)
        events: list[EventType] = [SlotSet(s, None) for s in REPORT_SLOTS]
        events += [SlotSet("report_topic", intent), SlotSet("report_summary", t.title if t else intent)]
        # a one-line topic request ("我要投诉噪音") is not yet a description: ask for it
        if len(text) >= STORY_CHARS:
            events += [SlotSet("report_what", text), SlotSet("report_brief", brief(text))]
            place, when = extract_place(text), extract_time(text)
            if place:
                events.append(SlotSet("report_where", place))
            if when:
                events.append(SlotSet("report_when", when))
        location = (tracker.latest_message.get("metadata") or {}).get("location")
        if location:
            events.append(SlotSet("report_where", str(location)))
        return events


class ValidateReportForm(FormValidationAction):
    def name(self) -> str:
        return "validate_report_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # the ID number only for the kinds that need it (ID_NUMBER_TOPICS)
        if tracker.get_slot("report_topic") not in ID_NUMBER_TOPICS:
            domain_slots = [s for s in domain_slots if s != "report_id_number"]
        # the phone number is asked only when the citizen wants a call back
        if tracker.get_slot("report_callback") is False:
            return [s for s in domain_slots if s != "report_phone"]
        return domain_slots

    def validate_report_what(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if not text:
            return {"report_what": None}
        out: dict[str, Any] = {"report_what": text, "report_brief": brief(text)}
        if not tracker.get_slot("report_where") and extract_place(text):
            out["report_where"] = extract_place(text)
        if not tracker.get_slot("report_when") and extract_time(text):
            out["report_when"] = extract_time(text)
        return out

    def validate_report_where(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        location = (tracker.latest_message.get("metadata") or {}).get("location")
        return {"report_where": str(location) if location else (str(value).strip() or NOT_GIVEN)}

    def validate_report_when(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"report_when": str(value).strip() or NOT_GIVEN}

    def validate_report_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if conv.intent(tracker) in ("skip", "deny") or text in ("跳过", "不留", "不用", "不想留", NOT_GIVEN):
            return {"report_phone": NOT_GIVEN}
        number = normalize_mobile(text)
        if number and valid_mobile(number):
            return {"report_phone": number}
        dispatcher.utter_message(response="utter_invalid_phone")
        return {"report_phone": None}

    def validate_report_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A valid 18-character number (GB 11643 check digit), or a polite "no": the ticket is
        filed either way, and a citizen who declines is offered a person."""
        text = str(value or "").strip()
        if conv.intent(tracker) in ("skip", "deny") or text == NOT_GIVEN or ID_DECLINE.search(text):
            dispatcher.utter_message(response="utter_id_number_declined")
            return {"report_id_number": NOT_GIVEN}
        compact = re.sub(r"[\s-]", "", text)
        found = ID_RE.search(compact.upper())
        for candidate in (compact, "".join(found.groups()) if found else ""):
            if candidate and valid_id_number(candidate):
                return {"report_id_number": candidate.upper()}
        dispatcher.utter_message(response="utter_invalid_id_number")
        return {"report_id_number": None}


def _file_report(c: conv.Conversation, topic: str, fields: dict[str, Any]) -> tuple[tickets.Ticket, tickets.Sla]:
    ticket = file_ticket(c, topic=topic, what=f"report:{topic}", handoff_=False, reason=tickets.REPORT, **fields)
    return ticket, tickets.sla_for(ticket.kind, ticket.priority)


class ActionFileReport(Action):
    def name(self) -> str:
        return "action_file_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        topic = tracker.get_slot("report_topic") or "suggestion"
        t = topics.load().get(topic)
        what = tracker.get_slot("report_what") or ""
        fields = {
            "summary": tickets.report_summary(t.title if t else topic, what),
            # only asked where the department needs it (ID_NUMBER_TOPICS)
            "description": tickets.report_description(
                what, given(tracker.get_slot("report_when")), given(tracker.get_slot("report_id_number"))
            ),
            "location": given(tracker.get_slot("report_where")),
            "contact": given(tracker.get_slot("report_phone")),
        }
        ticket, sla = await blocking(_file_report, conv.conversation(tracker), topic, fields)
        dispatcher.utter_message(response="utter_report_filed", ticket_id=ticket.id, sla_text=sla.text)
        return [SlotSet("ticket_id", ticket.id), SlotSet("sla_text", sla.text)] + [
            SlotSet(s, None) for s in REPORT_SLOTS
        ]


class ActionReportFix(Action):
    def name(self) -> str:
        return "action_report_fix"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        field = tracker.get_slot("report_field") or "report_what"
        if field not in REPORT_SLOTS:
            field = "report_what"
        events: list[EventType] = [SlotSet(field, None), SlotSet("report_field", None)]
        if field == "report_callback":
            events.append(SlotSet("report_phone", None))
        return events


class ActionReportStop(Action):
    def name(self) -> str:
        return "action_report_stop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_report_stopped")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("report_topic", None)] + [
            SlotSet(s, None) for s in REPORT_SLOTS
        ]
