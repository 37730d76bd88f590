"""The report as two files: `report-<from>-<to>.html` (charts inline) and `.csv` (every figure)."""

from __future__ import annotations

from pathlib import Path

from bot.reports.csv import to_csv
from bot.reports.figures import Figures
from bot.reports.html import render_html


def stem(fig: Figures) -> str:
    return f"report-{fig.period.first_day.isoformat()}-{fig.period.last_day.isoformat()}"


def write(fig: Figures, out_dir: Path) -> tuple[Path, Path]:
    """Both files in `out_dir` (made if missing); returns their paths, HTML first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, csv_path = out_dir / f"{stem(fig)}.html", out_dir / f"{stem(fig)}.csv"
    html_path.write_text(render_html(fig), encoding="utf-8")
    # UTF-8 with BOM: Excel, which most offices open CSVs with, then reads Chinese correctly
    csv_path.write_text(to_csv(fig), encoding="utf-8-sig")
    return html_path, csv_path
