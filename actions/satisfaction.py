"""Satisfaction: after a closed ticket (the rating and its optional comment), after an FAQ
answer ("有帮助吗？", once per session), and a comment on the service said unprompted."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import tracker as conv
from actions.filing import blocking, publish_quietly
from bot.core import satisfaction, tickets, topics

NO_COMMENT_INTENTS = ("skip", "deny", "stop")
COMMENT_CHARS = satisfaction.COMMENT_CHARS


def _who(tracker: Tracker) -> satisfaction.Who:
    return satisfaction.Who(channel=conv.channel(tracker), sender_id=tracker.sender_id)


def _show_on_desk(rated: satisfaction.Rated) -> None:
    if rated.ticket is not None:
        t = rated.ticket
        publish_quietly("ticket_rated", ticket_id=t.id, satisfaction=rated.value, department=t.department)


def rate(who: satisfaction.Who, ticket_id: str | None, value: str) -> str:
    """Blocking: the rating stored (and shown on the desk); the feedback id a comment attaches to."""
    rated = satisfaction.rate_ticket(who, ticket_id, value)
    _show_on_desk(rated)
    return rated.feedback_id


def comment_on_rating(who: satisfaction.Who, feedback_id: int, comment: str) -> bool:
    """Blocking: False when the rating is not this citizen's."""
    rated = satisfaction.comment_on_rating(who, feedback_id, comment)
    if rated is None:
        return False
    _show_on_desk(rated)
    return True


class ActionTicketClosed(Action):
    """The desk closed the ticket and resumed the conversation: say so, ask for satisfaction."""

    def name(self) -> str:
        return "action_ticket_closed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        ticket_id = conv.entity(tracker, "ticket_id") or tracker.get_slot("ticket_id")
        dispatcher.utter_message(response="utter_agent_left", ticket_id=ticket_id)
        dispatcher.utter_message(response="utter_ask_satisfaction", ticket_id=ticket_id)
        return [SlotSet("ticket_id", ticket_id), SlotSet("handed_off", False)]


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
        feedback_id = await blocking(rate, _who(tracker), ticket_id, value)
        # the thanks invites one optional comment ("不用了" to skip); rules/core.yml routes the reply
        dispatcher.utter_message(response="utter_thanks_for_rating")
        return [
            SlotSet("satisfaction", value),
            SlotSet("rating_comment_pending", True),
            SlotSet("rating_feedback_id", feedback_id),
        ]


class ActionRatingComment(Action):
    """A comment on the service: invited after a stored rating (once; "不用了" declines), or said
    unprompted (intent service_comment). Kept for the supervisors' report."""

    def name(self) -> str:
        return "action_rating_comment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done: list[EventType] = [SlotSet("rating_comment_pending", False), SlotSet("rating_feedback_id", None)]
        comment = conv.latest_text(tracker).strip()[:COMMENT_CHARS]
        feedback_id = tracker.get_slot("rating_feedback_id")
        invited = bool(tracker.get_slot("rating_comment_pending")) and feedback_id
        if conv.intent(tracker) in NO_COMMENT_INTENTS or comment.startswith("/") or not comment:
            dispatcher.utter_message(response="utter_rating_comment_skipped")
            return done
        if not invited:  # said unprompted: a comment of its own, not tied to a rating
            await blocking(satisfaction.comment_unprompted, _who(tracker), comment)
            dispatcher.utter_message(response="utter_thanks_for_comment")
            return done
        if not await blocking(comment_on_rating, _who(tracker), int(feedback_id), comment):
            dispatcher.utter_message(response="utter_rating_comment_skipped")
            return done
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
        topic = conv.last_topic(tracker)
        t = topics.load().get(topic) if topic else None
        await blocking(satisfaction.helpful, _who(tracker), value, topic, t.department if t else None)
        dispatcher.utter_message(response="utter_feedback_thanks" if value == "yes" else "utter_feedback_sorry")
        return [SlotSet("helpful", None)]
