"""All configuration, from the environment, in one place.

Every process (Rasa server and its channels, action server, desk, scripts) reads its settings
here and nowhere else. `.env.example` documents each name with its development default.
Each setting is one field of `Settings`: its variable, its default, and (by the field's type)
how the variable's text is read. Production checks (refusing to start on unsafe settings) live
in `bot.infra.production`.
"""

# ruff: noqa: RUF009 - `_setting` returns a dataclasses.field (with the variable's name), not a shared default

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
DATA = ROOT / "data"

# Development defaults. Production refuses to start while any of these is still in use.
DEV_DESK_API_TOKEN = "dev-desk-token-change-me"  # noqa: S105 - documented development default
DEV_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105
DEV_WECHAT_TOKEN = "dev-wechat-token"  # noqa: S105
DEV_TELEGRAM_SECRET = "dev-telegram-secret"  # noqa: S105


_T = TypeVar("_T")
# a derived default: the value when the variable is not set, from the settings read before it
Derive = Callable[[Mapping[str, Any]], Any]


def _setting(
    env: str,
    default: Any = None,
    *,
    derived: Derive | None = None,
    empty_is_unset: bool = False,
    parse: Callable[[str], Any] | None = None,
) -> Any:
    """A setting read from the variable `env`, by its field's type: text as it is (stripped;
    empty stays empty unless `empty_is_unset`), int and float (empty: the default; anything else
    that is not a number raises ValueError), a comma-separated list, and a switch that only the
    other value spelled out changes ("false" turns a default-on off, "true" a default-off on).
    `parse` replaces the type's rule."""
    meta = {"env": env, "derived": derived, "empty_is_unset": empty_is_unset, "parse": parse}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _derived_defaults(cls: type[_T]) -> type[_T]:
    """A derived setting's own default is its rule applied to the defaults before it (the default
    RASA_URL is the one of the default RASA_PORT), so that each default is written once."""
    defaults: dict[str, Any] = {}
    for name in cls.__annotations__:
        spec = cls.__dict__[name]
        if not isinstance(spec, Field):  # a plain default: not from the environment
            defaults[name] = spec
            continue
        if spec.metadata["derived"] is not None:
            spec.default = spec.metadata["derived"](defaults)
        defaults[name] = _own_default(spec)
    return cls


def _own_default(spec: Field[Any]) -> Any:
    factory = spec.default_factory
    return factory() if callable(factory) else spec.default


def _is_one(raw: str) -> bool:
    return raw == "1"


