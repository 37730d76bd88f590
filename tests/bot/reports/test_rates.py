"""A rate with its n, and 样本不足 below 30 (bot/reports/rates.py), the same on the page and in the CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.reports.csv import csv_rows
from bot.reports.figures import compute
from bot.reports.html import render_html
from bot.reports.rates import INSUFFICIENT, MIN_N, Rate, rate, ratio
from tests.bot.reports.conftest import NOW, T0, audit, inbound


def test_below_30_it_says_too_few_at_30_the_percentage() -> None:
    assert MIN_N == 30 and INSUFFICIENT == "样本不足"
    at_29, at_30 = Rate(ratio(20, 29), 29), Rate(ratio(20, 30), 30)
    assert (at_29.enough, at_29.short, at_29.cell, str(at_29)) == (False, "样本不足", "样本不足", "样本不足（n=29）")
    assert (at_30.enough, at_30.short, at_30.cell, str(at_30)) == (True, "66.7%", 0.6667, "66.7%（n=30）")
    assert rate(ratio(20, 30), 30) == "66.7%（n=30）" and rate(ratio(20, 29), 29) == "样本不足（n=29）"
    assert str(Rate(None, 0)) == "样本不足（n=0）" and Rate(None, 0).cell == "样本不足"
    assert str(Rate(1.0, 1000)) == "100.0%（n=1000）"


@pytest.mark.parametrize(
    ("answered", "shown", "cell"), [(29, "样本不足（n=29）", "样本不足"), (30, "100.0%（n=30）", 1.0)]
)
def test_the_report_applies_it_at_29_and_30(db_url: str, answered: int, shown: str, cell: object) -> None:
    for i in range(answered):  # one citizen each, each answered
        at = T0 + timedelta(minutes=i)
        audit(f"c{i}", at, "utter_faq/passport_apply")
        inbound(f"c{i}", at, "faq/passport_apply", text="护照怎么办")
    fig = compute(db_url, T0.date(), T0.date(), now=NOW)
    assert (fig.outcomes.overall.solved, fig.outcomes.overall.solved_rate) == (answered, 1.0)  # the ratio is kept
    page = render_html(fig)
    assert f"机器人独立解决率 {shown}。" in page
    assert f"<b>{shown.split('（')[0]}</b><span>机器人独立解决率</span><small>n={answered}</small>" in page
    rows = csv_rows(fig)
    assert ["outcomes", "", "", "solved_rate", cell] in rows and ["outcomes", "", "", "solved_rate_n", answered] in rows
    assert ["containment", "", "", "rate", cell] in rows  # every rate, the old ones too
