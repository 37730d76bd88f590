"""The action server (`python -m bot.rasa.action_server`, started by `python -m bot.ops.launch actions`).

rasa-sdk's own `rasa run actions` listens on 0.0.0.0 (or SANIC_HOST) and answers every failure
with the whole request body — the citizen's tracker — in the error response. Its one client is
the Rasa server on the private network, so this entry point:
  - refuses to start on any rasa-sdk but the pinned one (bot/rasa/versions.py);
  - listens on ACTION_BIND_HOST (default BIND_HOST, loopback in development) and nowhere else;
  - sends no CORS headers (no browser ever calls it);
  - caps request bodies at ACTION_MAX_BODY_BYTES: Rasa sends the whole tracker, which outgrows the
    citizen-facing MAX_BODY_BYTES after a long conversation;
  - answers errors with a short JSON message and logs them through the masking filter.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.privacy import install_logging_filter
from bot.infra import settings
from bot.rasa import versions

log = logging.getLogger("bot.rasa.action_server")


def build(cfg: settings.Settings | None = None, actions_package: str = "actions") -> Sanic:
    cfg = cfg or settings.load()
    app = create_app(actions_package, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = cfg.action_max_body_bytes

    async def on_error(request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicException):  # 404, 405, 413 ...: the status says it all
            return response.json({"error": str(exception)}, status=exception.status_code)
        log.error("action server error on %s", request.path, exc_info=exception)
        return response.json({"error": "internal error in the action server"}, status=500)

    # replaces rasa-sdk's handler, which echoes the request body (a citizen's tracker)
    app.exception(Exception)(on_error)
    return app


def main() -> None:
    versions.check_rasa_sdk()
    cfg = settings.load()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    install_logging_filter()
    app = build(cfg)
    run_kwargs: dict[str, Any] = {"access_log": False, "motd": False, "workers": 1}
    log.info("action server on http://%s:%s (private address only)", cfg.action_host, cfg.action_port)
    app.run(host=cfg.action_host, port=cfg.action_port, **run_kwargs)


if __name__ == "__main__":
    main()
