"""Nothing unapproved or impolite reaches a citizen (bot/core/guard.py, and the channels' output)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.core import catalogue, guard
from bot.infra.settings import DATA

INCIDENT = ["不说话没人把你当哑巴", "听见了，一群蚊子嗡嗡嗡"]


@pytest.fixture(scope="module")
def cat() -> catalogue.Catalogue:
    return catalogue.load()


def _no_slot_texts(cat: catalogue.Catalogue) -> list[tuple[str, str]]:
    """(name, rendered text) of every response whose text has no conversation slot."""
    out = []
    for name in cat.names():
        for i, r in enumerate(cat.variations(name)):
            text = cat.render(name, i)["text"]
            if r.text and not catalogue.PLACEHOLDER.search(text):
                out.append((name, text))
    return out


# ------------------------------------------------------------------ approved texts pass
def test_every_catalogue_response_rendered_is_approved(cat: catalogue.Catalogue) -> None:
    for name in cat.names():
        for i, r in enumerate(cat.variations(name)):
            slots = {k: "示例值" for k in catalogue.PLACEHOLDER.findall(r.text) if not k.startswith("city_")}
            text = cat.render(name, i, **slots)["text"]
            v = guard.check_bot_text(text, name)
            assert not v.blocked, (name, v.reason)
            assert v.text == text and v.response == name


def test_a_reply_with_the_ticket_filled_in_is_approved(cat: catalogue.Catalogue) -> None:
    text = cat.text("utter_handoff", ticket_id="20261126-000042", sla_text="2 小时")
    v = guard.check_bot_text(text)
    assert (v.blocked, v.response, v.text) == (False, "utter_handoff", text)


# ------------------------------------------------------------------ anything else is replaced
@pytest.mark.parametrize("text", INCIDENT)
def test_the_incident_texts_are_blocked_and_replaced_by_the_safe_fallback(cat: catalogue.Catalogue, text: str) -> None:
    v = guard.check_bot_text(text)
    assert v.blocked and v.original == text
    assert v.response == guard.SAFE_FALLBACK and v.text == cat.text(guard.SAFE_FALLBACK)
    assert "回复“人工”" in v.text  # the citizen still has a way forward


def test_a_near_copy_of_an_approved_text_is_blocked(cat: catalogue.Catalogue) -> None:
    greet = cat.text("utter_greet")
    for changed in (greet + "呵呵", greet.replace("您", "你", 1), greet[:-1], " " + greet):
        assert guard.check_bot_text(changed).blocked, changed


def test_an_unfilled_template_is_blocked(cat: catalogue.Catalogue) -> None:
    """Rasa sends the raw template when interpolation fails: the citizen must not see {ticket_id}."""
    raw = cat.variations("utter_handoff")[0].text.replace("{city_name}", cat.city_values["city_name"])
    assert guard.check_bot_text(raw).blocked


@pytest.mark.parametrize("text", [None, "", "好" * 9000])
def test_empty_and_absurdly_long_texts_are_blocked(text: str | None) -> None:
    v = guard.check_bot_text(text)
    assert v.blocked and v.reason == "empty or oversized text"


def test_the_citizens_own_words_echoed_back_are_not_held_against_the_bot(cat: catalogue.Catalogue) -> None:
    """A citizen reporting that someone called them 哑巴 still gets their confirmation ..."""
    text = cat.text("utter_report_confirm", report_summary="噪音扰民", report_brief="邻居骂我是哑巴，还说活该",
                    report_where="示例路1号", report_when="昨晚")  # fmt: skip
    v = guard.check_bot_text(text, "utter_report_confirm")
    assert not v.blocked, v.reason


def test_a_system_slot_cannot_smuggle_a_rude_text(cat: catalogue.Catalogue) -> None:
    """... but a slot the system fills (a ticket status) is checked like the bot's own words."""
    text = cat.text("utter_ticket_status", ticket_id="20261126-000001", ticket_status_text="不说话没人把你当哑巴")
    v = guard.check_bot_text(text)
    assert v.blocked and "forbidden phrase" in (v.reason or "")


def test_the_safe_fallback_itself_is_approved(cat: catalogue.Catalogue) -> None:
    assert not guard.check_bot_text(cat.text(guard.SAFE_FALLBACK)).blocked


# ------------------------------------------------------------------ properties
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_is_only_approved_when_it_is_a_rendered_template(text: str) -> None:
    cat = catalogue.load()
    v = guard.check_bot_text(text)
    if v.blocked:
        assert v.text == cat.text(guard.SAFE_FALLBACK) and v.original == text
        return
    # approved: the text is exactly what the renderer makes of that response with those slots
    found = cat.match_detail(text)
    assert found is not None and found.name == v.response
    assert cat.render(found.name, **found.slots)["text"] == text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.text(min_size=1, max_size=40))
