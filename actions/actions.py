"""Thin rasa-sdk actions: each one reads the tracker, calls the core (bot/), and says approved
responses by name. No text is composed here; every reply is a catalogue response."""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import crisis_check
from bot.core import catalogue, city, handoff, tickets, topics
from bot.core.extract import extract_place, extract_time
from bot.core.privacy import ID_RE, mask, normalize_mobile, valid_id_number, valid_mobile
from bot.core.transcript import from_events
from bot.infra import db, store

log = logging.getLogger(__name__)

REPORT_SLOTS = ("report_what", "report_where", "report_when", "report_callback", "report_phone", "report_id_number")
# 个人信息保护法 (minimum necessary): the ID number is asked only where the receiving department
# cannot act without identifying the citizen — 劳动保障监察 on wage arrears (the worker's identity
# ties the claim to the employment record). Every other kind is filed without it.
ID_NUMBER_TOPICS = frozenset({"report_wage_arrears"})
# "no" to the ID number, in the words citizens use (the buttons send /skip)
ID_DECLINE = re.compile(r"跳过|不想|不愿|不方便|不提供|不给|不留|没带|算了|拒绝|^不$|^不用")
NOT_GIVEN = "未提供"
BRIEF_CHARS = 80


def brief(text: str) -> str:
    """The start of a citizen's story for the confirmation; the ticket keeps the whole text."""
    text = " ".join(text.split())
    return text if len(text) <= BRIEF_CHARS else text[:BRIEF_CHARS] + "……"


CRISIS_RESPONSE = {
    "self_harm": "utter_crisis_self_harm",
    "emergency": "utter_crisis_emergency",
    "child_welfare": "utter_crisis_child_welfare",
}
TICKET_ID = re.compile(r"\d{8}-\d{6}")


def _channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "rest"


def _latest_text(tracker: Tracker) -> str:
    """The citizen's own words: the whole text when the channel cut it for NLU."""
    meta = tracker.latest_message.get("metadata") or {}
    return str(meta.get("full_text") or tracker.latest_message.get("text") or "")


def _message_key(tracker: Tracker, what: str) -> str:
    """Idempotency key: a retried action or a re-delivered message files the same ticket."""
    latest = tracker.latest_message
    marker = latest.get("message_id") or ""
    if not marker:
        for e in reversed(tracker.events):
            if e.get("event") == "user":
                marker = str(e.get("timestamp"))
                break
    return f"{tracker.sender_id}:{what}:{marker}"


def _file_ticket(
    tracker: Tracker, *, topic: str, what: str, handoff_: bool, reason: str, **fields: Any
) -> dict[str, Any]:
    ticket, created = tickets.create(
        idempotency_key=_message_key(tracker, what),
        channel=_channel(tracker),
        sender_id=tracker.sender_id,
        topic=topic,
        transcript=from_events(tracker.events),
        handoff=handoff_,
        reason=reason,
        **fields,
    )
    if created:
        _publish_quietly(
            "ticket_new", ticket_id=ticket["id"], priority=ticket["priority"], department=ticket["department"]
        )
    return ticket


def _start_handoff(tracker: Tracker, ticket: dict[str, Any]) -> list[EventType]:
    handoff.start(tracker.sender_id, ticket["id"], ticket["channel"])
    return [SlotSet("handed_off", True), ConversationPaused()]


def _last_topic(tracker: Tracker) -> str | None:
    """The most recent intent the citizen expressed that is a contract topic (for request_human)."""
    catalogue = topics.load()
    for e in reversed(tracker.events):
        if e.get("event") != "user":
            continue
        parse = e.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name")
        if intent == "faq":
            key = ((parse.get("response_selector") or {}).get("faq", {}).get("response", {}) or {}).get(
                "intent_response_key"
            )
            intent = key or intent
        if intent and catalogue.get(intent) and catalogue.get(intent).kind in ("faq", "report"):  # type: ignore[union-attr]
            return intent
    return None


