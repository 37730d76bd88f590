"""The report form: what the first message already says, validation, filing, stopping."""

from __future__ import annotations

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import report_form as a
from bot.core import tickets
from tests.actions.trackers import DOMAIN, make_tracker, responses, run


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
    tracker = make_tracker(
        "这里的路灯坏了好几天了晚上特别黑",
        "report_facility_damage",
        metadata={"location": "示例区市民大道 (30.1,120.2)"},
    )
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
    asked = await form.required_slots(
        slots, CollectingDispatcher(), make_tracker(slots={"report_callback": False}), DOMAIN
    )
    assert "report_phone" not in asked
    asked = await form.required_slots(
        slots, CollectingDispatcher(), make_tracker(slots={"report_callback": True}), DOMAIN
    )
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
    assert ticket.department == "ecology_environment"
    assert (ticket.kind, ticket.priority, ticket.topic) == ("complaint", "P2", "report_noise")
    assert ticket.location == "建设路12号"
    assert ticket.contact == "13912345678"
    assert dispatcher.messages[0]["response"] == "utter_report_filed"
    assert dispatcher.messages[0]["ticket_id"] == ticket.id
    assert events[:2] == [SlotSet("ticket_id", ticket.id), SlotSet("sla_text", "5个工作日")]
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


async def test_a_long_story_is_confirmed_briefly_and_kept_whole() -> None:
    story = "楼下烧烤店每天晚上营业到凌晨" * 40
    _, events = await run(a.ActionStartReport(), make_tracker(story, "report_noise"))
    assert SlotSet("report_what", story) in events
    shown = next(e["value"] for e in events if e["name"] == "report_brief")
    assert shown.endswith("……") and len(shown) <= a.BRIEF_CHARS + 2
