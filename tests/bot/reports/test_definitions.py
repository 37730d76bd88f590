"""口径说明 (bot/reports/definitions.py): one definition per term, for every figure group."""

from __future__ import annotations

from bot.reports.conversations import GAP
from bot.reports.definitions import DEFINITIONS


def test_every_term_is_defined_once() -> None:
    terms = [d.term for d in DEFINITIONS]
    assert len(terms) == len(set(terms)) == 12
    assert all(d.meaning.endswith("。") for d in DEFINITIONS)
    for term in ("会话", "机器人独立解决率", "SLA 按时", "坐席用时", "参评率", "满意率", "劝导分流", "危机转介",
                 "拦截回复", "未能回答的问题"):  # fmt: skip
        assert term in terms


def test_the_conversation_gap_is_the_one_printed() -> None:
    meaning = next(d.meaning for d in DEFINITIONS if d.term == "会话")
    assert f"不超过{int(GAP.total_seconds() // 60)}分钟" in meaning
