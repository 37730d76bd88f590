"""The approved response catalogue: loading, rendering, recognising a sent text (bot/core/catalogue.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.core import catalogue
from bot.infra import settings


@pytest.fixture(scope="module")
def cat() -> catalogue.Catalogue:
    return catalogue.load()


def test_domain_and_faq_files_are_one_catalogue(cat: catalogue.Catalogue) -> None:
    assert cat.variations("utter_greet")[0].source_file == "domain.yml"
    faq = [n for n in cat.names() if n.startswith("utter_faq/")]
    assert faq and all(cat.variations(n)[0].source_file.startswith("data/responses/") for n in faq)


def test_render_fills_the_city_profile_and_the_slots(cat: catalogue.Catalogue) -> None:
    r = cat.render("utter_handoff", ticket_id="20261126-000001", sla_text="2 小时")
    assert "20261126-000001" in r["text"] and "2 小时" in r["text"]
    assert "{" not in r["text"]
    greet = cat.text("utter_greet")
    assert cat.city_values["city_name"] in greet and "{city_name}" not in greet
    # a slot the caller did not give stays visible as a placeholder (the guard refuses it)
    assert "{ticket_id}" in cat.text("utter_handoff", sla_text="2 小时")


def test_every_response_is_recognised_after_rendering(cat: catalogue.Catalogue) -> None:
    for name in cat.names():
        for i, r in enumerate(cat.variations(name)):
            slots = {k: f"值{k[-3:]}" for k in catalogue.PLACEHOLDER.findall(r.text) if not k.startswith("city_")}
            text = cat.render(name, i, **slots)["text"]
            found = cat.match_detail(text, name)
            assert found is not None and found.name == name, name
            assert found.slots == slots


def test_slot_values_may_hold_what_citizens_type(cat: catalogue.Catalogue) -> None:
    for value in [
        "<script>alert(1)</script>",
        "'; DROP TABLE tickets; --",
        "第一行\n第二行",
        "{不是占位符}",
        "😀😀",
        "",
    ]:
        text = cat.text(
            "utter_report_confirm",
            report_summary="噪音扰民",
            report_brief=value,
            report_where="某路",
            report_when="昨天",
        )
        assert cat.match(text) == "utter_report_confirm", value


def test_slot_values_are_bounded_and_cannot_hold_a_raw_placeholder(cat: catalogue.Catalogue) -> None:
    long = "很" * (settings.load().max_message_chars + 100)
    assert cat.match(cat.text("utter_ticket_not_found", ticket_id=long)) is None
    assert cat.match(cat.text("utter_ticket_not_found", ticket_id="{ticket_id}")) is None


def test_citizen_slots_are_the_ones_filled_from_their_text(cat: catalogue.Catalogue) -> None:
    assert {"report_what", "report_brief", "report_where", "report_when"} <= cat.citizen_slots
    assert "ticket_id" not in cat.citizen_slots and "ticket_status_text" not in cat.citizen_slots
    assert "ticket_status_text" in cat.slots
    found = cat.match_detail(
        cat.text(
            "utter_report_confirm", report_summary="噪音", report_brief="楼上吵", report_where="A栋", report_when="夜里"
        )
    )
    assert found is not None and "楼上吵" not in found.own_words and "噪音" in found.own_words


def test_a_changed_city_profile_is_used_without_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "city.yml"
    shutil.copy(settings.DATA / "city.yml", profile)
    monkeypatch.setenv("CITY_FILE", str(profile))
    before = catalogue.load().text("utter_greet")
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("city_name: 示例市", "city_name: 测试市"), encoding="utf-8"
    )
    import os

    os.utime(profile, (profile.stat().st_atime, profile.stat().st_mtime + 5))
    after = catalogue.load()
    assert "测试市" in after.text("utter_greet") and "测试市" not in before
    assert after.match(after.text("utter_greet")) == "utter_greet"
    assert after.match(before) is None  # the old city name is no longer an approved text
