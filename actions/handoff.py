"""The citizen asks for a person (or accepts the offer, or wants to discuss a report): a ticket
with everything the bot learned, then quiet. Outside service hours: a call-back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import tracker as conv
from actions.filing import blocking, file_ticket, publish_ticket, start_handoff, told
from actions.report_form import given
from bot.core import city, tickets, topics


@dataclass(frozen=True)
class Request:
    """A request for a person, as the tracker tells it."""

    conversation: conv.Conversation
    in_hours: bool
    reason: str  # request_human | fallback_offer | report_discussion
    words: str  # what the citizen just said ("" for a button press)
    report_id: str | None  # the ticket of this conversation, if any
    topic: str | None  # the topic last talked about (its kind and department route the ticket)
    summary: str
    description: str
    fields: dict[str, Any] = field(default_factory=dict)  # a report's facts, if one was under way


@dataclass(frozen=True)
class Outcome:
    ticket: tickets.Ticket
    sla: tickets.Sla


def mid_report(tracker: Tracker) -> bool:
    """A report was being collected when the citizen asked for a person (the rule has already
    deactivated the form by the time this action runs)."""
    if tracker.active_loop_name == "report_form":
        return True
    after = tracker.events[conv.latest_user_index(tracker) + 1 :]
    return bool(tracker.get_slot("report_topic")) and any(
        e.get("event") == "action" and e.get("name") == "action_deactivate_loop" for e in after
    )


def reason(tracker: Tracker) -> str:
    """Why the citizen is going to a person: asked, accepted the offer after two fallbacks, or
    wants to talk about the report they are filing or have just been told is filed."""
    if mid_report(tracker):
        return tickets.REPORT_DISCUSSION
    for e in reversed(tracker.events[: conv.latest_user_index(tracker)]):
        if e.get("event") == "user":
            break
        name = e.get("name") if e.get("event") == "action" else (e.get("metadata") or {}).get("utter_action")
        if name == "utter_offer_human":
            return tickets.FALLBACK_OFFER
        if name in ("utter_report_filed", "action_file_report"):
            return tickets.REPORT_DISCUSSION
    return tickets.REQUEST_HUMAN


def request(tracker: Tracker, in_hours: bool, why: str | None = None) -> Request:
    """`why` overrides the reason read from the conversation (an action that decides itself)."""
    why = why or reason(tracker)
    # what the bot learned: the topic last talked about, and a report's facts if one was under way
    report_topic = tracker.get_slot("report_topic") if mid_report(tracker) else None
    topic = report_topic or conv.last_topic(tracker)
    t = topics.load().get(topic) if topic else None
    fields: dict[str, Any] = {}
    description = conv.describe(tracker)
    if report_topic:
        fields = {
            "location": given(tracker.get_slot("report_where")),
            "contact": given(tracker.get_slot("report_phone")),
        }
        description = tracker.get_slot("report_what") or description
    return Request(
        conversation=conv.conversation(tracker),
        in_hours=in_hours,
        reason=why,
        words=conv.latest_words(tracker),
        report_id=tracker.get_slot("ticket_id"),
        topic=topic,
        summary=tickets.handoff_summary(why, t.title if t else None, conv.citizen_words(tracker), in_hours=in_hours),
        description=description,
        fields=fields,
    )


def _file(r: Request) -> tickets.Ticket:
    t = topics.load().get(r.topic) if r.topic else None
    return file_ticket(
        r.conversation,
        topic=topics.HANDOFF_INTENT,
        what="handoff",
        handoff_=r.in_hours,
        reason=r.reason if r.in_hours else tickets.CALLBACK,
        summary=r.summary,
        description=r.description,
        kind=tickets.route(r.topic).kind if r.topic else None,
        department=t.department if t else None,
        sla_due_at=None if r.in_hours else tickets.callback_due(),
        **r.fields,
    )


def hand_off(r: Request) -> Outcome:
    """Blocking: take up the open ticket of the same matter or file one, record what the bot
    tells the citizen, and (within service hours) hand the conversation to a person."""
    sender_id = r.conversation.sender_id
    ticket = tickets.take_up(sender_id, reason=r.reason, in_hours=r.in_hours, report_id=r.report_id, words=r.words)
    if ticket is not None:
        publish_ticket("ticket_updated", ticket)
    else:
        ticket = _file(r)
    sla = tickets.sla_for(ticket.kind, ticket.priority, handoff=r.in_hours)
    if r.in_hours:
        told(ticket, "utter_handoff", sla_text=sla.text)
        start_handoff(sender_id, ticket)
    else:
        told(ticket, "utter_handoff_after_hours")
    return Outcome(ticket, sla)


async def hand_off_and_tell(
    dispatcher: CollectingDispatcher, tracker: Tracker, why: str | None = None
) -> list[EventType]:
    """The handoff ticket filed, the citizen told: paused for an agent in service hours, or a
    call-back ticket outside them (the conversation goes on with the bot)."""
    in_hours = city.within_service_hours()
    done = await blocking(hand_off, request(tracker, in_hours, why=why))
    ticket_id = done.ticket.id
    events: list[EventType] = [SlotSet("ticket_id", ticket_id), SlotSet("sla_text", done.sla.text)]
    if in_hours:
        dispatcher.utter_message(response="utter_handoff", ticket_id=ticket_id, sla_text=done.sla.text)
        return [*events, SlotSet("handed_off", True), ConversationPaused()]
    dispatcher.utter_message(response="utter_handoff_after_hours", ticket_id=ticket_id)
    return events


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return await hand_off_and_tell(dispatcher, tracker)
