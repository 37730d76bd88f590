"""The CSV of the report (bot/reports/csv.py): every figure, one per row."""

from __future__ import annotations

import csv
import io
from collections import Counter

from bot.reports.csv import HEADER, csv_rows, to_csv
from bot.reports.figures import compute
from tests.bot.reports.conftest import NOW, T0, Day


def _rows(db_url: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(to_csv(compute(db_url, T0.date(), T0.date(), now=NOW)))))


def test_every_group_has_its_rows(known_day: Day, db_url: str) -> None:
    rows = _rows(db_url)
    assert rows[0] == HEADER == ["section", "dimension", "key", "metric", "value"]
    sections = list(dict.fromkeys(r[0] for r in rows[1:]))
    assert sections == ["period", "volume", "outcomes", "containment", "handoffs", "tickets", "sla", "agents",
                        "satisfaction", "deflections", "crisis", "guard", "unanswered", "not_understood"]  # fmt: skip
    for row in (
        ["period", "", "", "generated_at", "2026-11-30T10:00:00+08:00"],
        ["volume", "channel", "wechat", "conversations", "3"],
        ["volume", "hour", "15", "citizen_messages", "1"],
        ["volume", "hour@socketio", "15", "conversations", "1"],
        ["containment", "channel", "rest", "containment", "样本不足"],  # 9 of 11: too few for a rate
        ["containment", "channel", "rest", "containment_n", "11"],
        ["handoffs", "reason", "crisis:self_harm", "count", "1"],
        ["tickets", "priority", "P2", "count", "4"],
        ["tickets", "status", "closed", "count", "3"],
        ["tickets", "kind", "consult", "count", "2"],
        ["sla", "all", "", "kept_rate", "样本不足"],
        ["sla", "all", "", "kept_rate_n", "5"],
        ["sla", "type", "handoff", "missed", "1"],
        ["agents", "all", "", "resolution_mean_min", "43.0"],
        ["agents", "agent", "李娜", "first_response_median_min", ""],  # none: an empty cell
        ["satisfaction", "tickets", "", "基本满意", "1"],
        ["satisfaction", "topic/answers", "faq/shebao_card_apply", "helpful", "样本不足"],
        ["satisfaction", "topic/answers", "faq/shebao_card_apply", "helpful_n", "1"],
        ["satisfaction", "department/tickets", "hotline", "satisfaction", "样本不足"],
        ["satisfaction", "department/tickets", "hotline", "satisfaction_n", "2"],
        ["deflections", "category", "out_of_scope", "conversations", "2"],
        ["crisis", "ticket", known_day.crisis, "sla", "kept"],
        ["guard", "reason", "含禁用表述", "blocked", "1"],
        ["unanswered", "group", "1", "keywords", "快递"],
    ):
        assert row in rows, row


def test_personal_data_and_comments_stay_out(known_day: Day, db_url: str) -> None:
    text = "\n".join(",".join(r) for r in _rows(db_url))
    assert "13812345678" not in text and "138****5678" in text  # the unanswered question, masked
    assert "<script>" not in text and "D" not in {r[2] for r in _rows(db_url)}  # no comment, no sender id


def test_an_empty_range_has_the_totals(db_url: str) -> None:
    rows = csv_rows(compute(db_url, T0.date(), T0.date(), now=NOW))
    assert ["containment", "", "", "rate", "样本不足"] in rows and ["tickets", "", "", "total", 0] in rows
    assert ["outcomes", "", "", "solved_rate", "样本不足"] in rows and ["outcomes", "", "", "solved_rate_n", 0] in rows
    assert ["sla", "all", "", "kept", 0] in rows
    # the totals, the 24 hours, every priority and status, the overall SLA and ratings, every
    # outcome and every way of not being understood; each rate with its n
    assert Counter(r[0] for r in rows[1:]) == {
        "period": 3, "volume": 4 + 24, "outcomes": 4 + 7, "containment": 7, "handoffs": 1, "tickets": 3 + 3 + 3,
        "sla": 5, "agents": 8, "satisfaction": 4 + 8 + 9, "deflections": 1, "crisis": 3, "guard": 4,
        "unanswered": 3, "not_understood": 1 + 5,
    }  # fmt: skip