@dataclass(frozen=True)
@_derived_defaults
class Settings:
    # production: refuse to start on any unsafe setting (bot.infra.production)
    app_env: str = _setting("APP_ENV", "development")
    # processes and ports (CONTRACT.md)
    host: str = _setting("BIND_HOST", "127.0.0.1")
    rasa_port: int = _setting("RASA_PORT", 5005)
    action_port: int = _setting("ACTION_PORT", 5055)
    desk_port: int = _setting("DESK_PORT", 5080)
    redis_port: int = _setting("REDIS_PORT", 6379)
    rasa_url: str = _setting("RASA_URL", derived=lambda s: f"http://127.0.0.1:{s['rasa_port']}")
    action_url: str = _setting("ACTION_ENDPOINT_URL", derived=lambda s: f"http://127.0.0.1:{s['action_port']}/webhook")
    rasa_auth_token: str = _setting("RASA_AUTH_TOKEN", "")
    # the action server listens here only (private: Rasa is its one client); empty: BIND_HOST
    action_host: str = _setting("ACTION_BIND_HOST", derived=lambda s: s["host"], empty_is_unset=True)
    # every Rasa process `make ship` loads a new model into (empty: rasa_url only)
    rasa_urls: list[str] = _setting("RASA_URLS", [])
    # turns one Rasa process runs at once (0: no limit); bot.rasa.tuning
    rasa_max_concurrent_turns: int = _setting("RASA_MAX_CONCURRENT_TURNS", 2, empty_is_unset=True)
    # state
    redis_url: str = _setting("REDIS_URL", "")
    database_url: str = _setting("DATABASE_URL", "")
    # a managed Redis that forbids CONFIG: the operator confirmed AOF everysec + noeviction
    redis_persistence_checked: bool = _setting("REDIS_PERSISTENCE_CHECKED", False)
    # desk
    desk_api_token: str = _setting("DESK_API_TOKEN", DEV_DESK_API_TOKEN)
    desk_secret_key: str = _setting("DESK_SECRET_KEY", DEV_SECRET_KEY)
    desk_users_file: str = _setting("DESK_USERS_FILE", str(ROOT / "config" / "desk_users.yml"))
    desk_session_hours: float = _setting("DESK_SESSION_HOURS", 12.0)
    # a handed-off conversation returns to the bot after this long without agent activity
    handoff_ttl_hours: float = _setting("HANDOFF_TTL_HOURS", 168.0)
    cors_origins: list[str] = _setting("CORS_ORIGINS", [])
    # WeChat 公众号
    wechat_token: str = _setting("WECHAT_TOKEN", DEV_WECHAT_TOKEN)
    wechat_appid: str = _setting("WECHAT_APPID", "")
    wechat_appsecret: str = _setting("WECHAT_APPSECRET", "")
    wechat_aes_key: str = _setting("WECHAT_AES_KEY", "")
    wechat_api_base: str = _setting("WECHAT_API_BASE", "https://api.weixin.qq.com/cgi-bin/")
    wechat_reply_budget_s: float = _setting("WECHAT_REPLY_BUDGET_S", 4.0)
    wechat_customer_service: bool = _setting("WECHAT_CUSTOMER_SERVICE", True)
    # Telegram
    telegram_token: str = _setting("TELEGRAM_TOKEN", "")
    telegram_secret_token: str = _setting("TELEGRAM_SECRET_TOKEN", DEV_TELEGRAM_SECRET)
    telegram_api_base: str = _setting("TELEGRAM_API_BASE", "https://api.telegram.org/bot")
    telegram_webhook_url: str = _setting("TELEGRAM_WEBHOOK_URL", "")
    telegram_polling_timeout_s: int = _setting("TELEGRAM_POLLING_TIMEOUT_S", 25)
    # web chat: session signatures (empty: derived from DESK_SECRET_KEY), history kept for reloads
    webchat_secret: str = _setting("WEBCHAT_SECRET", "")
    webchat_history_days: int = _setting("WEBCHAT_HISTORY_DAYS", 7)
    # limits
    rate_limit_per_minute: int = _setting("RATE_LIMIT_PER_MINUTE", 20)
    max_message_chars: int = _setting("MAX_MESSAGE_CHARS", 500)
    max_body_bytes: int = _setting("MAX_BODY_BYTES", 64 * 1024)
    http_timeout_s: float = _setting("HTTP_TIMEOUT_S", 5.0)
    # Rasa -> action server: the whole tracker is sent (private, so a larger cap), and a timeout
    action_max_body_bytes: int = _setting("ACTION_MAX_BODY_BYTES", 16 * 1024 * 1024)
    action_timeout_s: float = _setting("ACTION_TIMEOUT_S", 30.0)
    # forwarding to an external ticketing system (optional per city)
    forward_url: str = _setting("FORWARD_URL", "")
    forward_token: str = _setting("FORWARD_TOKEN", "")
    forward_timeout_s: float = _setting("FORWARD_TIMEOUT_S", 10.0)
    forward_max_backoff_s: float = _setting("FORWARD_MAX_BACKOFF_S", 3600.0)
    # retention (days) — 个人信息保护法: kept no longer than needed
    retention_tracker_days: int = _setting("RETENTION_TRACKER_DAYS", 30)
    retention_ticket_days: int = _setting("RETENTION_TICKET_DAYS", 365 * 3)
    retention_audit_days: int = _setting("RETENTION_AUDIT_DAYS", 365)
    # model and content
    model_dir: str = _setting("MODEL_DIR", str(ROOT / "models"))
    city_file: str = _setting("CITY_FILE", str(DATA / "city.yml"))
    topics_file: str = str(DATA / "topics.yml")  # the behaviour contract: part of the code, not configurable
    log_level: str = _setting("LOG_LEVEL", "INFO")
    # development: use the newest model even when the data changed (others are editing it)
    skip_train: bool = _setting("SKIP_TRAIN", False, parse=_is_one)
    # tests only (ignored in production): a module of extra actions the action server imports
    actions_extra_module: str = _setting("ACTIONS_EXTRA_MODULE", "")

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
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        values[spec.name] = _value(spec, values) if "env" in spec.metadata else _own_default(spec)
    return Settings(**values)


def _value(spec: Field[Any], before: Mapping[str, Any]) -> Any:
    meta = spec.metadata
    default = meta["derived"](before) if meta["derived"] is not None else _own_default(spec)
    raw = os.environ.get(meta["env"])
    if raw is None:
        return default
    raw = raw.strip()
    kind = _TYPES[spec.name]
    if not raw and (kind is not str or meta["empty_is_unset"]):
        return default
    if meta["parse"] is not None:
        return meta["parse"](raw)
    if kind is bool:
        return (not default) if raw.lower() == ("false" if default else "true") else default
    if kind is int or kind is float:
        return kind(raw)
    if typing.get_origin(kind) is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


_TYPES = typing.get_type_hints(Settings)