def _latest_user_index(tracker: Tracker) -> int:
    for i in range(len(tracker.events) - 1, -1, -1):
        if tracker.events[i].get("event") == "user":
            return i
    return len(tracker.events)


def _mid_report(tracker: Tracker) -> bool:
    """A report was being collected when the citizen asked for a person (the rule has already
    deactivated the form by the time this action runs)."""
    if tracker.active_loop_name == "report_form":
        return True
    after = tracker.events[_latest_user_index(tracker) + 1 :]
    return bool(tracker.get_slot("report_topic")) and any(
        e.get("event") == "action" and e.get("name") == "action_deactivate_loop" for e in after
    )


def _handoff_reason(tracker: Tracker) -> str:
    """Why the citizen is going to a person: asked, accepted the offer after two fallbacks, or
    wants to talk about the report they are filing or have just been told is filed."""
    if _mid_report(tracker):
        return "report_discussion"
    for e in reversed(tracker.events[: _latest_user_index(tracker)]):
        if e.get("event") == "user":
            break
        name = e.get("name") if e.get("event") == "action" else (e.get("metadata") or {}).get("utter_action")
        if name == "utter_offer_human":
            return "fallback_offer"
        if name in ("utter_report_filed", "action_file_report"):
            return "report_discussion"
    return "request_human"


def _report_to_discuss(tracker: Tracker) -> dict[str, Any] | None:
    """The report this citizen filed in this conversation and that is still open."""
    ticket_id = tracker.get_slot("ticket_id")
    if not ticket_id:
        return None
    ticket = tickets.find(ticket_id)
    if ticket is None or ticket["sender_id"] != tracker.sender_id or ticket["status"] == "closed":
        return None
    return ticket if ticket["reason"] == "report" else None


def _told(ticket: dict[str, Any], response: str, **slots: Any) -> None:
    """Put what the bot just told the citizen into the ticket's transcript (once, also on a retry)."""
    text = catalogue.load().text(response, ticket_id=ticket["id"], **slots)
    lines = tickets.get(ticket["id"])["transcript"]
    if not lines or lines[-1]["text"] != text:
        tickets.append(ticket["id"], "bot", text)


def _publish_quietly(event_type: str, **data: Any) -> None:
    try:
        handoff.publish(event_type, **data)
    except store.ERRORS:  # the ticket in SQL is the record; the live event is a convenience
        log.warning("could not publish %s to the desk stream", event_type)


