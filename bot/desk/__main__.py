"""Desk process entry point: `python -m bot.desk` (started by `python -m bot.launch desk`)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot import settings
from bot.desk.app import create_app
from bot.privacy import install_logging_filter


def main() -> None:
    cfg = settings.load()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_logging_filter()
    web.run_app(create_app(cfg), host=cfg.host, port=cfg.desk_port, access_log=None)


if __name__ == "__main__":
    main()
