"""Screenshot of a rendered report (or any page) in Debian's chromium, for docs/img/report.png.

.venv/bin/python scripts/report_screenshot.py results/report-2026-11-26-2026-11-26.html docs/img/report.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def shoot(source: str, out: Path, width: int = 1180, full_page: bool = True) -> None:
    url = source if source.startswith(("http://", "https://", "file://")) else Path(source).resolve().as_uri()
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
        page.goto(url, wait_until="load")
        page.screenshot(path=str(out), full_page=full_page)
        browser.close()


if __name__ == "__main__":
    shoot(sys.argv[1], Path(sys.argv[2]))
    print(sys.argv[2])
