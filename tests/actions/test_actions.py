"""Action tests in the style of financial-demo: a tracker fixture, CollectingDispatcher, and the
exact events and responses each action produces. Tickets go to a real SQLite database and
handoff flags to a real Redis (fixtures `db_url`, `redis_url`)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import actions as a
from bot import handoff, tickets

DOMAIN: dict[str, Any] = {}


def make_tracker(
    text: str = "",
    intent: str = "greet",
    *,
    sender: str = "citizen-1",
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    parse: dict[str, Any] | None = None,
    active_loop: str | None = None,
    channel: str = "rest",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": [],
        "metadata": metadata or {},
        "message_id": f"mid-{abs(hash((sender, text))) % 10**8}",
        **(parse or {}),
    }
    if events is None:
        events = [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "timestamp": 1764000000.0, "parse_data": latest, "input_channel": channel, "metadata": metadata or {}},
        ]
    return Tracker(
        sender_id=sender,
        slots=slots or {},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


async def run(action: Any, tracker: Tracker) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher, events


# ---------------------------------------------------------------- reports


async def test_start_report_keeps_what_where_and_when_of_a_one_message_report() -> None:
    text = "建设路12号楼下烧烤店每天晚上十二点后还很吵"
    _, events = await run(a.ActionStartReport(), make_tracker(text, "report_noise"))
    assert SlotSet("report_topic", "report_noise") in events
    assert SlotSet("report_summary", "噪音扰民") in events
    assert SlotSet("report_what", text) in events
    assert SlotSet("report_where", "建设路12号楼") in events
    when = [e["value"] for e in events if e["name"] == "report_when" and e["value"]]
    assert when and when[0].startswith("每天晚上")


async def test_start_report_asks_for_the_story_when_only_the_topic_was_named() -> None:
    _, events = await run(a.ActionStartReport(), make_tracker("我要投诉噪音", "report_noise"))
    assert SlotSet("report_topic", "report_noise") in events
    assert not [e for e in events if e["name"] == "report_what" and e["value"]]


async def test_start_report_takes_a_wechat_location_as_the_place() -> None:
    tracker = make_tracker("这里的路灯坏了好几天了晚上特别黑", "report_facility_damage", metadata={"location": "示例区市民大道 (30.1,120.2)"})
    _, events = await run(a.ActionStartReport(), tracker)
    assert SlotSet("report_where", "示例区市民大道 (30.1,120.2)") in events


@pytest.mark.parametrize(
    ("typed", "expected", "said"),
    [
        ("13912345678", "13912345678", []),
        ("我的电话是 139-1234-5678", "13912345678", []),
        ("12345", None, ["utter_invalid_phone"]),
        ("跳过", "未提供", []),
    ],
)
def test_phone_is_validated_politely(typed: str, expected: str | None, said: list[str]) -> None:
    dispatcher = CollectingDispatcher()
    result = a.ValidateReportForm().validate_report_phone(typed, dispatcher, make_tracker(typed, "inform"), DOMAIN)
    assert result == {"report_phone": expected}
    assert responses(dispatcher) == said


async def test_phone_is_not_asked_when_no_call_back_is_wanted() -> None:
    form = a.ValidateReportForm()
    slots = list(a.REPORT_SLOTS)
    asked = await form.required_slots(slots, CollectingDispatcher(), make_tracker(slots={"report_callback": False}), DOMAIN)
    assert "report_phone" not in asked
    asked = await form.required_slots(slots, CollectingDispatcher(), make_tracker(slots={"report_callback": True}), DOMAIN)
    assert "report_phone" in asked


async def test_filing_a_report_routes_it_and_tells_the_number(db_url: str, redis_url: str) -> None:
    slots = {
        "report_topic": "report_noise",
        "report_what": "楼下烧烤店每天晚上很吵",
        "report_where": "建设路12号",
        "report_when": "每天晚上",
        "report_callback": True,
        "report_phone": "13912345678",
    }
    tracker = make_tracker("确认", "affirm", slots=slots)
    dispatcher, events = await run(a.ActionFileReport(), tracker)
    ticket = tickets.query(sender_id="citizen-1")[0]
    assert ticket["department"] == "ecology_environment"
    assert (ticket["kind"], ticket["priority"], ticket["topic"]) == ("complaint", "P2", "report_noise")
    assert ticket["location"] == "建设路12号"
    assert ticket["contact"] == "13912345678"
    assert dispatcher.messages[0]["response"] == "utter_report_filed"
    assert dispatcher.messages[0]["ticket_id"] == ticket["id"]
    assert events[:2] == [SlotSet("ticket_id", ticket["id"]), SlotSet("sla_text", "5个工作日")]
    # the same turn delivered again (a retried action) files nothing new
    await run(a.ActionFileReport(), tracker)
    assert len(tickets.query(sender_id="citizen-1")) == 1


async def test_stopping_a_report_discards_it(db_url: str) -> None:
    dispatcher, events = await run(a.ActionReportStop(), make_tracker("算了", "stop", active_loop="report_form"))
    assert responses(dispatcher) == ["utter_report_stopped"]
    assert ActiveLoop(None) in events
    assert tickets.query() == []


async def test_fixing_the_contact_asks_for_both_callback_and_phone_again() -> None:
    _, events = await run(a.ActionReportFix(), make_tracker(slots={"report_field": "report_callback"}))
    assert events == [SlotSet("report_callback", None), SlotSet("report_field", None), SlotSet("report_phone", None)]


# ---------------------------------------------------------------- fallback


def _fallback_turns(n: int) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for i in range(n):
        turns.append({"event": "user", "text": f"啊啊{i}", "parse_data": {"intent": {"name": "nlu_fallback"}}})
        turns.append({"event": "bot", "text": "..."})
    return turns


async def test_first_fallback_asks_to_rephrase() -> None:
    dispatcher, events = await run(a.ActionHandleFallback(), make_tracker("啊啊", "nlu_fallback", events=_fallback_turns(1)))
    assert responses(dispatcher) == ["utter_default"]
    assert events == []


async def test_second_fallback_in_a_row_offers_a_person() -> None:
    dispatcher, events = await run(a.ActionHandleFallback(), make_tracker("啊啊", "nlu_fallback", events=_fallback_turns(2)))
    assert responses(dispatcher) == []
    assert events == [FollowupAction("utter_offer_human")]


async def test_two_close_topics_are_offered_as_buttons() -> None:
    parse = {
        "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.55}, {"name": "faq", "confidence": 0.5}],
        "response_selector": {
            "faq": {
                "ranking": [
                    {"intent_response_key": "faq/hpf_withdraw_rent", "confidence": 0.5},
                    {"intent_response_key": "faq/hpf_withdraw_purchase", "confidence": 0.45},
                ]
            }
        },
    }
    tracker = make_tracker("公积金提取", "nlu_fallback", events=_fallback_turns(1), parse=parse)
    dispatcher, _ = await run(a.ActionHandleFallback(), tracker)
    assert responses(dispatcher) == ["utter_ask_which_topic"]
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["租房提取住房公积金", "购房提取住房公积金"]


# ---------------------------------------------------------------- crisis, status, satisfaction


async def test_crisis_files_a_p0_ticket_and_hands_off_at_once(db_url: str, redis_url: str) -> None:
    tracker = make_tracker("剪坏了不给恢复我就跳楼", "self_harm", sender="c-crisis", active_loop="report_form")
    dispatcher, events = await run(a.ActionCrisis(), tracker)
    ticket = tickets.query(sender_id="c-crisis")[0]
    assert (ticket["priority"], ticket["topic"], ticket["status"]) == ("P0", "self_harm", "new")
    assert ticket["description"] == "剪坏了不给恢复我就跳楼"
    assert responses(dispatcher) == ["utter_crisis_self_harm"]
    assert ActiveLoop(None) in events and ConversationPaused() in events
    assert handoff.current("c-crisis") == {"ticket_id": ticket["id"], "channel": "rest"}


async def test_ticket_status_only_opens_the_citizens_own_ticket(db_url: str) -> None:
    mine, _ = tickets.create(idempotency_key="k1", channel="rest", sender_id="me", topic="report_noise", summary="噪音")
    theirs, _ = tickets.create(idempotency_key="k2", channel="rest", sender_id="other", topic="report_noise", summary="噪音")
    dispatcher, _ = await run(a.ActionCheckTicketStatus(), make_tracker(f"查询工单 {mine['id']}", "check_ticket_status", sender="me"))
    assert responses(dispatcher) == ["utter_ticket_status"]
    assert "已登记" in dispatcher.messages[0]["ticket_status_text"]
    dispatcher, _ = await run(a.ActionCheckTicketStatus(), make_tracker(f"查询工单 {theirs['id']}", "check_ticket_status", sender="me"))
    assert responses(dispatcher) == ["utter_ticket_not_found"]


async def test_satisfaction_is_stored_on_the_ticket(db_url: str) -> None:
    ticket, _ = tickets.create(idempotency_key="k3", channel="rest", sender_id="me", topic="request_human", summary="人工")
    tracker = make_tracker("基本满意", "rate_service", sender="me", slots={"satisfaction": "基本满意", "ticket_id": ticket["id"]})
    dispatcher, events = await run(a.ActionRateService(), tracker)
    assert tickets.get(ticket["id"])["satisfaction"] == "基本满意"
    assert responses(dispatcher) == ["utter_thanks_for_rating"]
    assert events == [SlotSet("satisfaction", "基本满意")]


async def test_helpful_is_asked_once_per_session() -> None:
    dispatcher, _ = await run(a.ActionFaqAnswered(), make_tracker("社保卡怎么办", "faq"))
    assert responses(dispatcher) == ["utter_ask_helpful"]
    asked = [{"event": "session_started"}, {"event": "bot", "text": "以上解答对您有帮助吗？", "metadata": {"utter_action": "utter_ask_helpful"}}]
    dispatcher, _ = await run(a.ActionFaqAnswered(), make_tracker("公积金呢", "faq", events=asked))
    assert responses(dispatcher) == []


@pytest.mark.parametrize(("typed", "value", "said"), [("有帮助", "yes", "utter_feedback_thanks"), ("没解决", "no", "utter_feedback_sorry")])
async def test_typed_feedback_is_understood(db_url: str, typed: str, value: str, said: str) -> None:
    from bot import db

    dispatcher, _ = await run(a.ActionFeedback(), make_tracker(typed, "feedback", sender="fb"))
    assert responses(dispatcher) == [said]
    with db.session() as s:
        assert [f.value for f in s.query(db.Feedback).filter_by(sender_id="fb")] == [value]
