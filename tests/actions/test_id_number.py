"""The ID number (身份证号) in the report form: asked only where the kind needs it, after saying
why, validated with the GB 11643 check digit, a polite answer to a wrong one, and a citizen who
declines is still served (the ticket is filed, a person is offered)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import report_form as a
from bot.core import catalogue, tickets
from bot.core.privacy import id_check_digit
from tests.actions.trackers import DOMAIN, make_tracker, responses, run

FORM_SLOTS = ["report_what", "report_where", "report_when", "report_id_number", "report_callback", "report_phone"]
# a syntactically valid number built with the check digit (no real person's)
VALID = "11010519491231002" + id_check_digit("11010519491231002")
WRONG_CHECK = VALID[:17] + ("0" if VALID[17] != "0" else "1")


def validate(typed: str, intent: str = "inform") -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(typed, intent, slots={"report_topic": "report_wage_arrears"})
    result = a.ValidateReportForm().validate_report_id_number(typed, dispatcher, tracker, DOMAIN)
    return result, responses(dispatcher)


async def test_only_wage_arrears_asks_for_the_id_number() -> None:
    form = a.ValidateReportForm()
    asked = await form.required_slots(
        FORM_SLOTS, CollectingDispatcher(), make_tracker(slots={"report_topic": "report_wage_arrears"}), DOMAIN
    )
    assert asked == FORM_SLOTS
    for topic in ("report_noise", "report_consumer", "report_food_safety", "suggestion", None):
        asked = await form.required_slots(
            FORM_SLOTS, CollectingDispatcher(), make_tracker(slots={"report_topic": topic}), DOMAIN
        )
        assert "report_id_number" not in asked, topic
        assert asked == [s for s in FORM_SLOTS if s != "report_id_number"]


async def test_a_model_trained_without_the_slot_is_not_asked_for_it() -> None:
    # an older model's domain has no report_id_number: the form must not invent a question
    old = [s for s in FORM_SLOTS if s != "report_id_number"]
    tracker = make_tracker(slots={"report_topic": "report_wage_arrears"})
    assert await a.ValidateReportForm().required_slots(old, CollectingDispatcher(), tracker, DOMAIN) == old


def test_the_question_says_why_before_asking_and_offers_to_decline() -> None:
    ask = catalogue.load().render("utter_ask_report_id_number")
    text = ask["text"]
    assert text.index("为了") < text.index("请输入")  # the reason comes first
    assert "仅用于" in text and "劳动保障监察" in text
    assert "跳过" in text and "仍会为您登记" in text
    assert [b["payload"] for b in ask["buttons"]] == ["/skip"]


@pytest.mark.parametrize(
    "typed",
    [
        VALID,
        VALID.lower() if VALID.endswith("X") else VALID,
        f"我的身份证号是{VALID}",
        " ".join([VALID[:6], VALID[6:14], VALID[14:]]),
    ],
)
def test_a_valid_id_number_is_kept(typed: str) -> None:
    result, said = validate(typed)
    assert result == {"report_id_number": VALID.upper()}
    assert said == []


@pytest.mark.parametrize("typed", [WRONG_CHECK, VALID[:17], VALID + "1", "abcdefghijklmnopqr", "110105194912"])
def test_a_wrong_id_number_is_refused_politely(typed: str) -> None:
    result, said = validate(typed)
    assert result == {"report_id_number": None}  # asked again
    assert said == ["utter_invalid_id_number"]
    text = catalogue.load().render("utter_invalid_id_number")["text"]
    assert "请您核对" in text and "跳过" in text  # polite, and the way out is named


@pytest.mark.parametrize(
    ("typed", "intent"), [("/skip", "skip"), ("跳过", "skip"), ("不想提供", "inform"), ("不方便给", "deny")]
)
def test_a_citizen_who_declines_is_still_served_and_offered_a_person(typed: str, intent: str) -> None:
    result, said = validate(typed, intent)
    assert result == {"report_id_number": a.NOT_GIVEN}  # the form goes on: the ticket is filed
    assert said == ["utter_id_number_declined"]
    declined = catalogue.load().render("utter_id_number_declined")
    assert "照常为您登记" in declined["text"]
    assert [b["payload"] for b in declined["buttons"]] == ["/request_human"]


async def test_the_filed_ticket_carries_the_number_for_the_department(db_url: str, redis_url: str) -> None:
    slots = {
        "report_topic": "report_wage_arrears",
        "report_what": "工地老板拖欠我三个月工资",
        "report_where": "建设路工地",
        "report_when": "今年八月起",
        "report_id_number": VALID,
        "report_callback": False,
        "report_phone": None,
    }
    dispatcher, events = await run(a.ActionFileReport(), make_tracker("确认", "affirm", slots=slots))
    ticket = tickets.query(sender_id="citizen-1")[0]
    assert ticket.department == "hrss"
    assert f"身份证号：{VALID}" in ticket.description
    assert responses(dispatcher) == ["utter_report_filed"]
    # not kept in the conversation once the ticket has it
    assert {"event": "slot", "timestamp": None, "name": "report_id_number", "value": None} in events


async def test_a_declined_number_files_the_ticket_without_one(db_url: str, redis_url: str) -> None:
    slots = {
        "report_topic": "report_wage_arrears",
        "report_what": "工地老板拖欠我三个月工资",
        "report_where": a.NOT_GIVEN,
        "report_when": a.NOT_GIVEN,
        "report_id_number": a.NOT_GIVEN,
        "report_callback": False,
    }
    dispatcher, _ = await run(a.ActionFileReport(), make_tracker("确认", "affirm", sender="citizen-2", slots=slots))
    ticket = tickets.query(sender_id="citizen-2")[0]
    assert "身份证号" not in ticket.description
    assert responses(dispatcher) == ["utter_report_filed"]