class ActionHandoff(Action):
    """The citizen asked for a person (or accepted the offer, or wants to discuss a report):
    a ticket with everything the bot learned, then quiet. Outside service hours: a call-back.
    """

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        in_hours = city.within_service_hours()
        reason = _handoff_reason(tracker)
        ticket = self._existing(tracker, reason, in_hours)
        if ticket is None:
            ticket = self._file(tracker, reason, in_hours)
        sla = tickets.sla_for(ticket["kind"], ticket["priority"], handoff=in_hours)
        events: list[EventType] = [SlotSet("ticket_id", ticket["id"]), SlotSet("sla_text", sla.text)]
        if in_hours:
            dispatcher.utter_message(response="utter_handoff", ticket_id=ticket["id"], sla_text=sla.text)
            _told(ticket, "utter_handoff", sla_text=sla.text)
            return events + _start_handoff(tracker, ticket)
        dispatcher.utter_message(response="utter_handoff_after_hours", ticket_id=ticket["id"])
        _told(ticket, "utter_handoff_after_hours")
        return events

    @staticmethod
    def _existing(tracker: Tracker, reason: str, in_hours: bool) -> dict[str, Any] | None:
        """One matter, one ticket: a report just filed, or a call-back still waiting, is taken up."""
        report = _report_to_discuss(tracker) if reason == "report_discussion" else None
        if report is not None:
            words = _latest_text(tracker)
            if words and not words.startswith("/"):
                tickets.append(report["id"], "citizen", words)
            ticket = tickets.mark_handoff(report["id"], reason) if in_hours else report
            _publish_quietly(
                "ticket_updated", ticket_id=ticket["id"], priority=ticket["priority"], department=ticket["department"]
            )
            return ticket
        waiting = tickets.open_for_sender(tracker.sender_id, ("after_hours_callback",))
        if waiting is not None:
            words = _latest_text(tracker)
            if words and not words.startswith("/"):
                tickets.append(waiting["id"], "citizen", words)
            if in_hours:
                waiting = tickets.mark_handoff(waiting["id"], "request_human")
            _publish_quietly(
                "ticket_updated",
                ticket_id=waiting["id"],
                priority=waiting["priority"],
                department=waiting["department"],
            )
            return waiting
        return None

    @staticmethod
    def _file(tracker: Tracker, reason: str, in_hours: bool) -> dict[str, Any]:
        # what the bot learned: the topic last talked about, and a report's facts if one was under way
        report_topic = tracker.get_slot("report_topic") if _mid_report(tracker) else None
        topic = report_topic or _last_topic(tracker)
        t = topics.load().get(topic) if topic else None
        fields: dict[str, Any] = {}
        if report_topic:
            where, phone, what = (tracker.get_slot(s) for s in ("report_where", "report_phone", "report_what"))
            fields = {
                "location": None if where in (None, NOT_GIVEN) else where,
                "contact": None if phone in (None, NOT_GIVEN) else phone,
            }
            description = what or _describe(tracker)
        else:
            description = _describe(tracker)
        head = {"fallback_offer": "未能理解，转人工", "report_discussion": "登记中转人工"}.get(reason, "要求人工")
        words = _citizen_words(tracker)
        head = f"{head}｜{t.title}" if t else head if words else f"{head}（尚未说明事由）"
        if not in_hours:
            head = "回访｜" + head
        return _file_ticket(
            tracker,
            topic="request_human",
            what="handoff",
            handoff_=in_hours,
            reason=reason if in_hours else "after_hours_callback",
            summary=tickets.one_line(head, words),
            description=description,
            kind=tickets.TOPIC_KIND.get(topic or "", "consult"),
            department=t.department if t else None,
            sla_due_at=None if in_hours else tickets.callback_due(),
            **fields,
        )


# messages that say nothing about the matter itself (asking for a person, yes, hello)
_NOT_THE_MATTER = {"request_human", "affirm", "deny", "greet", "goodbye", "thank", "bot_challenge", "skip", "stop"}


def _citizen_words(tracker: Tracker) -> str:
    """The citizen's own words about their matter for the summary: their latest message that
    is not just asking for a person (or yes, or hello)."""
    said: list[tuple[str, str]] = []
    for e in tracker.events:
        if e.get("event") != "user":
            continue
        text = (e.get("metadata") or {}).get("full_text") or e.get("text") or ""
        if text and not text.startswith("/"):
            said.append((((e.get("parse_data") or {}).get("intent") or {}).get("name") or "", text))
    matter = [text for intent, text in said[-8:] if intent not in _NOT_THE_MATTER]
    return matter[-1] if matter else ""


def _describe(tracker: Tracker) -> str:
    """What the citizen said before asking for a person (their own words)."""
    lines = [e.get("text") or "" for e in tracker.events if e.get("event") == "user" and (e.get("text") or "")]
    lines = [x for x in lines if not x.startswith("/")]
    return "\n".join(lines[-5:])