def test_an_approved_text_with_anything_added_is_blocked(data: st.DataObject, extra: str) -> None:
    cat = catalogue.load()
    name, text = data.draw(st.sampled_from(_no_slot_texts(cat)))
    changed = data.draw(
        st.sampled_from([text + extra, extra + text, text[: len(text) // 2] + extra + text[len(text) // 2 :]])
    )
    assume(changed not in {t for _, t in _no_slot_texts(cat)})
    found = cat.match_detail(changed)
    # only a template with a slot could take the extra words in as a slot value
    assert guard.check_bot_text(changed).blocked or (found is not None and found.slots)


SLOT_VALUE = st.text(max_size=120).filter(lambda s: not catalogue.PLACEHOLDER.search(s))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_template_with_any_slot_values_is_approved_as_itself(data: st.DataObject) -> None:
    cat = catalogue.load()
    name = data.draw(
        st.sampled_from(["utter_handoff", "utter_report_confirm", "utter_ticket_not_found", "utter_report_filed"])
    )
    keys = [k for k in catalogue.PLACEHOLDER.findall(cat.variations(name)[0].text) if not k.startswith("city_")]
    slots = {k: data.draw(SLOT_VALUE) for k in keys}
    assume(not any(guard.phrase_problems(v) for k, v in slots.items() if k not in cat.citizen_slots))
    text = cat.render(name, **slots)["text"]
    v = guard.check_bot_text(text, name)
    assert not v.blocked, v.reason
    assert v.response == name


# ------------------------------------------------------------------ buttons and agents
def test_only_approved_buttons_are_kept() -> None:
    buttons = [{"title": "转人工", "payload": "/request_human"}, {"title": "点我领红包", "payload": "/x"},
               {"title": "社保卡（社会保障卡）申领", "payload": "社保卡（社会保障卡）申领"}]  # fmt: skip
    assert [b["title"] for b in guard.approved_buttons(buttons)] == ["转人工", "社保卡（社会保障卡）申领"]


def test_agent_text_check_says_why_in_chinese() -> None:
    assert guard.check_agent_text("您好，您的问题已转交市场监管局，请留意回电。") == []
    problems = guard.check_agent_text("不说话没人把你当哑巴")
    assert problems and all(" / " not in p for p in problems)
    assert any("公开事件" in p for p in problems) and any("您" in p for p in problems)
    assert guard.check_agent_text("   ") == ["回复内容为空"]
    assert any("2048" in p for p in guard.check_agent_text("您好" * 500))


@pytest.mark.parametrize("sneaky", ["哑 巴", "哑\u200b巴", "ＳＢ哑巴", "不 说 话 没 人 把 你 当 哑 巴"])
def test_spaces_and_invisible_characters_do_not_hide_a_phrase(sneaky: str) -> None:
    assert guard.check_agent_text(sneaky)


def test_every_reviewed_example_behaves_as_reviewed() -> None:
    raw = yaml.safe_load((DATA / guard.PHRASES_FILE).read_text(encoding="utf-8"))
    assert len(raw["forbidden"]) >= 10
    for entry in raw["forbidden"]:
        assert entry.get("why"), entry
        for bad in entry.get("bad") or []:
            assert guard.phrase_problems(bad), (entry["pattern"], bad)
        for ok in entry.get("ok") or []:
            assert entry["why"] not in guard.phrase_problems(ok), (entry["pattern"], ok)


def test_a_different_list_file_can_be_checked(tmp_path: Path) -> None:
    f = tmp_path / "phrases.yml"
    f.write_text('forbidden:\n  - {pattern: "测试词", why: "测试"}\n', encoding="utf-8")
    assert guard.phrase_problems("这是测试词", f) == ["测试"]
    assert guard.phrase_problems("不说话没人把你当哑巴", f) == []


# ------------------------------------------------------------------ audit trail
def test_audit_rows_are_masked_and_queryable(db_url: str) -> None:
    guard.record(channel="rest", sender_id="c1", text="您的工单已登记，联系电话13812345678", response="utter_x")
    guard.record(
        channel="rest",
        sender_id="c1",
        text="不说话没人把你当哑巴",
        response=None,
        blocked=True,
        reason="not an approved response",
    )
    guard.record(
        channel="wechat",
        sender_id="c2",
        text="您好，已为您处理",
        response=None,
        agent="王芳",
        ticket_id="20261126-000001",
    )
    rows = guard.audit()
    assert [r["sender_id"] for r in rows] == ["c2", "c1", "c1"]  # newest first
    assert all("13812345678" not in r["text"] for r in rows)
    assert rows[2]["text"].endswith("138****5678")
    blocked = guard.audit(blocked=True)
    assert len(blocked) == 1 and blocked[0]["text"] == "不说话没人把你当哑巴" and blocked[0]["response"] is None
    by_agent = guard.audit(agent="王芳")
    assert len(by_agent) == 1 and by_agent[0]["ticket_id"] == "20261126-000001" and by_agent[0]["channel"] == "wechat"
    assert guard.audit(channel="wechat", sender_id="c1") == []


# ------------------------------------------------------------------ the channel boundary
class _FakeOutput:
    """A platform whose `deliver` records what would reach the citizen."""

    @staticmethod
    def make() -> Any:
        from channels.common import GuardedOutputChannel

        class Out(GuardedOutputChannel):
            channel_name = "fake"

            def __init__(self) -> None:
                super().__init__(model_version="model-x")
                self.delivered: list[tuple[str, str, list[dict[str, Any]]]] = []

            async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
                self.delivered.append((recipient_id, text, buttons))

        return Out()


def test_the_channel_delivers_the_safe_fallback_and_records_the_blocked_text(
    db_url: str, cat: catalogue.Catalogue
) -> None:
    out = _FakeOutput.make()
    asyncio.run(
        out.send_response(
            "c9", {"text": "不说话没人把你当哑巴，电话13812345678", "buttons": [{"title": "转人工", "payload": "/x"}]}
        )
    )
    assert out.delivered == [("c9", cat.text(guard.SAFE_FALLBACK), [])]
    rows = guard.audit(sender_id="c9")
    blocked = [r for r in rows if r["blocked"]]
    sent = [r for r in rows if not r["blocked"]]
    assert len(blocked) == 1 and blocked[0]["text"] == "不说话没人把你当哑巴，电话138****5678"
    assert "not an approved response" in blocked[0]["blocked_reason"]
    assert len(sent) == 1 and sent[0]["response"] == guard.SAFE_FALLBACK and sent[0]["model_version"] == "model-x"


def test_the_channel_delivers_an_approved_text_unchanged(db_url: str, cat: catalogue.Catalogue) -> None:
    out = _FakeOutput.make()
    asyncio.run(out.send_approved("c8", "utter_offer_human"))
    rendered = cat.render("utter_offer_human")
    assert out.delivered == [("c8", rendered["text"], rendered["buttons"])]
    assert [(r["response"], r["blocked"]) for r in guard.audit(sender_id="c8")] == [("utter_offer_human", False)]


def test_agent_messages_are_recorded_with_the_agents_name(db_url: str) -> None:
    out = _FakeOutput.make()
    asyncio.run(
        out.send_agent_text(
            "c7", "您好，我是工作人员，请问您的电话是13812345678吗？", agent="李强", ticket_id="20261126-000007"
        )
    )
    assert out.delivered[0][1].endswith("13812345678吗？")  # the citizen sees what the agent wrote
    row = guard.audit(sender_id="c7")[0]
    assert (row["agent"], row["ticket_id"], row["blocked"]) == ("李强", "20261126-000007", False)
    assert "138****5678" in row["text"]


def test_an_output_made_without_a_model_records_the_model_this_rasa_server_answers_with(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from sanic import Sanic

    from channels.common import GuardedOutputChannel

    class Out(GuardedOutputChannel):  # as the web chat, WeChat and Telegram outputs are made
        channel_name = "fake"

        async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
            pass

    agent = SimpleNamespace(processor=object(), model_name="20261201-093000-model.tar.gz", model_id="m-1")
    monkeypatch.setattr(Sanic, "_app_registry", {"rasa": SimpleNamespace(ctx=SimpleNamespace(agent=agent))})
    asyncio.run(Out().send_approved("c7", "utter_offer_human"))
    asyncio.run(Out().send_agent_text("c7", "您好，我是坐席王芳", "王芳", "20261126-000002"))
    monkeypatch.setattr(Sanic, "_app_registry", {})  # outside the Rasa server (the desk's senders)
    asyncio.run(Out().send_approved("c6", "utter_offer_human"))
    by_bot, by_agent = reversed(guard.audit(sender_id="c7"))
    assert by_bot["model_version"] == "20261201-093000-model.tar.gz"
    assert by_agent["agent"] == "王芳" and by_agent["model_version"] is None
    assert [r["model_version"] for r in guard.audit(sender_id="c6")] == [None]


def test_the_guard_imports_no_framework() -> None:
    import ast

    tree = ast.parse(Path(guard.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    frameworks = {"rasa", "rasa_sdk", "sanic", "aiohttp", "socketio", "matplotlib", "openpyxl"}
    assert not {name.split(".")[0] for name in imported} & frameworks
