"""The report's charts (bot/reports/charts.py): PNGs inline, Chinese labels when a font has them."""

from __future__ import annotations

import base64

from bot.reports.charts import Charts, Segment, cjk_font

PNG = b"\x89PNG\r\n\x1a\n"


def _png(uri: str) -> bytes:
    head, _, data = uri.partition(",")
    assert head == "data:image/png;base64"
    return base64.b64decode(data)


def test_each_chart_is_a_png_data_uri() -> None:
    ch = Charts()
    hours = {"rest": [0] * 10 + [3, 2] + [0] * 12, "wechat": [1] * 24}
    for uri in (
        ch.hbar(["甲", "乙"], [3, 1], "标题"),
        ch.hbar([], [], "空"),
        ch.stacked_hours(hours, {"rest": "网页接口"}, "各时段"),
        ch.stacked_hours({}, {}, "无会话"),
        ch.stacked_states([("部门", {"kept": 2, "missed": 1})], [Segment("kept", "按时", "#2e7d32"),
                                                                 Segment("missed", "超时", "#c62828")], "SLA"),
    ):  # fmt: skip
        assert _png(uri).startswith(PNG)


def test_labels_fall_back_to_latin_without_a_chinese_font() -> None:
    assert Charts(None, detect=False).label("按时", "kept") == "kept"
    assert not Charts(None, detect=False).zh
    font = cjk_font()
    assert Charts().label("按时", "kept") == ("按时" if font else "kept")