class ActionCrisis(Action):
    """Crisis (lexicon or classifier): the approved script, an urgent ticket, a person at once."""

    def name(self) -> str:
        return "action_crisis"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        facts = crisis_check.crisis_facts(tracker)  # also the answer to the check question
        intent, text = facts.kind, facts.text
        title = topics.load().get(intent).title if topics.load().get(intent) else intent  # type: ignore[union-attr]
        ticket = _file_ticket(
            tracker,
            topic=intent,
            what=f"crisis:{intent}",
            handoff_=True,
            reason=f"crisis:{intent}",
            summary=tickets.one_line(f"【危机】{title}", text),
            description=crisis_check.described(facts),
        )
        dispatcher.utter_message(response=CRISIS_RESPONSE[intent], ticket_id=ticket["id"])
        _told(ticket, CRISIS_RESPONSE[intent])
        _publish_quietly(
            "crisis",
            ticket_id=ticket["id"],
            priority=ticket["priority"],
            department=ticket["department"],
            crisis=intent,
        )
        # a crisis ends whatever form was running; the rules expect the loop to be null
        events: list[EventType] = [
            SlotSet("ticket_id", ticket["id"]),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
        ]
        return events + _start_handoff(tracker, ticket)


class ActionHandleFallback(Action):
    """Below threshold: rephrase; close topics: ask which one; the second time: offer a person."""

    def name(self) -> str:
        return "action_handle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        streak = 0
        for e in reversed(tracker.events):
            if e.get("event") == "user":
                if ((e.get("parse_data") or {}).get("intent") or {}).get("name") == "nlu_fallback":
                    streak += 1
                else:
                    break
        if streak >= 2:
            # the slot lets the rules read a typed "好的" right after the offer as "a person, please"
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("offered_human", True)]
        options = _close_topics(tracker)
        if len(options) >= 2:
            dispatcher.utter_message(
                response="utter_ask_which_topic",
                buttons=[{"title": title, "payload": title} for title in options],
            )
            return [SlotSet("offered_human", False)]
        dispatcher.utter_message(response="utter_default")
        return [SlotSet("offered_human", False)]


def _close_topics(tracker: Tracker, floor: float = 0.2) -> list[str]:
    """Titles of the two best FAQ/report candidates when both are plausible."""
    parse = tracker.latest_message
    catalogue = topics.load()
    titles: list[str] = []
    ranking = ((parse.get("response_selector") or {}).get("faq", {}) or {}).get("ranking") or []
    intents = parse.get("intent_ranking") or []
    candidates: list[tuple[float, str]] = []
    faq_conf = next((i.get("confidence", 0) for i in intents if i.get("name") == "faq"), 0)
    for r in ranking[:2]:
        key = r.get("intent_response_key")
        if key and catalogue.get(key):
            candidates.append((faq_conf * r.get("confidence", 0), catalogue.get(key).title))  # type: ignore[union-attr]
    for i in intents[:3]:
        t = catalogue.get(i.get("name") or "")
        if t and t.kind == "report":
            candidates.append((i.get("confidence", 0), t.title))
    candidates.sort(reverse=True)
    for conf, title in candidates:
        if conf >= floor and title not in titles:
            titles.append(title)
    return titles[:2]


class ActionStartReport(Action):
    """A report intent: remember the topic and everything the first message already says."""

    def name(self) -> str:
        return "action_start_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "suggestion"
        t = topics.load().get(intent)
        text = _latest_text(tracker)
        events: list[EventType] = [SlotSet(s, None) for s in REPORT_SLOTS]
        events += [SlotSet("report_topic", intent), SlotSet("report_summary", t.title if t else intent)]
        # a one-line topic request ("我要投诉噪音") is not yet a description: ask for it
        if len(text) >= 12:
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
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in ("skip", "deny") or text in ("跳过", "不留", "不用", "不想留", NOT_GIVEN):
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
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in ("skip", "deny") or text == NOT_GIVEN or ID_DECLINE.search(text):
            dispatcher.utter_message(response="utter_id_number_declined")
            return {"report_id_number": NOT_GIVEN}
        compact = re.sub(r"[\s-]", "", text)
        found = ID_RE.search(compact.upper())
        for candidate in (compact, "".join(found.groups()) if found else ""):
            if candidate and valid_id_number(candidate):
                return {"report_id_number": candidate.upper()}
        dispatcher.utter_message(response="utter_invalid_id_number")
        return {"report_id_number": None}


