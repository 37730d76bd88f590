"""The supervisor page of the desk: the supervision report (bot/reports/) for a date range.

    GET /supervisor?from=YYYY-MM-DD&to=YYYY-MM-DD   the report (HTML, charts inline)
    GET /supervisor/report.csv?from=...&to=...      the same figures as CSV (UTF-8 with BOM)
    GET /supervisor/report.css                      its style sheet (the desk's CSP allows no inline style)

The page and the CSV are bot/reports' own, so the desk shows the figures exactly as the files do:
every outcome's count beside 独立解决率, each rate with its n (样本不足 below 30), and the
conversations that ended not understood at /supervisor#not-understood.

Login as for the rest of the desk (console session or bearer token; the auth middleware
decides) and the supervisor role: agents see their queue, supervisors the whole service.
Without dates: the last 7 days. A range is at most 366 days, so one request cannot tie up the
desk for long.
"""

from __future__ import annotations

import asyncio
import html
from datetime import date, timedelta

from aiohttp import web

from bot.desk.auth import identity
from bot.reports.csv import to_csv
from bot.reports.figures import compute
from bot.reports.html import CSS, render_html
from bot.reports.records import default_range

MAX_DAYS = 366


class _BadRange(ValueError):
    pass


def _range(request: web.Request) -> tuple[date, date]:
    default_start, default_end = default_range()
    try:
        start = date.fromisoformat(request.query["from"]) if request.query.get("from") else None
        end = date.fromisoformat(request.query["to"]) if request.query.get("to") else None
    except ValueError as exc:
        raise _BadRange("日期格式应为 YYYY-MM-DD") from exc
    end = end or (start + timedelta(days=6) if start else default_end)
    start = start or (end - timedelta(days=6) if request.query.get("to") else default_start)
    if start > end:
        raise _BadRange("起始日期晚于截止日期")
    if (end - start).days >= MAX_DAYS:
        raise _BadRange(f"统计期间不能超过{MAX_DAYS}天")
    return start, end


def _page(status: int, title: str, message: str) -> web.Response:
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>监督报告</title>'
        '<link rel="stylesheet" href="/supervisor/report.css"></head><body class="report"><main>'
        f"<section><h2>{html.escape(title)}</h2><p>{html.escape(message)}</p>"
        '<p><a href="/supervisor">最近7天的报告</a> · <a href="/">返回工作台</a></p></section></main></body></html>'
    )
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


def _allowed(request: web.Request) -> bool:
    return identity(request).role == "supervisor"


async def report_page(request: web.Request) -> web.Response:
    if not _allowed(request):
        return _page(403, "无权查看", "监督报告仅对监督员（supervisor）账号开放。")
    try:
        start, end = _range(request)
    except _BadRange as exc:
        return _page(400, "日期有误", str(exc))

    def build() -> str:
        fig = compute(None, start, end)
        query = f"from={start.isoformat()}&to={end.isoformat()}"
        return render_html(
            fig,
            css_href="/supervisor/report.css",
            form_action="/supervisor",
            csv_href=f"/supervisor/report.csv?{query}",
        )

    page = await asyncio.to_thread(build)
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"})


async def report_csv(request: web.Request) -> web.Response:
    if not _allowed(request):
        return _page(403, "无权查看", "监督报告仅对监督员（supervisor）账号开放。")
    try:
        start, end = _range(request)
    except _BadRange as exc:
        return _page(400, "日期有误", str(exc))
    fig = await asyncio.to_thread(compute, None, start, end)
    name = f"report-{start.isoformat()}-{end.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + to_csv(fig)).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def report_css(request: web.Request) -> web.Response:
    return web.Response(text=CSS, content_type="text/css", charset="utf-8", headers={"Cache-Control": "max-age=3600"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/supervisor", report_page)
    app.router.add_get("/supervisor/report.csv", report_csv)
    app.router.add_get("/supervisor/report.css", report_css)
