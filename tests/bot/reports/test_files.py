"""The report's two files (bot/reports/files.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bot.reports.figures import compute
from bot.reports.files import write
from tests.bot.reports.conftest import T0, inbound


def test_html_and_csv_carry_the_figures(db_url: str, tmp_path: Path) -> None:
    inbound("a", T0, "nlu_fallback", text="我的电话是13812345678，养犬登记在哪")
    fig = compute(db_url, T0.date(), T0.date())
    html_path, csv_path = write(fig, tmp_path)
    assert html_path.name == "report-2026-11-24-2026-11-24.html"
    page = html_path.read_text(encoding="utf-8")
    assert "智能服务监督报告" in page and "口径说明" in page and "满意率" in page
    assert page.count('src="data:image/png;base64,') >= 2  # charts are inline: the file stands alone
    assert "13812345678" not in page and "138****5678" in page
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["section", "dimension", "key", "metric", "value"]
    assert ["unanswered", "", "", "total", "1"] in rows
    # no person joined (containment 1 of 1), but nobody was answered either: not solved
    assert ["containment", "", "", "rate", "样本不足"] in rows and ["containment", "", "", "rate_n", "1"] in rows
    assert ["outcomes", "", "", "solved", "0"] in rows
    assert ["outcomes", "outcome", "not_understood", "conversations", "1"] in rows
    assert ["not_understood", "group", "1", "example", "我的电话是138****5678，养犬登记在哪"] in rows
