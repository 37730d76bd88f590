"""The unanswered questions grouped for the ops team (bot/reports/questions.py)."""

from __future__ import annotations

from bot.reports.questions import group_questions


def test_unanswered_questions_are_grouped_and_masked() -> None:
    groups = group_questions(
        [
            "小区门口能装个快递柜吗",
            "楼下装个快递柜行不行？",
            "小区里能不能加装快递柜",
            "能不能在我们小区装充电桩",  # shares only the generic 小区 with the parcel lockers
            "小区能装电动车充电桩吗",
            "养犬登记",
            "我电话13812345678 养犬登记在哪",
            "路边停车怎么收费",
        ]
    )
    found = sorted((g.count, list(g.keywords)) for g in groups)
    assert found == [(1, []), (2, ["充电"]), (2, ["养犬", "登记"]), (3, ["快递"])]
    assert groups[0].count == 3  # largest first
    assert list(groups[0].variants) == ["小区门口能装个快递柜吗", "楼下装个快递柜行不行？", "小区里能不能加装快递柜"]
    assert all("13812345678" not in v for g in groups for v in g.variants)
    assert any("我电话138****5678 养犬登记在哪" in g.variants for g in groups)


def test_the_same_wording_is_one_group_whatever_the_punctuation() -> None:
    groups = group_questions(["地铁几号线到火车站", "地铁几号线到火车站？", "  ", "？？"])
    assert [(g.count, g.example) for g in groups] == [(2, "地铁几号线到火车站"), (1, "？？")]  # a blank is no question
    assert len(group_questions([f"问题{i}号" for i in range(30)], top=20)) == 20  # at most `top`
