"""The supervision report from the command line (`make report FROM=... TO=...`):

    python -m bot.reports --from 2026-11-01 --to 2026-11-30 [--out results] [--database-url URL]

writes `report-<from>-<to>.html` and `.csv` into --out and prints their paths and a summary.
Without dates: the last 7 days, today included (city time zone).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date, timedelta
from pathlib import Path

from bot.infra import db, settings
from bot.reports.figures import compute
from bot.reports.files import write
from bot.reports.rates import Rate
from bot.reports.records import default_range


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.reports", description="监督评价报告：HTML（含图表）与 CSV")
    parser.add_argument("--from", dest="start", type=_day, help="起始日期 YYYY-MM-DD（默认：6天前）")
    parser.add_argument("--to", dest="end", type=_day, help="截止日期 YYYY-MM-DD（含当日，默认：今天）")
    parser.add_argument("--out", type=Path, default=settings.ROOT / "results", help="输出目录（默认 results/）")
    parser.add_argument("--database-url", default=None, help="默认取 DATABASE_URL")
    args = parser.parse_args(argv)
    start, end = default_range()
    start, end = args.start or (args.end - timedelta(days=6) if args.end else start), args.end or end
    if start > end:
        parser.error("--from 晚于 --to")
    logging.basicConfig(level=logging.WARNING)
    url = args.database_url or settings.load().sqlalchemy_url
    db.migrate(url)
    fig = compute(url, start, end)
    html_path, csv_path = write(fig, args.out)
    o, s = fig.outcomes.overall, fig.satisfaction
    sys.stdout.write(
        f"{html_path}\n{csv_path}\n"
        f"会话 {fig.volume.conversations} · 工单 {fig.tickets.total} · "
        f"独立解决率 {Rate(o.solved_rate, o.conversations)} · 参评率 {Rate(s.participation, s.offered)}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
