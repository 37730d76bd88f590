"""All configuration, from the environment, in one place.

Every process (Rasa server and its channels, action server, desk, scripts) reads its settings
here and nowhere else. `.env.example` documents each name with its development default.
Production checks (refusing to start on unsafe settings) live in `bot.infra.production`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
DATA = ROOT / "data"

# Development defaults. Production refuses to start while any of these is still in use.
DEV_DESK_API_TOKEN = "dev-desk-token-change-me"  # noqa: S105 - documented development default
DEV_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105
DEV_WECHAT_TOKEN = "dev-wechat-token"  # noqa: S105
DEV_TELEGRAM_SECRET = "dev-telegram-secret"  # noqa: S105


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


def _list(name: str, default: str = "") -> list[str]:
    return [p.strip() for p in _env(name, default).split(",") if p.strip()]


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    # processes and ports (CONTRACT.md)
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    desk_port: int = 5080
    redis_port: int = 6379
    rasa_url: str = "http://127.0.0.1:5005"
    action_url: str = "http://127.0.0.1:5055/webhook"
    rasa_auth_token: str = ""
    # the action server listens here only (private: Rasa is its one client); empty: BIND_HOST
    action_host: str = "127.0.0.1"
    # every Rasa process `make ship` loads a new model into (empty: rasa_url only)
    rasa_urls: list[str] = field(default_factory=list)
    # state
    redis_url: str = ""
    database_url: str = ""
    # a managed Redis that forbids CONFIG: the operator confirmed AOF everysec + noeviction
    redis_persistence_checked: bool = False
    # desk
    desk_api_token: str = DEV_DESK_API_TOKEN
    desk_secret_key: str = DEV_SECRET_KEY
    desk_users_file: str = ""
    desk_session_hours: float = 12.0
    # a handed-off conversation returns to the bot after this long without agent activity
    handoff_ttl_hours: float = 168.0
    cors_origins: list[str] = field(default_factory=list)
    # WeChat 公众号
    wechat_token: str = DEV_WECHAT_TOKEN
    wechat_appid: str = ""
    wechat_appsecret: str = ""
    wechat_aes_key: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com/cgi-bin/"
    wechat_reply_budget_s: float = 4.0
    wechat_customer_service: bool = True
    # Telegram
    telegram_token: str = ""
    telegram_secret_token: str = DEV_TELEGRAM_SECRET
    telegram_api_base: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str = ""
    telegram_polling_timeout_s: int = 25
    # web chat: session signatures (empty: derived from DESK_SECRET_KEY), history kept for reloads
    webchat_secret: str = ""
    webchat_history_days: int = 7
    # limits
    rate_limit_per_minute: int = 20
    max_message_chars: int = 500
    max_body_bytes: int = 64 * 1024
    http_timeout_s: float = 5.0
    # Rasa -> action server: the whole tracker is sent (private, so a larger cap), and a timeout
    action_max_body_bytes: int = 16 * 1024 * 1024
    action_timeout_s: float = 30.0
    # forwarding to an external ticketing system (optional per city)
    forward_url: str = ""
    forward_token: str = ""
    forward_timeout_s: float = 10.0
    forward_max_backoff_s: float = 3600.0
    # retention (days) — 个人信息保护法: kept no longer than needed
    retention_tracker_days: int = 30
    retention_ticket_days: int = 365 * 3
    retention_audit_days: int = 365
    # model and content
    model_dir: str = str(ROOT / "models")
    city_file: str = str(DATA / "city.yml")
    topics_file: str = str(DATA / "topics.yml")
    domain_file: str = str(ROOT / "domain.yml")
    responses_dir: str = str(DATA / "responses")
    log_level: str = "INFO"

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{VAR / 'hotline.db'}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"


# (the environment as it was read, the settings read from it): load() runs several times per
# message (0.13 ms each, profiled); reading it again only when the environment changed keeps
# "the environment now" exact (tests change it between cases) for the price of one dict compare
_cached: tuple[dict[bytes, bytes], Settings] | None = None


def load() -> Settings:
    """The settings from the environment as it is now."""
    global _cached
    env = getattr(os.environ, "_data", None)  # CPython's raw mapping behind os.environ
    cached = _cached
    if env is not None and cached is not None and cached[0] == env:
        return cached[1]
    snapshot = dict(env) if env is not None else {}
    result = _read()
    if env is not None:
        _cached = (snapshot, result)
    return result


def _read() -> Settings:
    rasa_port = _int("RASA_PORT", 5005)
    action_port = _int("ACTION_PORT", 5055)
    return Settings(
        app_env=_env("APP_ENV", "development"),
        host=_env("BIND_HOST", "127.0.0.1"),
        rasa_port=rasa_port,
        action_port=action_port,
        desk_port=_int("DESK_PORT", 5080),
        redis_port=_int("REDIS_PORT", 6379),
        rasa_url=_env("RASA_URL", f"http://127.0.0.1:{rasa_port}"),
        action_url=_env("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{action_port}/webhook"),
        rasa_auth_token=_env("RASA_AUTH_TOKEN"),
        action_host=_env("ACTION_BIND_HOST") or _env("BIND_HOST", "127.0.0.1"),
        rasa_urls=_list("RASA_URLS"),
        redis_url=_env("REDIS_URL"),
        database_url=_env("DATABASE_URL"),
        redis_persistence_checked=_env("REDIS_PERSISTENCE_CHECKED").lower() == "true",
        desk_api_token=_env("DESK_API_TOKEN", DEV_DESK_API_TOKEN),
        desk_secret_key=_env("DESK_SECRET_KEY", DEV_SECRET_KEY),
        desk_users_file=_env("DESK_USERS_FILE", str(ROOT / "config" / "desk_users.yml")),
        desk_session_hours=_float("DESK_SESSION_HOURS", 12.0),
        handoff_ttl_hours=_float("HANDOFF_TTL_HOURS", 168.0),
        cors_origins=_list("CORS_ORIGINS"),
        wechat_token=_env("WECHAT_TOKEN", DEV_WECHAT_TOKEN),
        wechat_appid=_env("WECHAT_APPID"),
        wechat_appsecret=_env("WECHAT_APPSECRET"),
        wechat_aes_key=_env("WECHAT_AES_KEY"),
        wechat_api_base=_env("WECHAT_API_BASE", "https://api.weixin.qq.com/cgi-bin/"),
        wechat_reply_budget_s=_float("WECHAT_REPLY_BUDGET_S", 4.0),
        wechat_customer_service=_env("WECHAT_CUSTOMER_SERVICE", "true").lower() != "false",
        telegram_token=_env("TELEGRAM_TOKEN"),
        telegram_secret_token=_env("TELEGRAM_SECRET_TOKEN", DEV_TELEGRAM_SECRET),
        telegram_api_base=_env("TELEGRAM_API_BASE", "https://api.telegram.org/bot"),
        telegram_webhook_url=_env("TELEGRAM_WEBHOOK_URL"),
        telegram_polling_timeout_s=_int("TELEGRAM_POLLING_TIMEOUT_S", 25),
        webchat_secret=_env("WEBCHAT_SECRET"),
        webchat_history_days=_int("WEBCHAT_HISTORY_DAYS", 7),
        rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", 20),
        max_message_chars=_int("MAX_MESSAGE_CHARS", 500),
        max_body_bytes=_int("MAX_BODY_BYTES", 64 * 1024),
        http_timeout_s=_float("HTTP_TIMEOUT_S", 5.0),
        action_max_body_bytes=_int("ACTION_MAX_BODY_BYTES", 16 * 1024 * 1024),
        action_timeout_s=_float("ACTION_TIMEOUT_S", 30.0),
        forward_url=_env("FORWARD_URL"),
        forward_token=_env("FORWARD_TOKEN"),
        forward_timeout_s=_float("FORWARD_TIMEOUT_S", 10.0),
        forward_max_backoff_s=_float("FORWARD_MAX_BACKOFF_S", 3600.0),
        retention_tracker_days=_int("RETENTION_TRACKER_DAYS", 30),
        retention_ticket_days=_int("RETENTION_TICKET_DAYS", 365 * 3),
        retention_audit_days=_int("RETENTION_AUDIT_DAYS", 365),
        model_dir=_env("MODEL_DIR", str(ROOT / "models")),
        city_file=_env("CITY_FILE", str(DATA / "city.yml")),
        log_level=_env("LOG_LEVEL", "INFO"),
    )
