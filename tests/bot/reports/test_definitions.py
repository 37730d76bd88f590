"""口径说明 (bot/reports/definitions.py): one definition per term, for every figure group."""

from __future__ import annotations

from bot.reports.conversations import GAP
from bot.reports.definitions import DEFINITIONS
from bot.reports.outcomes import OUTCOME_LABELS, PRECEDENCE, SOLVED, Outcome
from bot.reports.rates import MIN_N


def test_every_term_is_defined_once() -> None:
    terms = [d.term for d in DEFINITIONS]
    assert len(terms) == len(set(terms)) == 16
    assert all(d.meaning.endswith("。") for d in DEFINITIONS)
    for term in ("会话", "会话结果", "机器人独立解决率", "转人工率", "样本不足", "SLA 按时", "坐席用时", "参评率",
                 "满意率", "劝导分流", "危机转介", "拦截回复", "未能回答的问题", "未能理解的会话"):  # fmt: skip
        assert term in terms


def test_every_outcome_is_defined_in_the_order_of_precedence() -> None:
    meaning = next(d.meaning for d in DEFINITIONS if d.term == "会话结果")
    places = [meaning.index(OUTCOME_LABELS[o] + "：") for o in PRECEDENCE]
    assert places == sorted(places) and len(PRECEDENCE) == 7
    solved = next(d.meaning for d in DEFINITIONS if d.term == "机器人独立解决率")
    assert all(OUTCOME_LABELS[o] in solved for o in SOLVED)
    assert OUTCOME_LABELS[Outcome.NOT_UNDERSTOOD] not in solved


def test_the_sample_size_and_the_rating_bases_are_the_ones_printed() -> None:
    defs = {d.term: d.meaning for d in DEFINITIONS}
    assert f"n 小于{MIN_N}时不显示百分比" in defs["样本不足"]
    assert "只在邀请过评价的会话与工单中计算" in defs["参评率"] and "不计入分母" in defs["参评率"]
    assert "已评价的工单（n）" in defs["满意率"]


def test_the_conversation_gap_is_the_one_printed() -> None:
    meaning = next(d.meaning for d in DEFINITIONS if d.term == "会话")
    assert f"不超过{int(GAP.total_seconds() // 60)}分钟" in meaning
