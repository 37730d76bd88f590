"""Satisfaction: the rating after a closed ticket, its comment, "有帮助吗" after an answer."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions import satisfaction as a
from bot.core import tickets
from bot.infra import db
from tests.actions.trackers import make_tracker, responses, run


async def test_satisfaction_is_stored_on_the_ticket(db_url: str) -> None:
    ticket, _ = tickets.create(
        idempotency_key="k3", channel="rest", sender_id="me", topic="request_human", summary="人工"
    )
    tracker = make_tracker(
        "基本满意", "rate_service", sender="me", slots={"satisfaction": "基本满意", "ticket_id": ticket.id}
    )
    dispatcher, events = await run(a.ActionRateService(), tracker)
    assert tickets.get(ticket.id).satisfaction == "基本满意"
    assert responses(dispatcher) == ["utter_thanks_for_rating"]  # which invites one optional comment
    with db.session() as s:
        row = s.query(db.Feedback).one()
        assert (row.kind, row.value, row.ticket_id, row.comment) == ("ticket", "基本满意", ticket.id, None)
    assert events == [
        SlotSet("satisfaction", "基本满意"),
        SlotSet("rating_comment_pending", True),
        SlotSet("rating_feedback_id", str(row.id)),
    ]


def _after_rating(text: str, intent: str, feedback_id: str, sender: str = "me") -> Tracker:
    return make_tracker(
        text, intent, sender=sender, slots={"rating_comment_pending": True, "rating_feedback_id": feedback_id}
    )


async def _rated(value: str = "不满意") -> tuple[tickets.Ticket, str]:
    ticket, _ = tickets.create(
        idempotency_key="k-comment", channel="rest", sender_id="me", topic="request_human", summary="人工"
    )
    tracker = make_tracker(value, "rate_service", sender="me", slots={"satisfaction": value, "ticket_id": ticket.id})
    _, events = await run(a.ActionRateService(), tracker)
    return ticket, next(e["value"] for e in events if e["name"] == "rating_feedback_id")


COMMENT_DONE = [SlotSet("rating_comment_pending", False), SlotSet("rating_feedback_id", None)]


async def test_a_comment_after_a_rating_is_kept_on_the_ticket_and_masked_in_the_figures(db_url: str) -> None:
    ticket, feedback_id = await _rated()
    said = "等了三天才有人回电话，我的电话是13912345678，希望快一点"
    dispatcher, events = await run(a.ActionRatingComment(), _after_rating(said, "nlu_fallback", feedback_id))
    assert responses(dispatcher) == ["utter_thanks_for_comment"]
    assert events == COMMENT_DONE
    stored = tickets.get(ticket.id)
    assert (stored.satisfaction, stored.satisfaction_comment) == ("不满意", said)  # the ticket keeps it whole
    with db.session() as s:
        comment = s.query(db.Feedback).one().comment
    assert "13912345678" not in comment and comment.startswith("等了三天才有人回电话")


@pytest.mark.parametrize(("text", "intent"), [("不用了", "deny"), ("/skip", "skip"), ("算了", "stop")])
async def test_no_comment_is_fine_and_stores_nothing(db_url: str, text: str, intent: str) -> None:
    ticket, feedback_id = await _rated("满意")
    dispatcher, events = await run(a.ActionRatingComment(), _after_rating(text, intent, feedback_id))
    assert responses(dispatcher) == ["utter_rating_comment_skipped"]
    assert events == COMMENT_DONE
    assert tickets.get(ticket.id).satisfaction_comment is None
    with db.session() as s:
        assert s.query(db.Feedback).one().comment is None


async def test_a_comment_never_lands_on_someone_elses_rating(db_url: str) -> None:
    ticket, feedback_id = await _rated()
    dispatcher, events = await run(
        a.ActionRatingComment(), _after_rating("很好", "feedback", feedback_id, sender="other")
    )
    assert responses(dispatcher) == ["utter_rating_comment_skipped"]
    assert events == COMMENT_DONE
    assert tickets.get(ticket.id).satisfaction_comment is None


async def test_helpful_is_asked_once_per_session() -> None:
    dispatcher, _ = await run(a.ActionFaqAnswered(), make_tracker("社保卡怎么办", "faq"))
    assert responses(dispatcher) == ["utter_ask_helpful"]
    asked = [
        {"event": "session_started"},
        {"event": "bot", "text": "以上解答对您有帮助吗？", "metadata": {"utter_action": "utter_ask_helpful"}},
    ]
    dispatcher, _ = await run(a.ActionFaqAnswered(), make_tracker("公积金呢", "faq", events=asked))
    assert responses(dispatcher) == []


@pytest.mark.parametrize(
    ("typed", "value", "said"), [("有帮助", "yes", "utter_feedback_thanks"), ("没解决", "no", "utter_feedback_sorry")]
)
async def test_typed_feedback_is_understood(db_url: str, typed: str, value: str, said: str) -> None:
    from bot.infra import db

    dispatcher, _ = await run(a.ActionFeedback(), make_tracker(typed, "feedback", sender="fb"))
    assert responses(dispatcher) == [said]
    with db.session() as s:
        assert [f.value for f in s.query(db.Feedback).filter_by(sender_id="fb")] == [value]


async def test_a_comment_said_unprompted_is_kept_masked_and_thanked(db_url: str) -> None:
    said = "接线员态度不好，我打了三次13912345678都没人接"
    dispatcher, events = await run(a.ActionRatingComment(), make_tracker(said, "service_comment"))
    assert responses(dispatcher) == ["utter_thanks_for_comment"]
    assert events == COMMENT_DONE
    with db.session() as s:
        row = s.query(db.Feedback).one()
    assert (row.kind, row.ticket_id) == ("comment", None)
    assert "13912345678" not in row.comment and row.comment.startswith("接线员态度不好")
