"""Handoff to a person (issue 4): a prefilled ticket, one matter one ticket, call-backs after hours."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ConversationPaused, SlotSet

from actions import handoff as a
from actions.report_form import ActionFileReport
from bot.core import catalogue, handoff, tickets
from tests.actions.trackers import make_tracker, responses, run


def _city(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, *, open_: bool) -> None:
    """A copy of the city profile whose service hours are always (or never) staffed."""
    import yaml

    from bot.infra import settings

    profile = yaml.safe_load((settings.DATA / "city.yml").read_text(encoding="utf-8"))
    profile["service_hours"] = {
        "timezone": "Asia/Shanghai",
        "weekdays": [1, 2, 3, 4, 5, 6, 7] if open_ else [],
        "start": "00:00",
        "end": "23:59:59",
    }
    path = tmp_path / "city.yml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CITY_FILE", str(path))


def _faq_then(text: str, intent: str, *, before: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    faq_parse = {
        "intent": {"name": "faq"},
        "response_selector": {"faq": {"response": {"intent_response_key": "faq/shebao_card_replace"}}},
    }
    return [
        {
            "event": "user",
            "text": "社保卡丢了里面的钱会不会被人取走",
            "timestamp": 1764000000.0,
            "parse_data": faq_parse,
        },
        {
            "event": "bot",
            "text": "社保卡丢失请尽快挂失……",
            "timestamp": 1764000001.0,
            "metadata": {"utter_action": "utter_faq/shebao_card_replace"},
        },
        *(before or []),
        {"event": "user", "text": text, "timestamp": 1764000060.0, "parse_data": {"intent": {"name": intent}}},
    ]


async def test_asking_for_a_person_files_a_prefilled_ticket_and_goes_quiet(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=True)
    tracker = make_tracker("转人工", "request_human", sender="h1", events=_faq_then("转人工", "request_human"))
    dispatcher, events = await run(a.ActionHandoff(), tracker)
    [ticket] = tickets.query(sender_id="h1", with_transcript=True)
    assert (ticket.topic, ticket.department, ticket.kind, ticket.priority) == (
        "request_human",
        "hrss",
        "consult",
        "P2",
    )
    assert ticket.reason == "request_human" and ticket.handoff is True
    assert ticket.summary == "要求人工｜社保卡挂失与补换：“社保卡丢了里面的钱会不会被人取走”"
    # the conversation so far, and what the bot told the citizen about the handoff
    assert [e.sender for e in ticket.transcript] == ["citizen", "bot", "citizen", "bot"]
    assert ticket.transcript[-1].text == catalogue.load().text("utter_handoff", ticket_id=ticket.id, sla_text="15分钟")
    assert dispatcher.messages[0]["response"] == "utter_handoff"
    assert (dispatcher.messages[0]["ticket_id"], dispatcher.messages[0]["sla_text"]) == (ticket.id, "15分钟")
    assert ConversationPaused() in events and SlotSet("handed_off", True) in events
    assert handoff.current("h1") == {"ticket_id": ticket.id, "channel": "rest"}
    # the same action delivered again (a retry) files nothing new
    await run(a.ActionHandoff(), tracker)
    assert len(tickets.query(sender_id="h1")) == 1
    assert len(tickets.get(ticket.id).transcript) == 4


async def test_outside_service_hours_a_call_back_is_filed_once(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=False)
    first = make_tracker("人工", "request_human", sender="night", events=_faq_then("人工", "request_human"))
    dispatcher, events = await run(a.ActionHandoff(), first)
    [ticket] = tickets.query(sender_id="night")
    assert ticket.reason == "after_hours_callback" and ticket.handoff is False
    assert ticket.summary.startswith("回访｜要求人工｜社保卡挂失与补换")
    assert responses(dispatcher) == ["utter_handoff_after_hours"]
    assert ConversationPaused() not in events and handoff.current("night") is None
    # asking again later in the night adds to the same call-back instead of a second ticket
    again = make_tracker("快点给我回电话", "request_human", sender="night")
    await run(a.ActionHandoff(), again)
    assert len(tickets.query(sender_id="night")) == 1
    lines = [(e.sender, e.text) for e in tickets.get(ticket.id).transcript]
    assert lines[-2:] == [
        ("citizen", "快点给我回电话"),
        ("bot", catalogue.load().text("utter_handoff_after_hours", ticket_id=ticket.id)),
    ]


async def test_accepting_the_offer_after_two_fallbacks_is_recorded_as_the_reason(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=True)
    offered = [
        {"event": "user", "text": "那个啥东西咋整", "parse_data": {"intent": {"name": "nlu_fallback"}}},
        {"event": "action", "name": "utter_offer_human"},
        {"event": "bot", "text": "是否为您转接人工服务？", "metadata": {"utter_action": "utter_offer_human"}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "好的", "parse_data": {"intent": {"name": "affirm"}}},
    ]
    await run(a.ActionHandoff(), make_tracker("好的", "affirm", sender="fb", events=offered))
    [ticket] = tickets.query(sender_id="fb")
    assert (ticket.reason, ticket.reason_text) == ("fallback_offer", "两次未能理解，市民同意转人工")
    assert ticket.summary == "未能理解，转人工：“那个啥东西咋整”"


async def test_a_report_just_filed_is_discussed_on_its_own_ticket(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=True)
    slots = {"report_topic": "report_noise", "report_what": "楼下烧烤店每天晚上很吵", "report_where": "建设路12号",
             "report_when": "每天晚上", "report_callback": False, "report_phone": None}  # fmt: skip
    _, filed_events = await run(ActionFileReport(), make_tracker("确认", "affirm", sender="rp", slots=slots))
    report = tickets.query(sender_id="rp")[0]
    after_filing = [
        {"event": "action", "name": "action_file_report"},
        {"event": "bot", "text": "已为您登记工单……", "metadata": {"utter_action": "utter_report_filed"}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "我想跟工作人员当面说说", "parse_data": {"intent": {"name": "request_human"}}},
    ]
    tracker = make_tracker("我想跟工作人员当面说说", "request_human", sender="rp", events=after_filing,
                           slots={"ticket_id": report.id, "report_topic": "report_noise"})  # fmt: skip
    dispatcher, events = await run(a.ActionHandoff(), tracker)
    [ticket] = tickets.query(sender_id="rp", with_transcript=True)
    assert ticket.id == report.id and ticket.handoff is True and ticket.reason == "report_discussion"
    assert ticket.transcript[-2].text == "我想跟工作人员当面说说"
    assert ticket.location == "建设路12号"
    assert handoff.current("rp")["ticket_id"] == report.id
    assert dispatcher.messages[0]["ticket_id"] == report.id


async def test_a_person_in_the_middle_of_a_report_gets_what_was_collected(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=True)
    slots = {"report_topic": "report_noise", "report_what": "楼上半夜装修电钻声", "report_where": "幸福小区3栋",
             "report_phone": "13912345678"}  # fmt: skip
    turn = [
        {"event": "user", "text": "找人工", "parse_data": {"intent": {"name": "request_human"}}},
        {"event": "action", "name": "action_deactivate_loop"},
        {"event": "active_loop", "name": None},
    ]
    await run(a.ActionHandoff(), make_tracker("找人工", "request_human", sender="mid", slots=slots, events=turn))
    [ticket] = tickets.query(sender_id="mid")
    assert (ticket.kind, ticket.department, ticket.reason) == (
        "complaint",
        "ecology_environment",
        "report_discussion",
    )
    assert (ticket.location, ticket.contact, ticket.description) == (
        "幸福小区3栋",
        "13912345678",
        "楼上半夜装修电钻声",
    )
    assert ticket.summary.startswith("登记中转人工｜噪音扰民")
