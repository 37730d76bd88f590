"""The report page (bot/reports/html.py, templates/report.html): what it shows, escaped."""

from __future__ import annotations

import re
from typing import Any

from bot.reports.charts import Charts
from bot.reports.definitions import DEFINITIONS
from bot.reports.figures import compute
from bot.reports.html import CSS, dur, pct, render_html
from tests.bot.reports.conftest import NOW, T0, Day

SECTIONS = [
    "服务量",
    "会话结果与机器人独立解决率",
    "工单",
    "办理时限（SLA）",
    "坐席响应与办结用时",
    "满意度与参评率",
    "劝导分流与危机转介",
    "输出安全检查",
    "未能回答的问题（供补充知识库）",
    "未能理解的会话（供受理与知识库改进）",
    "口径说明",
]


def _page(db_url: str, **kwargs: Any) -> str:
    return render_html(compute(db_url, T0.date(), T0.date(), now=NOW), **kwargs)


def test_a_citizens_comment_is_text_not_markup(known_day: Day, db_url: str) -> None:
    page = _page(db_url)
    assert "<script>" not in page  # autoescape: the comment cannot run in a supervisor's browser
    assert page.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 太慢了 电话139****5678") == 2
    assert "13912345678" not in page


def test_the_sections_in_their_order(known_day: Day, db_url: str) -> None:
    page = _page(db_url)
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS
    assert "<h3>按主题</h3>" in page and "<h3>按部门</h3>" in page and "<h3>市民意见（已脱敏）</h3>" in page
    assert page.count('src="data:image/png;base64,') == 5  # every chart has data on this day
    assert [d.term for d in DEFINITIONS] == re.findall(r"<dt>(.*?)</dt>", page)


def test_the_labels_are_the_vocabulary_of_the_desk(known_day: Day, db_url: str) -> None:
    page = _page(db_url)
    # the channel `rest` is 网页接口 on the desk; the report says so too (it said "REST 接口")
    assert "<td>网页接口</td>" in page and "REST 接口" not in page
    assert "<td>微信公众号</td>" in page and "<td>网页聊天</td>" in page
    assert "优先级：P0 危机 1、P1 紧急 0、P2 一般 4" in page
    assert "状态：待认领 2、办理中 0、已办结 3" in page
    assert "类型：咨询 2、投诉 1、求助 1、举报 1" in page
    assert "<td>自伤、自杀或以此相威胁</td><td>P0</td>" in page.replace("\n", "")  # a crisis ticket's row
    assert "<td>已办结</td><td>5.0分钟</td><td>按时</td>" in page.replace("\n", "")


def test_the_figures_in_the_text(known_day: Day, db_url: str) -> None:
    page = _page(db_url)
    # 3 of 16 solved (A confirmed; C's first and O's answered): 16 is too few for a percentage
    assert "<b>16</b><span>会话</span>" in page
    assert "<b>样本不足</b><span>机器人独立解决率</span><small>n=16</small>" in page
    assert (
        "全部 16 次会话中，机器人独立解决 3 次（解答并获确认或解答后未再回复），机器人独立解决率 样本不足（n=16）。"
        in page
    )
    assert "转人工 3 次（含危机转介），转人工率 样本不足（n=16）。" in page
    assert "共 5 张：转人工 3 张，机器人登记诉求 2 张。" in page
    assert "全部工单首次响应中位数 5.0分钟（2 张已响应），办结用时中位数 30.0分钟（3 张已办结）。" in page
    assert "满意 1、基本满意 1、不满意 1，满意率 样本不足（n=3）。" in page
    assert (
        "识别危机消息 2 条（2 次会话；正在发生的紧急险情（火灾、燃气泄漏、人身伤害、违法犯罪） 1、自伤、自杀或以此相威胁 1；识别方式：模型 1、词库 1），生成或升级为危机工单 1 张。"
        in page
    )
    assert "机器人发出回复 13 条，拦截 3 条，均以安全答复代替；拦截率 样本不足（n=13）。" in page
    assert "共 3 条，占机器人处理消息的 样本不足（n=19）。" in page


def test_standalone_or_for_the_desk(known_day: Day, db_url: str) -> None:
    alone = _page(db_url)
    assert "<style>" + CSS in alone and "<form" not in alone and "<link" not in alone
    desk = _page(db_url, css_href="/supervisor/report.css", form_action="/supervisor", csv_href="/x.csv?from=a&to=b")
    assert '<link rel="stylesheet" href="/supervisor/report.css">' in desk and "<style>" not in desk
    assert '<input type="date" name="from" value="2026-11-24">' in desk
    assert '<a href="/x.csv?from=a&amp;to=b">下载 CSV</a>' in desk  # an attribute, escaped


def test_an_empty_range_says_so_in_every_table(db_url: str) -> None:
    page = _page(db_url)
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS
    # every table but the SLA's (its 全部 row is always there) and the outcomes' (every outcome, 0)
    assert page.count("统计期间内没有记录。") == 11
    assert page.count('src="data:image/png;base64,') == 2  # by hour and ratings: drawn even when empty
    assert "市民意见" not in page


def test_without_a_chinese_font_the_charts_say_so(known_day: Day, db_url: str) -> None:
    page = _page(db_url, charts=Charts(None, detect=False))
    assert "本机未安装中文字体，图表标签以英文/编号显示。" in page and "图表字体" not in page
    assert page.count('src="data:image/png;base64,') == 5


def test_rates_and_durations_are_written_for_people() -> None:
    assert (pct(None), pct(0.81254), pct(1.0)) == ("—", "81.3%", "100.0%")
    assert (dur(None), dur(0.5), dur(5), dur(119.9), dur(150)) == ("—", "30秒", "5.0分钟", "119.9分钟", "2.5小时")
