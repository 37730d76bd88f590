"""Action tests in the style of financial-demo: a tracker fixture, CollectingDispatcher, and the
exact events and responses each action produces. Tickets go to a real SQLite database and
handoff flags to a real Redis (fixtures `db_url`, `redis_url`)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import actions as a
from bot.core import catalogue, handoff, tickets
from bot.infra import db

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
            {
                "event": "user",
                "text": text,
                "timestamp": 1764000000.0,
                "parse_data": latest,
                "input_channel": channel,
                "metadata": metadata or {},
            },
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
    dispatcher, events = await run(
        a.ActionHandleFallback(), make_tracker("啊啊", "nlu_fallback", events=_fallback_turns(1))
    )
    assert responses(dispatcher) == ["utter_default"]
    assert events == [SlotSet("offered_human", False)]


async def test_second_fallback_in_a_row_offers_a_person() -> None:
    dispatcher, events = await run(
        a.ActionHandleFallback(), make_tracker("啊啊", "nlu_fallback", events=_fallback_turns(2))
    )
    assert responses(dispatcher) == ["utter_offer_human"]
    assert events == [SlotSet("offered_human", True)]


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
    theirs, _ = tickets.create(
        idempotency_key="k2", channel="rest", sender_id="other", topic="report_noise", summary="噪音"
    )
    dispatcher, _ = await run(
        a.ActionCheckTicketStatus(), make_tracker(f"查询工单 {mine['id']}", "check_ticket_status", sender="me")
    )
    assert responses(dispatcher) == ["utter_ticket_status"]
    assert "已登记" in dispatcher.messages[0]["ticket_status_text"]
    dispatcher, _ = await run(
        a.ActionCheckTicketStatus(), make_tracker(f"查询工单 {theirs['id']}", "check_ticket_status", sender="me")
    )
    assert responses(dispatcher) == ["utter_ticket_not_found"]


async def test_satisfaction_is_stored_on_the_ticket(db_url: str) -> None:
    ticket, _ = tickets.create(
        idempotency_key="k3", channel="rest", sender_id="me", topic="request_human", summary="人工"
    )
    tracker = make_tracker(
        "基本满意", "rate_service", sender="me", slots={"satisfaction": "基本满意", "ticket_id": ticket["id"]}
    )
    dispatcher, events = await run(a.ActionRateService(), tracker)
    assert tickets.get(ticket["id"])["satisfaction"] == "基本满意"
    assert responses(dispatcher) == ["utter_thanks_for_rating"]  # which invites one optional comment
    with db.session() as s:
        row = s.query(db.Feedback).one()
        assert (row.kind, row.value, row.ticket_id, row.comment) == ("ticket", "基本满意", ticket["id"], None)
    assert events == [
        SlotSet("satisfaction", "基本满意"),
        SlotSet("rating_comment_pending", True),
        SlotSet("rating_feedback_id", str(row.id)),
    ]


def _after_rating(text: str, intent: str, feedback_id: str, sender: str = "me") -> Tracker:
    return make_tracker(
        text, intent, sender=sender, slots={"rating_comment_pending": True, "rating_feedback_id": feedback_id}
    )


async def _rated(value: str = "不满意") -> tuple[dict[str, Any], str]:
    ticket, _ = tickets.create(
        idempotency_key="k-comment", channel="rest", sender_id="me", topic="request_human", summary="人工"
    )
    tracker = make_tracker(value, "rate_service", sender="me", slots={"satisfaction": value, "ticket_id": ticket["id"]})
    _, events = await run(a.ActionRateService(), tracker)
    return ticket, next(e["value"] for e in events if e["name"] == "rating_feedback_id")


COMMENT_DONE = [SlotSet("rating_comment_pending", False), SlotSet("rating_feedback_id", None)]


async def test_a_comment_after_a_rating_is_kept_on_the_ticket_and_masked_in_the_figures(db_url: str) -> None:
    ticket, feedback_id = await _rated()
    said = "等了三天才有人回电话，我的电话是13912345678，希望快一点"
    dispatcher, events = await run(a.ActionRatingComment(), _after_rating(said, "nlu_fallback", feedback_id))
    assert responses(dispatcher) == ["utter_thanks_for_comment"]
    assert events == COMMENT_DONE
    stored = tickets.get(ticket["id"])
    assert (stored["satisfaction"], stored["satisfaction_comment"]) == ("不满意", said)  # the ticket keeps it whole
    with db.session() as s:
        comment = s.query(db.Feedback).one().comment
    assert "13912345678" not in comment and comment.startswith("等了三天才有人回电话")


@pytest.mark.parametrize(("text", "intent"), [("不用了", "deny"), ("/skip", "skip"), ("算了", "stop")])
async def test_no_comment_is_fine_and_stores_nothing(db_url: str, text: str, intent: str) -> None:
    ticket, feedback_id = await _rated("满意")
    dispatcher, events = await run(a.ActionRatingComment(), _after_rating(text, intent, feedback_id))
    assert responses(dispatcher) == ["utter_rating_comment_skipped"]
    assert events == COMMENT_DONE
    assert tickets.get(ticket["id"])["satisfaction_comment"] is None
    with db.session() as s:
        assert s.query(db.Feedback).one().comment is None


async def test_a_comment_never_lands_on_someone_elses_rating(db_url: str) -> None:
    ticket, feedback_id = await _rated()
    dispatcher, events = await run(
        a.ActionRatingComment(), _after_rating("很好", "feedback", feedback_id, sender="other")
    )
    assert responses(dispatcher) == ["utter_rating_comment_skipped"]
    assert events == COMMENT_DONE
    assert tickets.get(ticket["id"])["satisfaction_comment"] is None


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


# ---------------------------------------------------------------- handoff (issue 4)


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
    assert (ticket["topic"], ticket["department"], ticket["kind"], ticket["priority"]) == (
        "request_human",
        "hrss",
        "consult",
        "P2",
    )
    assert ticket["reason"] == "request_human" and ticket["handoff"] is True
    assert ticket["summary"] == "要求人工｜社保卡挂失与补换：“社保卡丢了里面的钱会不会被人取走”"
    # the conversation so far, and what the bot told the citizen about the handoff
    assert [e["from"] for e in ticket["transcript"]] == ["citizen", "bot", "citizen", "bot"]
    assert ticket["transcript"][-1]["text"] == catalogue.load().text(
        "utter_handoff", ticket_id=ticket["id"], sla_text="15分钟"
    )
    assert dispatcher.messages[0]["response"] == "utter_handoff"
    assert (dispatcher.messages[0]["ticket_id"], dispatcher.messages[0]["sla_text"]) == (ticket["id"], "15分钟")
    assert ConversationPaused() in events and SlotSet("handed_off", True) in events
    assert handoff.current("h1") == {"ticket_id": ticket["id"], "channel": "rest"}
    # the same action delivered again (a retry) files nothing new
    await run(a.ActionHandoff(), tracker)
    assert len(tickets.query(sender_id="h1")) == 1
    assert len(tickets.get(ticket["id"])["transcript"]) == 4


async def test_outside_service_hours_a_call_back_is_filed_once(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=False)
    first = make_tracker("人工", "request_human", sender="night", events=_faq_then("人工", "request_human"))
    dispatcher, events = await run(a.ActionHandoff(), first)
    [ticket] = tickets.query(sender_id="night")
    assert ticket["reason"] == "after_hours_callback" and ticket["handoff"] is False
    assert ticket["summary"].startswith("回访｜要求人工｜社保卡挂失与补换")
    assert responses(dispatcher) == ["utter_handoff_after_hours"]
    assert ConversationPaused() not in events and handoff.current("night") is None
    # asking again later in the night adds to the same call-back instead of a second ticket
    again = make_tracker("快点给我回电话", "request_human", sender="night")
    await run(a.ActionHandoff(), again)
    assert len(tickets.query(sender_id="night")) == 1
    lines = [(e["from"], e["text"]) for e in tickets.get(ticket["id"])["transcript"]]
    assert lines[-2:] == [
        ("citizen", "快点给我回电话"),
        ("bot", catalogue.load().text("utter_handoff_after_hours", ticket_id=ticket["id"])),
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
    assert (ticket["reason"], ticket["reason_text"]) == ("fallback_offer", "两次未能理解，市民同意转人工")
    assert ticket["summary"] == "未能理解，转人工：“那个啥东西咋整”"


async def test_a_report_just_filed_is_discussed_on_its_own_ticket(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=True)
    slots = {"report_topic": "report_noise", "report_what": "楼下烧烤店每天晚上很吵", "report_where": "建设路12号",
             "report_when": "每天晚上", "report_callback": False, "report_phone": None}  # fmt: skip
    _, filed_events = await run(a.ActionFileReport(), make_tracker("确认", "affirm", sender="rp", slots=slots))
    report = tickets.query(sender_id="rp")[0]
    after_filing = [
        {"event": "action", "name": "action_file_report"},
        {"event": "bot", "text": "已为您登记工单……", "metadata": {"utter_action": "utter_report_filed"}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "我想跟工作人员当面说说", "parse_data": {"intent": {"name": "request_human"}}},
    ]
    tracker = make_tracker("我想跟工作人员当面说说", "request_human", sender="rp", events=after_filing,
                           slots={"ticket_id": report["id"], "report_topic": "report_noise"})  # fmt: skip
    dispatcher, events = await run(a.ActionHandoff(), tracker)
    [ticket] = tickets.query(sender_id="rp", with_transcript=True)
    assert ticket["id"] == report["id"] and ticket["handoff"] is True and ticket["reason"] == "report_discussion"
    assert ticket["transcript"][-2]["text"] == "我想跟工作人员当面说说"
    assert ticket["location"] == "建设路12号"
    assert handoff.current("rp")["ticket_id"] == report["id"]
    assert dispatcher.messages[0]["ticket_id"] == report["id"]


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
    assert (ticket["kind"], ticket["department"], ticket["reason"]) == (
        "complaint",
        "ecology_environment",
        "report_discussion",
    )
    assert (ticket["location"], ticket["contact"], ticket["description"]) == (
        "幸福小区3栋",
        "13912345678",
        "楼上半夜装修电钻声",
    )
    assert ticket["summary"].startswith("登记中转人工｜噪音扰民")


async def test_every_crisis_is_p0_with_the_citizens_words_in_the_summary(db_url: str, redis_url: str) -> None:
    for intent, text in (("emergency", "楼道里全是煤气味"), ("child_welfare", "邻居家小孩被锁在家三天没人管")):
        await run(a.ActionCrisis(), make_tracker(text, intent, sender=f"cr-{intent}"))
        [ticket] = tickets.query(sender_id=f"cr-{intent}")
        assert ticket["priority"] == "P0" and ticket["summary"].startswith("【危机】") and text in ticket["summary"]
        assert handoff.current(f"cr-{intent}")["ticket_id"] == ticket["id"]


async def test_a_long_story_is_confirmed_briefly_and_kept_whole() -> None:
    story = "楼下烧烤店每天晚上营业到凌晨" * 40
    _, events = await run(a.ActionStartReport(), make_tracker(story, "report_noise"))
    assert SlotSet("report_what", story) in events
    shown = next(e["value"] for e in events if e["name"] == "report_brief")
    assert shown.endswith("……") and len(shown) <= a.BRIEF_CHARS + 2


async def test_a_comment_said_unprompted_is_kept_masked_and_thanked(db_url: str) -> None:
    said = "接线员态度不好，我打了三次13912345678都没人接"
    dispatcher, events = await run(a.ActionRatingComment(), make_tracker(said, "service_comment"))
    assert responses(dispatcher) == ["utter_thanks_for_comment"]
    assert events == COMMENT_DONE
    with db.session() as s:
        row = s.query(db.Feedback).one()
    assert (row.kind, row.ticket_id) == ("comment", None)
    assert "13912345678" not in row.comment and row.comment.startswith("接线员态度不好")
