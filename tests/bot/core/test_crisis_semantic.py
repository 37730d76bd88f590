"""The crisis screening's semantic stage and its three bands (bot.core.crisis.assess).

The reviewed crisis cases (test_crisis.py) still decide through the lexicon; these tests pin what
the second stage adds: bands from the probe's probability, lexicon matches about past events
judged in context, 救命 as an exclamation, long messages embedded within a budget, and hard
negatives that must never raise an alarm.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from bot.core import crisis
from bot.core import crisis_semantic as semantic
from bot.infra import settings

STATEMENT = semantic.Statement("我不想再拖累任何人了", "self_harm", "indirect", "r", "2026-12-03")


def fixed(probability: float, kind: str = "self_harm"):
    def score_all(text: str) -> list[semantic.Semantic]:
        return [semantic.Semantic(probability, kind, STATEMENT, 0.9, text)]

    return score_all


# ---------------------------------------------------------------- the stored probe and the banks


def test_the_stored_probe_was_fitted_on_the_reviewed_files_as_they_are() -> None:
    with np.load(semantic.PROBE, allow_pickle=False) as stored:
        fitted_on = str(stored["fingerprint"])
        model = str(stored["model"])
    expected = semantic.fingerprint(semantic.read_bank(), semantic.read_negatives())
    assert fitted_on == expected, "data/crisis_bank.yml or crisis_negatives.yml changed: python -m bot.ops.crisis_fit"
    assert model == semantic.embeddings.MODEL


def test_every_reviewed_statement_has_kind_directness_reviewer_and_date() -> None:
    statements = semantic.read_bank()
    assert len(statements) >= 150
    for s in statements:
        assert s.kind in crisis.ORDER and s.directness in ("direct", "indirect"), s
        assert s.reviewer and s.reviewed.startswith("20"), s
    for kind in crisis.ORDER:
        assert sum(s.kind == kind and s.directness == "indirect" for s in statements) >= 20, kind
    raw = yaml.safe_load(semantic.NEGATIVES.read_text(encoding="utf-8"))["negatives"]
    assert len(raw) >= 200 and all(n["reviewer"] and n["reviewed"] for n in raw)


def test_the_dev_set_shares_no_text_with_the_banks() -> None:
    dev = {r["text"] for r in yaml.safe_load((settings.ROOT / "tests/nlu/crisis_dev.yml").read_text("utf-8"))}
    taught = {s.text for s in semantic.read_bank()} | set(semantic.read_negatives())
    assert not dev & taught


# ---------------------------------------------------------------- bands


@pytest.mark.parametrize(
    ("probability", "band"),
    [(0.999, crisis.Band.CRISIS), (semantic.CRISIS, crisis.Band.CRISIS), (0.9, crisis.Band.CHECK),
     (semantic.CHECK, crisis.Band.CHECK), (0.3, crisis.Band.CLEAR)],
)  # fmt: skip
def test_the_semantic_probability_gives_the_band(monkeypatch, probability: float, band: crisis.Band) -> None:
    monkeypatch.setattr(semantic, "score_all", fixed(probability))
    a = crisis.assess("最近总是睡不着")  # no lexicon word
    assert a.band is band
    assert (a.kind == "self_harm") is (band is not crisis.Band.CLEAR)
    assert (a.verdict is not None) is (band is crisis.Band.CRISIS)


def test_a_lexicon_statement_decides_alone_without_the_semantic_stage(monkeypatch) -> None:
    monkeypatch.setattr(semantic, "score_all", fixed(0.0))
    a = crisis.assess("我不想活了")
    assert (a.band, a.kind, a.source) == (crisis.Band.CRISIS, "self_harm", crisis.Source.LEXICON)
    assert "词库规则" in a.how_raised()


def test_the_ticket_is_told_the_score_and_the_closest_reviewed_statement(monkeypatch) -> None:
    monkeypatch.setattr(semantic, "score_all", fixed(0.995))
    how = crisis.assess("最近总是睡不着").how_raised()
    assert "语义相似度 0.99" in how and "我不想再拖累任何人了" in how and "2026-12-03" in how


@pytest.mark.parametrize(
    "text", ["我不想再拖累任何人了", "写好了给女儿的信，就这样吧", "煤气灶旁边我婆婆倒下了，怎么叫都不醒"]
)
def test_indirect_statements_are_heard(text: str) -> None:
    assert crisis.assess(text).band is not crisis.Band.CLEAR


# ---------------------------------------------------------------- the lexicon in context


def test_a_lift_in_a_complaint_about_last_month_is_no_alarm() -> None:
    text = (
        "我要反映一个问题：上个月我们小区停电，当时有几位老人被困在电梯里将近一个小时，"
        "物业说是供电局的问题，到现在谁也不负责，希望督促物业改造线路。"
    )
    a = crisis.assess(text)
    assert a.band is not crisis.Band.CRISIS and a.source is crisis.Source.LEXICON_PAST
    assert a.pattern is not None


def test_a_lift_with_people_in_it_now_is_an_emergency() -> None:
    a = crisis.assess("电梯困人了，里面有老人")
    assert (a.band, a.kind) == (crisis.Band.CRISIS, "emergency")
    a = crisis.assess("上个月也坏过，现在又有人被困在电梯里了")
    assert (a.band, a.kind) == (crisis.Band.CRISIS, "emergency")


def test_self_harm_reported_from_the_past_is_asked_about_and_said_now_is_a_crisis() -> None:
    assert crisis.assess("去年欠薪的时候，有人说不想活了，现在厂子倒闭了").band is crisis.Band.CHECK
    assert crisis.assess("去年被裁员以后我一直不想活了").band is crisis.Band.CRISIS
    assert crisis.assess("我朋友说他不想活了").band is crisis.Band.CRISIS


def test_help_alone_is_a_cry_for_help_and_as_an_exclamation_it_is_not() -> None:
    assert crisis.assess("救命啊").band is crisis.Band.CRISIS
    assert crisis.assess("救命，这个系统怎么这么难用").band is crisis.Band.CLEAR
    assert crisis.assess("救命 有人拿刀砍人").band is crisis.Band.CRISIS


# ---------------------------------------------------------------- hard negatives


HARD = ["想死你了", "笑死我了哈哈哈", "累死了", "热死了", "饿死了", "烦死了", "救命，这题太难了", "跳楼价大甩卖",
        "我想跳槽，公积金怎么转", "孩子参加跳水比赛", "要命的价格", "我想了结这件事，公司欠的工资到底给不给",
        "孩子不想上学怎么办", "我想去游泳", "我想去北京旅游", "想唱就唱", "穷孩子富孩子", "《活着》这本书好看吗",
        "我想了解马云的最新消息", "社保卡怎么补办"]  # fmt: skip


@pytest.mark.parametrize("text", HARD)
def test_everyday_words_never_raise_an_alarm(text: str) -> None:
    assert crisis.assess(text).band is not crisis.Band.CRISIS


# ---------------------------------------------------------------- what is embedded


def test_a_short_message_is_embedded_whole() -> None:
    assert semantic.pieces("  我想去 游泳 ") == ["我想去 游泳"]
    assert semantic.pieces("") == []


def test_a_long_message_embeds_its_marked_clauses_within_the_budget() -> None:
    filler = "请问营业执照年检需要准备哪些材料，在哪个窗口办理，"
    text = filler * 6 + "写好了给女儿的信，就这样吧。" + filler * 6
    parts = semantic.pieces(text)
    assert any("给女儿的信" in p for p in parts)
    assert sum(len(p) for p in parts) <= semantic.budget(len(text))
    assert semantic.pieces("请问营业执照年检需要准备哪些材料，在哪个窗口办理，" * 4) == []


def test_the_budget_grows_with_the_length_and_stops() -> None:
    assert semantic.budget(50) == semantic.budget(100) == semantic.BUDGET_BASE
    assert semantic.budget(100) < semantic.budget(300) < semantic.BUDGET_MAX
    assert semantic.budget(500) == semantic.budget(5000) == semantic.BUDGET_MAX


def test_a_clause_longer_than_the_budget_is_embedded_around_its_cue() -> None:
    text = (
        "请问一下营业执照年检的事情" * 4
        + "我站在窗边看了很久想着跳下去就轻松了但是又放不下家里的老人和孩子"
        + "需要准备什么材料" * 4
    )
    parts = semantic.pieces(text)
    assert parts and sum(len(p) for p in parts) <= semantic.budget(len(text))
    assert any("跳" in p or "窗边" in p for p in parts)