class ActionFileReport(Action):
    def name(self) -> str:
        return "action_file_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        topic = tracker.get_slot("report_topic") or "suggestion"
        t = topics.load().get(topic)
        phone = tracker.get_slot("report_phone")
        where = tracker.get_slot("report_where")
        what = tracker.get_slot("report_what") or ""
        when = tracker.get_slot("report_when")
        description = what if not when or when == NOT_GIVEN else f"{what}（时间：{when}）"
        id_number = tracker.get_slot("report_id_number")
        if id_number and id_number != NOT_GIVEN:  # only asked where the department needs it
            description += f"\n身份证号：{id_number}"
        ticket = _file_ticket(
            tracker,
            topic=topic,
            what=f"report:{topic}",
            handoff_=False,
            reason="report",
            summary=f"{t.title if t else topic}：{what[:40]}",
            description=description,
            location=None if where in (None, NOT_GIVEN) else where,
            contact=None if phone in (None, NOT_GIVEN) else phone,
        )
        sla = tickets.sla_for(ticket["kind"], ticket["priority"])
        dispatcher.utter_message(response="utter_report_filed", ticket_id=ticket["id"], sla_text=sla.text)
        return [SlotSet("ticket_id", ticket["id"]), SlotSet("sla_text", sla.text)] + [
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


class ActionCheckTicketStatus(Action):
    """Only the citizen's own tickets: a ticket number alone does not open someone else's."""

    def name(self) -> str:
        return "action_check_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        m = TICKET_ID.search(tracker.latest_message.get("text") or "")
        ticket_id = m.group(0) if m else None
        if not ticket_id:
            own = tickets.query(sender_id=tracker.sender_id, limit=1)
            if not own:
                dispatcher.utter_message(response="utter_ask_ticket_id")
                return []
            ticket_id = own[0]["id"]
        ticket = tickets.find(ticket_id)
        if ticket is None or ticket["sender_id"] != tracker.sender_id:
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_id=ticket_id)
            return [SlotSet("ticket_id", ticket_id)]
        status = tickets.status_text(ticket)
        dispatcher.utter_message(response="utter_ticket_status", ticket_id=ticket_id, ticket_status_text=status)
        return [SlotSet("ticket_id", ticket_id), SlotSet("ticket_status_text", status)]


class ActionTicketClosed(Action):
    """The desk closed the ticket and resumed the conversation: say so, ask for satisfaction."""

    def name(self) -> str:
        return "action_ticket_closed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        entities = tracker.latest_message.get("entities") or []
        ticket_id = next((e.get("value") for e in entities if e.get("entity") == "ticket_id"), None)
        ticket_id = ticket_id or tracker.get_slot("ticket_id")
        dispatcher.utter_message(response="utter_agent_left", ticket_id=ticket_id)
        dispatcher.utter_message(response="utter_ask_satisfaction", ticket_id=ticket_id)
        return [SlotSet("ticket_id", ticket_id), SlotSet("handed_off", False)]


def _feedback(tracker: Tracker, kind: str, value: str, **fields: Any) -> db.Feedback:
    """A satisfaction row (kind helpful | ticket | comment) from this citizen on their channel."""
    return db.Feedback(channel=_channel(tracker), sender_id=tracker.sender_id, kind=kind, value=value, **fields)


