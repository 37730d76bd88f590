"""The command line (python -m bot.reports, bot/reports/__main__.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.reports import __main__ as cli
from tests.bot.reports.conftest import T0, inbound


def test_the_command_writes_the_report(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbound("a", T0)
    assert (
        cli.main(["--from", "2026-11-24", "--to", "2026-11-24", "--out", str(tmp_path), "--database-url", db_url]) == 0
    )
    assert (tmp_path / "report-2026-11-24-2026-11-24.html").exists()
    assert (tmp_path / "report-2026-11-24-2026-11-24.csv").exists()
    assert "会话 1" in capsys.readouterr().out


def test_a_range_the_wrong_way_round_is_refused(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--from", "2026-11-25", "--to", "2026-11-24", "--out", str(tmp_path), "--database-url", db_url])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["--from", "24.11.2026", "--database-url", db_url])


def test_only_to_means_the_seven_days_up_to_it(db_url: str, tmp_path: Path) -> None:
    assert cli.main(["--to", "2026-11-24", "--out", str(tmp_path), "--database-url", db_url]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report-2026-11-18-2026-11-24.csv",
        "report-2026-11-18-2026-11-24.html",
    ]


def test_python_dash_m_bot_reports(db_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.reports", "--from", "2026-11-24", "--to", "2026-11-24", "--out", str(tmp_path),
         "--database-url", db_url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "会话 0" in done.stdout and (tmp_path / "report-2026-11-24-2026-11-24.html").exists()
