"""Settings (bot/infra/settings.py): every variable's name, default and parse rule, and .env.example
documents every variable that is read."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bot.infra import settings

ENV_NAMES = {
    "app_env": "APP_ENV",
    "host": "BIND_HOST",
    "rasa_port": "RASA_PORT",
    "action_port": "ACTION_PORT",
    "desk_port": "DESK_PORT",
    "redis_port": "REDIS_PORT",
    "rasa_url": "RASA_URL",
    "action_url": "ACTION_ENDPOINT_URL",
    "rasa_auth_token": "RASA_AUTH_TOKEN",
    "action_host": "ACTION_BIND_HOST",
    "rasa_urls": "RASA_URLS",
    "redis_url": "REDIS_URL",
    "database_url": "DATABASE_URL",
    "redis_persistence_checked": "REDIS_PERSISTENCE_CHECKED",
    "desk_api_token": "DESK_API_TOKEN",
    "desk_secret_key": "DESK_SECRET_KEY",
    "desk_users_file": "DESK_USERS_FILE",
    "desk_session_hours": "DESK_SESSION_HOURS",
    "handoff_ttl_hours": "HANDOFF_TTL_HOURS",
    "cors_origins": "CORS_ORIGINS",
    "wechat_token": "WECHAT_TOKEN",
    "wechat_appid": "WECHAT_APPID",
    "wechat_appsecret": "WECHAT_APPSECRET",
    "wechat_aes_key": "WECHAT_AES_KEY",
    "wechat_api_base": "WECHAT_API_BASE",
    "wechat_reply_budget_s": "WECHAT_REPLY_BUDGET_S",
    "wechat_customer_service": "WECHAT_CUSTOMER_SERVICE",
    "telegram_token": "TELEGRAM_TOKEN",
    "telegram_secret_token": "TELEGRAM_SECRET_TOKEN",
    "telegram_api_base": "TELEGRAM_API_BASE",
    "telegram_webhook_url": "TELEGRAM_WEBHOOK_URL",
    "telegram_polling_timeout_s": "TELEGRAM_POLLING_TIMEOUT_S",
    "webchat_secret": "WEBCHAT_SECRET",
    "webchat_history_days": "WEBCHAT_HISTORY_DAYS",
    "rate_limit_per_minute": "RATE_LIMIT_PER_MINUTE",
    "max_message_chars": "MAX_MESSAGE_CHARS",
    "max_body_bytes": "MAX_BODY_BYTES",
    "http_timeout_s": "HTTP_TIMEOUT_S",
    "action_max_body_bytes": "ACTION_MAX_BODY_BYTES",
    "action_timeout_s": "ACTION_TIMEOUT_S",
    "forward_url": "FORWARD_URL",
    "forward_token": "FORWARD_TOKEN",
    "forward_timeout_s": "FORWARD_TIMEOUT_S",
    "forward_max_backoff_s": "FORWARD_MAX_BACKOFF_S",
    "retention_tracker_days": "RETENTION_TRACKER_DAYS",
    "retention_ticket_days": "RETENTION_TICKET_DAYS",
    "retention_audit_days": "RETENTION_AUDIT_DAYS",
    "model_dir": "MODEL_DIR",
    "city_file": "CITY_FILE",
    "log_level": "LOG_LEVEL",
    "rasa_max_concurrent_turns": "RASA_MAX_CONCURRENT_TURNS",
    "skip_train": "SKIP_TRAIN",
    "actions_extra_module": "ACTIONS_EXTRA_MODULE",
}

DEFAULTS = {
    "app_env": "development",
    "host": "127.0.0.1",
    "rasa_port": 5005,
    "action_port": 5055,
    "desk_port": 5080,
    "redis_port": 6379,
    "rasa_url": "http://127.0.0.1:5005",
    "action_url": "http://127.0.0.1:5055/webhook",
    "rasa_auth_token": "",
    "action_host": "127.0.0.1",
    "rasa_urls": [],
    "redis_url": "",
    "database_url": "",
    "redis_persistence_checked": False,
    "desk_api_token": settings.DEV_DESK_API_TOKEN,
    "desk_secret_key": settings.DEV_SECRET_KEY,
    "desk_users_file": str(settings.ROOT / "config" / "desk_users.yml"),
    "desk_session_hours": 12.0,
    "handoff_ttl_hours": 168.0,
    "cors_origins": [],
    "wechat_token": settings.DEV_WECHAT_TOKEN,
    "wechat_appid": "",
    "wechat_appsecret": "",
    "wechat_aes_key": "",
    "wechat_api_base": "https://api.weixin.qq.com/cgi-bin/",
    "wechat_reply_budget_s": 4.0,
    "wechat_customer_service": True,
    "telegram_token": "",
    "telegram_secret_token": settings.DEV_TELEGRAM_SECRET,
    "telegram_api_base": "https://api.telegram.org/bot",
    "telegram_webhook_url": "",
    "telegram_polling_timeout_s": 25,
    "webchat_secret": "",
    "webchat_history_days": 7,
    "rate_limit_per_minute": 20,
    "max_message_chars": 500,
    "max_body_bytes": 64 * 1024,
    "http_timeout_s": 5.0,
    "action_max_body_bytes": 16 * 1024 * 1024,
    "action_timeout_s": 30.0,
    "forward_url": "",
    "forward_token": "",
    "forward_timeout_s": 10.0,
    "forward_max_backoff_s": 3600.0,
    "retention_tracker_days": 30,
    "retention_ticket_days": 365 * 3,
    "retention_audit_days": 365,
    "model_dir": str(settings.ROOT / "models"),
    "city_file": str(settings.DATA / "city.yml"),
    "topics_file": str(settings.DATA / "topics.yml"),
    "log_level": "INFO",
    "rasa_max_concurrent_turns": 2,
    "skip_train": False,
    "actions_extra_module": "",
}


@pytest.fixture()
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of ours in the environment (the developer's shell or .env may set some)."""
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_with_nothing_set_every_setting_has_its_default(clean: pytest.MonkeyPatch) -> None:
    cfg = settings.load()
    assert {k: getattr(cfg, k) for k in DEFAULTS} == DEFAULTS