class ActionRateService(Action):
    def name(self) -> str:
        return "action_rate_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        value = tracker.get_slot("satisfaction")
        ticket_id = tracker.get_slot("ticket_id")
        if value not in tickets.SATISFACTION:
            text = tracker.latest_message.get("text") or ""
            value = next((v for v in ("不满意", "基本满意", "满意") if v in text), None)
        if value is None:
            dispatcher.utter_message(response="utter_ask_satisfaction", ticket_id=ticket_id or "")
            return []
        ticket = tickets.find(ticket_id) if ticket_id else None
        if ticket is not None and ticket["sender_id"] == tracker.sender_id:
            tickets.rate(ticket_id, value)
            _publish_quietly("ticket_rated", ticket_id=ticket_id, satisfaction=value, department=ticket["department"])
        with db.session() as s:
            row = _feedback(
                tracker,
                "ticket",
                value,
                topic=ticket["topic"] if ticket else None,
                department=ticket["department"] if ticket else None,
                ticket_id=ticket_id,
            )
            s.add(row)
            s.flush()
            feedback_id = str(row.id)
        # the thanks invites one optional comment ("不用了" to skip); rules/core.yml routes the reply
        dispatcher.utter_message(response="utter_thanks_for_rating")
        return [
            SlotSet("satisfaction", value),
            SlotSet("rating_comment_pending", True),
            SlotSet("rating_feedback_id", feedback_id),
        ]


COMMENT_CHARS = 2000  # a comment longer than this is cut; the ticket is not a place for essays
NO_COMMENT_INTENTS = ("skip", "deny", "stop")


class ActionRatingComment(Action):
    """A comment on the service: invited after a stored rating (once; "不用了" declines), or said
    unprompted (intent service_comment). Kept for the supervisors' report."""

    def name(self) -> str:
        return "action_rating_comment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done: list[EventType] = [SlotSet("rating_comment_pending", False), SlotSet("rating_feedback_id", None)]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        comment = _latest_text(tracker).strip()[:COMMENT_CHARS]
        invited = bool(tracker.get_slot("rating_comment_pending")) and tracker.get_slot("rating_feedback_id")
        if intent in NO_COMMENT_INTENTS or comment.startswith("/") or not comment:
            dispatcher.utter_message(response="utter_rating_comment_skipped")
            return done
        if not invited:  # said unprompted: a comment of its own, not tied to a rating
            with db.session() as s:
                s.add(_feedback(tracker, "comment", "comment", comment=mask(comment)))
            dispatcher.utter_message(response="utter_thanks_for_comment")
            return done
        with db.session() as s:
            row = s.get(db.Feedback, int(tracker.get_slot("rating_feedback_id")))
            if row is None or row.sender_id != tracker.sender_id:
                dispatcher.utter_message(response="utter_rating_comment_skipped")
                return done
            row.comment = mask(comment)  # the feedback table is for figures: masked like a log
            ticket_id, value, department = row.ticket_id, row.value, row.department
        if ticket_id:
            ticket = tickets.find(ticket_id)
            if ticket is not None and ticket["sender_id"] == tracker.sender_id:
                tickets.rate(ticket_id, value, comment)  # the ticket keeps the citizen's own words
                _publish_quietly("ticket_rated", ticket_id=ticket_id, satisfaction=value, department=department)
        dispatcher.utter_message(response="utter_thanks_for_comment")
        return done


class ActionFaqAnswered(Action):
    """After an FAQ answer, ask "有帮助吗？" once per session — never nagging."""

    def name(self) -> str:
        return "action_faq_answered"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        for e in reversed(tracker.events):
            if e.get("event") == "session_started":
                break
            if e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == "utter_ask_helpful":
                return []
        dispatcher.utter_message(response="utter_ask_helpful")
        return []


class ActionFeedback(Action):
    def name(self) -> str:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        value = tracker.get_slot("helpful")
        if value not in ("yes", "no"):  # typed, not a button: 没帮助/没用/没解决/不明白 mean no
            text = tracker.latest_message.get("text") or ""
            value = "no" if any(w in text for w in ("没", "不", "无")) else "yes"
        topic = _last_topic(tracker)
        t = topics.load().get(topic) if topic else None
        with db.session() as s:
            s.add(_feedback(tracker, "helpful", value, topic=topic, department=t.department if t else None))
        dispatcher.utter_message(response="utter_feedback_thanks" if value == "yes" else "utter_feedback_sorry")
        return [SlotSet("helpful", None)]
