"""Desk process entry point: `python -m bot.desk` (started by `python -m bot.ops.launch desk`)."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from bot.core.privacy import install_logging_filter
from bot.desk import users
from bot.desk.app import create_app
from bot.infra import settings

log = logging.getLogger("bot.desk")


def main() -> None:
    cfg = settings.load()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_logging_filter()
    accounts = users.load()
    if not accounts:
        log.warning("no agent accounts in %s: add one with `python -m bot.desk.users add NAME`", users.users_file())
    weak = users.dev_password_in_use()
    if weak and cfg.production:
        sys.exit("refusing to start the desk in production: development passwords still work for " + ", ".join(weak))
    if weak:
        log.info("development accounts in use (production would refuse): %s", ", ".join(weak))
    web.run_app(create_app(cfg), host=cfg.host, port=cfg.desk_port, access_log=None, shutdown_timeout=5)


if __name__ == "__main__":
    main()