def test_the_dataclass_defaults_are_the_environment_defaults(clean: pytest.MonkeyPatch) -> None:
    assert dataclasses.asdict(settings.Settings()) == dataclasses.asdict(settings.load())


def test_each_variable_sets_its_setting(clean: pytest.MonkeyPatch) -> None:
    values = {
        str: ("  some-value  ", "some-value"),
        int: ("42", 42),
        float: ("2.5", 2.5),
        list: (" a, b ,,c ", ["a", "b", "c"]),
    }
    for name, env in ENV_NAMES.items():
        default = DEFAULTS[name]
        if isinstance(default, bool):
            continue
        raw, expected = values[type(default)]
        clean.setenv(env, raw)
        assert getattr(settings.load(), name) == expected, env
        clean.delenv(env)


def test_empty_numbers_and_lists_mean_the_default_empty_text_means_empty(clean: pytest.MonkeyPatch) -> None:
    for env in ("RASA_PORT", "DESK_SESSION_HOURS", "CORS_ORIGINS", "REDIS_PERSISTENCE_CHECKED"):
        clean.setenv(env, "  ")
    clean.setenv("WECHAT_CUSTOMER_SERVICE", "")
    clean.setenv("DESK_API_TOKEN", "")
    clean.setenv("RASA_URL", "")
    cfg = settings.load()
    assert cfg.rasa_port == 5005 and cfg.desk_session_hours == 12.0 and cfg.cors_origins == []
    assert cfg.redis_persistence_checked is False and cfg.wechat_customer_service is True
    assert cfg.desk_api_token == "" and cfg.rasa_url == ""


def test_a_number_that_is_not_one_is_an_error(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("RASA_PORT", "fifty")
    with pytest.raises(ValueError, match="invalid literal for int"):
        settings.load()
    clean.setenv("RASA_PORT", "5005")
    clean.setenv("HTTP_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="could not convert string to float"):
        settings.load()


def test_switches_change_only_when_the_other_value_is_spelled_out(clean: pytest.MonkeyPatch) -> None:
    for raw, checked, customer_service in [
        ("true", True, True),
        ("TRUE", True, True),
        ("yes", False, True),
        ("1", False, True),
        ("false", False, False),
        ("False", False, False),
        ("no", False, True),
    ]:
        clean.setenv("REDIS_PERSISTENCE_CHECKED", raw)
        clean.setenv("WECHAT_CUSTOMER_SERVICE", raw)
        cfg = settings.load()
        assert (cfg.redis_persistence_checked, cfg.wechat_customer_service) == (checked, customer_service), raw


def test_skip_train_is_on_only_with_1(clean: pytest.MonkeyPatch) -> None:
    for raw, expected in [("1", True), (" 1 ", True), ("true", False), ("0", False), ("", False)]:
        clean.setenv("SKIP_TRAIN", raw)
        assert settings.load().skip_train is expected, raw


def test_urls_and_the_action_host_follow_the_ports_and_bind_host(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("RASA_PORT", "6005")
    clean.setenv("ACTION_PORT", "6055")
    clean.setenv("BIND_HOST", "10.0.0.3")
    cfg = settings.load()
    assert cfg.rasa_url == "http://127.0.0.1:6005" and cfg.action_url == "http://127.0.0.1:6055/webhook"
    assert cfg.action_host == "10.0.0.3"
    clean.setenv("ACTION_BIND_HOST", "")  # empty: BIND_HOST
    assert settings.load().action_host == "10.0.0.3"
    clean.setenv("ACTION_BIND_HOST", "10.0.0.4")
    clean.setenv("RASA_URL", "http://10.0.0.9:5005")
    cfg = settings.load()
    assert cfg.action_host == "10.0.0.4" and cfg.rasa_url == "http://10.0.0.9:5005"


def test_the_settings_follow_the_environment_as_it_is_now(clean: pytest.MonkeyPatch) -> None:
    assert settings.load().rate_limit_per_minute == 20
    clean.setenv("RATE_LIMIT_PER_MINUTE", "3")
    assert settings.load().rate_limit_per_minute == 3
    assert settings.load() is settings.load()  # read again only when the environment changed


def test_derived_values() -> None:
    cfg = dataclasses.replace(settings.Settings(), database_url="", redis_url="", redis_port=7000)
    assert cfg.sqlalchemy_url == f"sqlite:///{settings.VAR / 'hotline.db'}"
    assert cfg.effective_redis_url == "redis://127.0.0.1:7000/0"
    assert not cfg.production and dataclasses.replace(cfg, app_env="production").production


def test_every_setting_is_read_from_its_variable() -> None:
    assert {f.name: f.metadata["env"] for f in dataclasses.fields(settings.Settings) if f.metadata} == ENV_NAMES
    assert {f.name for f in dataclasses.fields(settings.Settings) if not f.metadata} == {"topics_file"}


def test_env_example_documents_every_variable() -> None:
    text = (settings.ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    read = set(ENV_NAMES.values())
    assert read - documented == set(), "read by bot/infra/settings.py, missing from .env.example"
    assert documented - read == set(), "in .env.example, not read by bot/infra/settings.py"
