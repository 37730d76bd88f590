"""The supervisor page of the desk (bot/desk/supervisor.py): who may see it, what it shows."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from bot.core import city, tickets
from bot.infra import db
from tests.bot.desk.conftest import Client


def _today() -> str:
    return datetime.now(city.timezone()).date().isoformat()


def _record_a_day() -> None:
    """A report and a citizen message, written by the product's own functions."""
    tickets.create(
        idempotency_key="sup-1",
        channel="rest",
        sender_id="s1",
        topic="report_noise",
        summary="噪音扰民",
        reason="report",
    )
    with db.session() as s:
        s.add(
            db.InboundRecord(channel="rest", sender_id="s1", text="楼上装修太吵 电话13812345678", intent="report_noise")
        )


async def test_the_report_needs_a_login(console: Client) -> None:
    async with console.session.get(console.base + "/supervisor", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/login"


async def test_agents_cannot_see_it_supervisors_can(console: Client) -> None:
    _record_a_day()
    assert await console.login("agent01") == 302
    async with console.session.get(console.base + "/supervisor") as r:
        assert r.status == 403 and "监督员" in await r.text()
    async with console.session.post(
        console.base + "/logout", headers={"X-CSRF-Token": console.csrf}, allow_redirects=False
    ):
        pass
    assert await console.login("boss") == 302
    async with console.session.get(console.base + "/supervisor") as r:
        page = await r.text()
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    assert "智能服务监督报告" in page
    assert f'name="to" value="{_today()}"' in page  # the last 7 days, today included
    assert 'src="data:image/png;base64,' in page  # charts inline (the CSP allows data: images)
    assert '<link rel="stylesheet" href="/supervisor/report.css">' in page and "<style>" not in page  # no inline style
    assert "<b>1</b><span>会话</span>" in page and "<b>1</b><span>工单</span>" in page
    assert "13812345678" not in page
    # every outcome's count beside 独立解决率, which one conversation is too few to give as a percentage
    flat = page.replace("\n", "")
    assert '<td>登记工单</td><td class="n">1</td>' in flat and '<a href="#not-understood">未能理解</a>' in flat
    assert "<b>样本不足</b><span>机器人独立解决率</span><small>n=1</small>" in page
    assert '<section id="not-understood">' in page
    async with console.session.get(console.base + "/supervisor/report.css") as r:
        assert r.status == 200 and r.content_type == "text/css" and "body.report" in await r.text()


async def test_csv_export_with_the_service_token(api: Client) -> None:
    _record_a_day()
    today = _today()
    async with api.session.get(f"{api.base}/supervisor/report.csv?from={today}&to={today}", headers=api.headers()) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert r.headers["Content-Disposition"] == f'attachment; filename="report-{today}-{today}.csv"'
        raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert ["tickets", "", "", "total", "1"] in rows
    assert ["tickets", "department", "ecology_environment", "count", "1"] in rows
    assert ["volume", "", "", "conversations", "1"] in rows
    assert ["outcomes", "outcome", "ticket_filed", "conversations", "1"] in rows
    assert ["outcomes", "", "", "solved_rate", "样本不足"] in rows and [
        "outcomes",
        "",
        "",
        "solved_rate_n",
        "1",
    ] in rows
    assert ["not_understood", "", "", "conversations", "0"] in rows


async def test_a_range_before_the_records_is_empty_and_bad_ranges_are_refused(api: Client) -> None:
    _record_a_day()
    old = (datetime.now(city.timezone()).date() - timedelta(days=30)).isoformat()
    async with api.session.get(f"{api.base}/supervisor?from={old}&to={old}", headers=api.headers()) as r:
        assert r.status == 200 and "<b>0</b><span>工单</span>" in await r.text()
    for query, why in (
        ("from=2026-13-01", "日期格式"),
        ("from=2026-11-20&to=2026-11-01", "晚于"),
        ("from=2024-01-01&to=2026-01-01", "不能超过"),
    ):
        async with api.session.get(f"{api.base}/supervisor?{query}", headers=api.headers()) as r:
            assert r.status == 400 and why in await r.text()
