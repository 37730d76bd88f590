"""Start-up checks: in production (APP_ENV=production) a process refuses to start on unsafe
settings, naming the setting. Development (the default for `make run`) only warns."""

from __future__ import annotations

import logging
import sys

from bot import settings

log = logging.getLogger(__name__)


def problems(cfg: settings.Settings, process: str) -> list[str]:
    out: list[str] = []
    if cfg.desk_api_token in ("", settings.DEV_DESK_API_TOKEN):
        out.append("DESK_API_TOKEN is empty or the development default")
    if cfg.desk_secret_key in ("", settings.DEV_SECRET_KEY):
        out.append("DESK_SECRET_KEY is empty or the development default")
    if "*" in cfg.cors_origins:
        out.append("CORS_ORIGINS must list the city's sites, not '*'")
    if not cfg.redis_url:
        out.append("REDIS_URL must point at the production Redis (with a password)")
    elif "@" not in cfg.redis_url or not (cfg.redis_url.split("@")[0].rsplit(":", 1)[-1]):
        out.append("REDIS_URL has no password")
    if not cfg.database_url or cfg.database_url.startswith("sqlite"):
        out.append("DATABASE_URL must point at PostgreSQL")
    if process == "rasa" and not cfg.rasa_auth_token:
        out.append("RASA_AUTH_TOKEN is required so that Rasa's HTTP API is not open")
    if cfg.wechat_appid and (cfg.wechat_token in ("", settings.DEV_WECHAT_TOKEN) or not cfg.wechat_appsecret):
        out.append("WECHAT_TOKEN / WECHAT_APPSECRET are missing or development defaults")
    if cfg.telegram_token and cfg.telegram_secret_token in ("", settings.DEV_TELEGRAM_SECRET):
        out.append("TELEGRAM_SECRET_TOKEN is missing or the development default")
    return out


def check_or_exit(cfg: settings.Settings, process: str) -> None:
    found = problems(cfg, process)
    if not found:
        return
    if cfg.production:
        for p in found:
            log.critical("refusing to start %s in production: %s", process, p)
        sys.exit(f"refusing to start {process} in production: " + "; ".join(found))
    if process in ("rasa", "desk"):
        log.info("development settings in use (fine locally; production would refuse): %d items", len(found))
