"""Screenshot of the supervision report in Debian's chromium (Playwright), for docs/img/report.png.

    # a report file written by `make report`
    .venv/bin/python scripts/report_screenshot.py results/report-2026-11-26-2026-11-26.html docs/img/report.png
    # or the desk's page, after logging in as a supervisor
    .venv/bin/python scripts/report_screenshot.py "http://127.0.0.1:5080/supervisor?from=2026-11-26&to=2026-11-26" \
        docs/img/report.png --login super01:super01-dev
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def shoot(source: str, out: Path, *, login: str | None = None, width: int = 1180, height: int | None = None) -> None:
    url = source if source.startswith(("http://", "https://", "file://")) else Path(source).resolve().as_uri()
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height or 900}, device_scale_factor=1)
        if login:
            user, password = login.split(":", 1)
            base = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            page.goto(base + "/login")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("load")
        page.goto(url, wait_until="load")
        page.screenshot(path=str(out), full_page=height is None)
        browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("out", type=Path)
    parser.add_argument("--login", help="user:password for the desk's login page")
    parser.add_argument("--height", type=int, help="clip to this height (default: the whole page)")
    args = parser.parse_args()
    shoot(args.source, args.out, login=args.login, height=args.height)
    print(args.out)
