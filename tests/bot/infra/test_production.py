"""Start-up checks (bot/infra/production.py): every unsafe setting is named, safe settings pass, and
the live Redis is asked about its password, AOF and eviction (real redis-server processes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from bot.infra import production, settings
from bot.stack.processes import RedisServer, free_port

SECRET = "k7Qe9vXz2LmP4sWn8RtY"  # 20 characters, not a development default
SAFE = settings.Settings(
    app_env="production",
    host="10.0.0.3",
    action_host="10.0.0.4",
    rasa_auth_token=SECRET + "-rasa",
    redis_url=f"redis://:{SECRET}@10.0.0.5:6379/0",
    database_url=f"postgresql+psycopg2://hotline:{SECRET}@10.0.0.6:5432/hotline",
    desk_api_token=SECRET + "-desk",
    desk_secret_key=SECRET + "-key",
    cors_origins=["https://www.example.gov.cn", "https://12345.example.gov.cn:8443"],
)
PROCESSES = ("redis", "migrate", "rasa", "actions", "desk")


def safe(**changes: Any) -> settings.Settings:
    return dataclasses.replace(SAFE, **changes)


@pytest.mark.parametrize("process", PROCESSES)
def test_safe_settings_pass_for_every_process(process: str) -> None:
    assert production.problems(SAFE, process) == []


def test_the_development_defaults_would_all_be_refused() -> None:
    dev = dataclasses.replace(settings.Settings(), app_env="production")
    named = " ".join(production.problems(dev, "rasa"))
    for setting in (
        "DESK_API_TOKEN",
        "DESK_SECRET_KEY",
        "DATABASE_URL",
        "CORS_ORIGINS",
        "REDIS_URL",
        "RASA_AUTH_TOKEN",
    ):
        assert setting in named


UNSAFE: list[tuple[str, dict[str, Any], str]] = [
    ("rasa", {"desk_api_token": settings.DEV_DESK_API_TOKEN}, "DESK_API_TOKEN is still the development default"),
    ("desk", {"desk_api_token": ""}, "DESK_API_TOKEN is empty"),
    ("desk", {"desk_secret_key": settings.DEV_SECRET_KEY}, "DESK_SECRET_KEY is still the development default"),
    ("desk", {"desk_secret_key": "short"}, "DESK_SECRET_KEY is too short"),
    ("rasa", {"webchat_secret": "abc"}, "WEBCHAT_SECRET is too short"),
    ("rasa", {"rasa_auth_token": ""}, "RASA_AUTH_TOKEN is empty"),
    ("desk", {"rasa_auth_token": "tok"}, "RASA_AUTH_TOKEN is too short"),
    ("rasa", {"cors_origins": ["*"]}, "CORS_ORIGINS must list the city's sites, not '*'"),
    ("rasa", {"cors_origins": ["https://*.example.gov.cn"]}, "CORS_ORIGINS must list the city's sites, not '*'"),
    ("rasa", {"cors_origins": []}, "CORS_ORIGINS must list the city's sites"),
    ("rasa", {"cors_origins": ["http://www.example.gov.cn"]}, "CORS_ORIGINS entries must be https://"),
    ("rasa", {"cors_origins": ["https://www.example.gov.cn/chat"]}, "CORS_ORIGINS entries must be https://"),
    ("actions", {"redis_url": ""}, "REDIS_URL must point at the production Redis"),
    ("actions", {"redis_url": "redis://10.0.0.5:6379/0"}, "REDIS_URL has no password"),
    ("actions", {"redis_url": f"redis://:{SECRET}@8.8.8.8:6379/0"}, "REDIS_URL points at a public address"),
    ("actions", {"database_url": ""}, "DATABASE_URL must point at PostgreSQL"),
    ("actions", {"database_url": "sqlite:////var/lib/hotline.db"}, "DATABASE_URL must point at PostgreSQL"),
    ("actions", {"database_url": "mysql://u:p@10.0.0.6/h"}, "DATABASE_URL must point at PostgreSQL"),
    ("actions", {"database_url": "postgresql://hotline@10.0.0.6/hotline"}, "DATABASE_URL has no password"),
    ("actions", {"action_host": "0.0.0.0"}, "ACTION_BIND_HOST"),
    ("actions", {"action_host": "::"}, "ACTION_BIND_HOST"),
    ("actions", {"action_host": "101.6.6.6"}, "ACTION_BIND_HOST"),
    ("actions", {"action_host": "actions.example.gov.cn"}, "ACTION_BIND_HOST"),
    ("rasa", {"wechat_appid": "wx123"}, "WECHAT_TOKEN is empty or the development default"),
    ("rasa", {"wechat_appid": "wx123", "wechat_token": "city-wechat-token"}, "WECHAT_APPSECRET is empty"),
    (
        "rasa",
        {"wechat_token": "city-wechat-token", "wechat_appid": "wx1", "wechat_appsecret": "s"},
        "WECHAT_AES_KEY must be",
    ),
    ("rasa", {"wechat_token": "city-wechat-token"}, "WECHAT_APPID is empty"),
    ("rasa", {"telegram_token": "123:abc"}, "TELEGRAM_SECRET_TOKEN is still the development default"),
    (
        "rasa",
        {"telegram_token": "123:abc", "telegram_secret_token": SECRET + "!"},
        "TELEGRAM_SECRET_TOKEN may hold only",
    ),
    ("rasa", {"telegram_token": "123:abc", "telegram_secret_token": SECRET}, "TELEGRAM_WEBHOOK_URL is empty"),
    (
        "rasa",
        {"telegram_token": "1:a", "telegram_secret_token": SECRET, "telegram_webhook_url": "http://x/y"},
        "TELEGRAM_WEBHOOK_URL must be an https",
    ),
    ("desk", {"forward_url": "http://tickets.example.gov.cn/api"}, "FORWARD_URL must be an https"),
    ("desk", {"forward_url": "https://tickets.example.gov.cn/api", "forward_token": "x"}, "FORWARD_TOKEN is too short"),
    ("rasa", {"rate_limit_per_minute": 0}, "RATE_LIMIT_PER_MINUTE must be positive"),
    ("rasa", {"max_message_chars": 0}, "MAX_MESSAGE_CHARS must be positive"),
    ("rasa", {"max_body_bytes": 50 * 1024 * 1024}, "MAX_BODY_BYTES above 1 MiB"),
    ("rasa", {"http_timeout_s": 0.0}, "HTTP_TIMEOUT_S must be positive"),
    ("rasa", {"action_timeout_s": 0.0}, "ACTION_TIMEOUT_S must be positive"),
    ("desk", {"retention_tracker_days": 0}, "RETENTION_TRACKER_DAYS must be positive"),
    ("desk", {"retention_ticket_days": -1}, "RETENTION_TICKET_DAYS must be positive"),
    ("rasa", {"log_level": "DEBUG"}, "LOG_LEVEL DEBUG"),
]


@pytest.mark.parametrize(("process", "changes", "expected"), UNSAFE, ids=[str(c[1])[:60] for c in UNSAFE])
def test_each_unsafe_setting_is_named(process: str, changes: dict[str, Any], expected: str) -> None:
    if any(not hasattr(SAFE, k) for k in changes):
        pytest.skip("a setting this case needs is not in bot/infra/settings.py yet")
    found = production.problems(safe(**changes), process)
    assert any(p.startswith(expected) for p in found), found


def test_complete_wechat_and_telegram_settings_pass() -> None:
    cfg = safe(
        wechat_token="city-wechat-token-2026",
        wechat_appid="wx0123456789",
        wechat_appsecret=SECRET,
        wechat_aes_key="a" * 43,
        telegram_token="123456:ABC",
        telegram_secret_token=SECRET,
        telegram_webhook_url="https://chat.example.gov.cn/webhooks/telegram/webhook",
    )
    assert production.problems(cfg, "rasa") == []


def test_the_action_server_may_listen_on_loopback_or_a_private_address() -> None:
    for host in ("127.0.0.1", "localhost", "10.1.2.3", "172.16.0.9", "192.168.1.20", "fd00::5"):
        assert production.problems(safe(action_host=host), "actions") == [], host


def test_a_unix_socket_database_needs_no_password() -> None:
    url = "postgresql+psycopg2://hotline@/hotline?host=/var/run/postgresql"
    assert production.problems(safe(database_url=url), "actions") == []


def test_a_mistyped_app_env_refuses_to_start_even_in_development_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(SystemExit) as stopped:
        production.check_or_exit(settings.load(), "rasa")
    assert "APP_ENV must be one of development, production (not 'prod')" in str(stopped.value)


def test_development_starts_with_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "development")
    production.check_or_exit(settings.load(), "rasa")  # no exit


def test_production_exits_naming_every_problem() -> None:
    with pytest.raises(SystemExit) as stopped:
        production.check_or_exit(safe(desk_api_token="", cors_origins=["*"]), "desk")
    message = str(stopped.value)
    assert message.startswith("refusing to start desk in production:")
    assert "DESK_API_TOKEN is empty" in message and "CORS_ORIGINS" in message


# ------------------------------------------------------------------ the live Redis
@pytest.fixture()
def servers() -> Iterator[list[RedisServer]]:
    started: list[RedisServer] = []
    yield started
    for s in started:
        s.stop()


def start(servers: list[RedisServer], password: str | None = SECRET, *args: str) -> RedisServer:
    server = RedisServer(password=password, extra_args=args).start()
    servers.append(server)
    return server


def test_a_redis_like_the_launchers_with_a_password_passes(servers: list[RedisServer]) -> None:
    r = start(servers)
    assert production.redis_problems(safe(redis_url=r.url)) == []
    production.check_or_exit(safe(redis_url=r.url), "actions")  # no exit


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--appendonly", "no"), "has appendonly 'no', needs yes"),
        (("--appendfsync", "no"), "has appendfsync 'no', needs everysec or always"),
        (("--maxmemory-policy", "allkeys-lru"), "has maxmemory-policy 'allkeys-lru', needs noeviction"),
        (("--maxmemory-policy", "volatile-ttl"), "has maxmemory-policy 'volatile-ttl', needs noeviction"),
    ],
)
def test_a_redis_that_could_lose_or_evict_locks_is_refused(
    servers: list[RedisServer], args: tuple[str, ...], expected: str
) -> None:
    r = start(servers, SECRET, *args)
    found = production.redis_problems(safe(redis_url=r.url))
    assert len(found) == 1 and found[0].startswith("REDIS_URL: Redis at 127.0.0.1:") and expected in found[0], found
    with pytest.raises(SystemExit, match="refusing to start actions in production: REDIS_URL"):
        production.check_or_exit(safe(redis_url=r.url), "actions")


def test_a_redis_without_a_password_is_refused_even_when_the_url_has_one(servers: list[RedisServer]) -> None:
    r = start(servers, None)
    found = production.redis_problems(safe(redis_url=f"redis://:{SECRET}@127.0.0.1:{r.port}/0"))
    assert found == [
        f"REDIS_URL: Redis at 127.0.0.1:{r.port} answers clients without a password (set requirepass or ACL users)"
    ]


def test_a_wrong_password_is_named(servers: list[RedisServer]) -> None:
    r = start(servers)
    found = production.redis_problems(safe(redis_url=f"redis://:wrong-{SECRET}@127.0.0.1:{r.port}/0"))
    assert found == [f"REDIS_URL: Redis at 127.0.0.1:{r.port} refused the password"]


def test_a_managed_redis_without_config_needs_the_operators_confirmation(servers: list[RedisServer]) -> None:
    r = start(servers, SECRET, "--rename-command", "CONFIG", "")
    found = production.redis_problems(safe(redis_url=r.url))
    assert len(found) == 1 and found[0].startswith("REDIS_PERSISTENCE_CHECKED:")
    assert production.redis_problems(safe(redis_url=r.url, redis_persistence_checked=True)) == []


def test_the_confirmation_does_not_override_what_config_shows(servers: list[RedisServer]) -> None:
    r = start(servers, SECRET, "--appendonly", "no")
    found = production.redis_problems(safe(redis_url=r.url, redis_persistence_checked=True))
    assert any("appendonly 'no'" in p for p in found)


def test_an_unreachable_redis_is_named_after_the_wait() -> None:
    port = free_port()
    found = production.redis_problems(safe(redis_url=f"redis://:{SECRET}@127.0.0.1:{port}/0"), wait_s=0.5)
    assert found == [f"REDIS_URL: Redis at 127.0.0.1:{port} is not reachable"]


def test_the_private_address_rule() -> None:
    assert production.private_address("127.0.0.1") is None
    assert production.private_address("10.0.0.1") is None
    assert "every interface" in str(production.private_address("0.0.0.0"))
    assert "public address" in str(production.private_address("1.1.1.1"))
    assert "not an IP address" in str(production.private_address("example.gov.cn"))
