"""Start-up checks: in production (APP_ENV=production) a process refuses to start on unsafe
settings, naming the setting. Development (the default for `make run`) only mentions them.

Two kinds of check, both run by `check_or_exit` (bot/ops/launch.py calls it for every process):
  - `problems(cfg, process)`: the settings themselves, no I/O — development defaults, empty or
    short secrets, a wildcard or non-https CORS origin, a Redis URL without a password, SQLite,
    an open Rasa HTTP API, an action server on every interface, WeChat/Telegram configured
    without their secrets, limits switched off, debug logging (it would write citizens' words);
  - `redis_problems(cfg)`: the live Redis that holds locks, handoff flags and the outbox —
    reachable with the password, refusing clients without one, AOF on with
    `appendfsync everysec` (or always), `maxmemory-policy noeviction`. A managed Redis may
    forbid CONFIG: then the operator confirms with the provider and sets
    REDIS_PERSISTENCE_CHECKED=true (a CONFIG answer that shows a wrong value still refuses).

docs/security.md lists each check with the threat it answers and the test that proves it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
import time
from urllib.parse import urlparse, urlunparse

from bot.infra import settings

log = logging.getLogger(__name__)

APP_ENVS = ("development", "production")
# the processes that talk to Redis (the live check runs for them)
REDIS_USERS = ("rasa", "actions", "desk")
# processes that call or serve Rasa's HTTP API
RASA_API_USERS = ("rasa", "desk")
MIN_SECRET_CHARS = 16
# Redis holds the locks (RedisLockStore), handoff flags and the REST outbox: a restart must not
# lose them and memory pressure must not evict them
PERSISTENCE: dict[str, tuple[str, ...]] = {
    "appendonly": ("yes",),
    "appendfsync": ("everysec", "always"),
    "maxmemory-policy": ("noeviction",),
}
_ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # Telegram's rule for secret_token


def _secret(name: str, value: str, dev_default: str | None = None) -> str | None:
    if not value:
        return f"{name} is empty"
    if dev_default is not None and value == dev_default:
        return f"{name} is still the development default"
    if len(value) < MIN_SECRET_CHARS:
        return f"{name} is too short (at least {MIN_SECRET_CHARS} random characters)"
    return None


def private_address(host: str) -> str | None:
    """None when `host` is a loopback or private address; else why it is not."""
    if host == "localhost":
        return None
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"{host!r} is not an IP address (give the private address to listen on)"
    if ip.is_unspecified:
        return f"{host} listens on every interface, the public one included"
    if ip.is_global or ip.is_multicast:
        return f"{host} is a public address"
    return None


def _public_ip_literal(host: str | None) -> bool:
    try:
        return bool(host) and ipaddress.ip_address(str(host).strip("[]")).is_global
    except ValueError:
        return False  # a host name: the deployment's DNS decides, not checked here


def _https(name: str, url: str) -> str | None:
    if url and urlparse(url).scheme != "https":
        return f"{name} must be an https:// URL (citizens' data and tokens travel on it)"
    return None


def _database(url: str) -> str | None:
    if not url or url.startswith("sqlite"):
        return "DATABASE_URL must point at PostgreSQL (SQLite is for development)"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        return "DATABASE_URL is not a database URL"
    if not u.drivername.startswith("postgresql"):
        return "DATABASE_URL must point at PostgreSQL"
    socket_dir = str(u.query.get("host") or "")
    if not u.password and not socket_dir.startswith("/"):
        return "DATABASE_URL has no password (only a local Unix socket may go without one)"
    return None


def _redis_url(url: str) -> list[str]:
    if not url:
        return ["REDIS_URL must point at the production Redis (with a password); the local one is for development"]
    u = urlparse(url)
    out = []
    if u.scheme not in ("redis", "rediss"):
        out.append("REDIS_URL must be a redis:// or rediss:// URL")
    if not u.password:
        out.append("REDIS_URL has no password")
    if _public_ip_literal(u.hostname):
        out.append(f"REDIS_URL points at a public address ({u.hostname}): Redis must be on a private network")
    return out


def _cors(origins: list[str]) -> list[str]:
    if not origins:
        return ["CORS_ORIGINS must list the city's sites (https://...), comma separated"]
    if "*" in origins or any("*" in o for o in origins):
        return ["CORS_ORIGINS must list the city's sites, not '*'"]
    bad = [o for o in origins if not _ORIGIN.fullmatch(o.rstrip("/"))]
    if bad:
        return [f"CORS_ORIGINS entries must be https://host[:port] origins, not {', '.join(bad)}"]
    return []


def _wechat(cfg: settings.Settings) -> list[str]:
    configured = bool(cfg.wechat_appid or cfg.wechat_appsecret or cfg.wechat_aes_key) or (
        cfg.wechat_token not in ("", settings.DEV_WECHAT_TOKEN)
    )
    if not configured:
        return []
    out = []
    if cfg.wechat_token in ("", settings.DEV_WECHAT_TOKEN):
        out.append("WECHAT_TOKEN is empty or the development default")
    if not cfg.wechat_appid:
        out.append("WECHAT_APPID is empty")
    if cfg.wechat_customer_service and not cfg.wechat_appsecret:
        out.append("WECHAT_APPSECRET is empty (needed for customer-service messages)")
    if len(cfg.wechat_aes_key) != 43:
        out.append("WECHAT_AES_KEY must be the 43-character EncodingAESKey (安全模式: messages encrypted)")
    return out + [p for p in [_https("WECHAT_API_BASE", cfg.wechat_api_base)] if p]


def _telegram(cfg: settings.Settings) -> list[str]:
    if not cfg.telegram_token:
        return []
    out = []
    problem = _secret("TELEGRAM_SECRET_TOKEN", cfg.telegram_secret_token, settings.DEV_TELEGRAM_SECRET)
    if problem:
        out.append(problem)
    elif not _TELEGRAM_SECRET.fullmatch(cfg.telegram_secret_token):
        out.append("TELEGRAM_SECRET_TOKEN may hold only A-Z, a-z, 0-9, _ and - (Telegram's rule)")
    if not cfg.telegram_webhook_url:
        out.append("TELEGRAM_WEBHOOK_URL is empty: polling mode is for development")
    out += [p for p in [_https("TELEGRAM_WEBHOOK_URL", cfg.telegram_webhook_url)] if p]
    return out + [p for p in [_https("TELEGRAM_API_BASE", cfg.telegram_api_base)] if p]


def problems(cfg: settings.Settings, process: str) -> list[str]:
    """Every unsafe setting for `process`, each message starting with the setting's name."""
    out: list[str] = []
    # settings other work adds alongside: read defensively so the checks never crash start-up
    webchat_secret = str(getattr(cfg, "webchat_secret", "") or "")
    if cfg.app_env not in APP_ENVS:
        out.append(f"APP_ENV must be one of {', '.join(APP_ENVS)} (not {cfg.app_env!r})")
    for p in (
        _secret("DESK_API_TOKEN", cfg.desk_api_token, settings.DEV_DESK_API_TOKEN),
        _secret("DESK_SECRET_KEY", cfg.desk_secret_key, settings.DEV_SECRET_KEY),
        _secret("WEBCHAT_SECRET", webchat_secret) if webchat_secret else None,
        _secret("FORWARD_TOKEN", cfg.forward_token) if cfg.forward_token else None,
        _https("FORWARD_URL", cfg.forward_url),
        _database(cfg.database_url),
    ):
        if p:
            out.append(p)
    out += _cors(cfg.cors_origins)
    out += _redis_url(cfg.redis_url)
    if process in RASA_API_USERS:
        p = _secret("RASA_AUTH_TOKEN", cfg.rasa_auth_token)
        if p:
            out.append(p + ": Rasa's HTTP API (/model/parse, /conversations) must not be open")
    if process == "actions":
        p = private_address(cfg.action_host)
        if p:
            out.append(f"ACTION_BIND_HOST: the action server must listen on a private address only; {p}")
    out += _wechat(cfg)
    out += _telegram(cfg)
    limits = {
        "RATE_LIMIT_PER_MINUTE": cfg.rate_limit_per_minute,
        "MAX_MESSAGE_CHARS": cfg.max_message_chars,
        "MAX_BODY_BYTES": cfg.max_body_bytes,
        "ACTION_MAX_BODY_BYTES": cfg.action_max_body_bytes,
        "HTTP_TIMEOUT_S": cfg.http_timeout_s,
        "ACTION_TIMEOUT_S": cfg.action_timeout_s,
        "FORWARD_TIMEOUT_S": float(getattr(cfg, "forward_timeout_s", 10.0)),
        "RETENTION_TRACKER_DAYS": cfg.retention_tracker_days,
        "RETENTION_TICKET_DAYS": cfg.retention_ticket_days,
        "RETENTION_AUDIT_DAYS": cfg.retention_audit_days,
    }
    out += [f"{name} must be positive (0 switches the limit off)" for name, value in limits.items() if value <= 0]
    if cfg.max_body_bytes > 1024 * 1024:
        out.append("MAX_BODY_BYTES above 1 MiB: no citizen's message needs that much")
    if cfg.log_level.upper() in ("DEBUG", "NOTSET"):
        out.append("LOG_LEVEL DEBUG writes whole conversations and trackers to the logs")
    return out


# ------------------------------------------------------------------------------ live Redis
def _where(url: str) -> str:
    u = urlparse(url)
    return f"{u.hostname}:{u.port or 6379}"


def _without_credentials(url: str) -> str:
    u = urlparse(url)
    netloc = u.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    return urlunparse(u._replace(netloc=f"{netloc}:{u.port}" if u.port else netloc))


def redis_problems(cfg: settings.Settings, wait_s: float = 0.0) -> list[str]:
    """Ask the Redis itself: password enforced, AOF everysec, noeviction."""
    import redis

    url = cfg.effective_redis_url
    where = _where(url)
    open_to_all = f"REDIS_URL: Redis at {where} answers clients without a password (set requirepass or ACL users)"

    def connect(to: str) -> redis.Redis[str]:
        return redis.Redis.from_url(to, socket_timeout=5.0, socket_connect_timeout=5.0, decode_responses=True)

    def anonymous_ok() -> bool:
        anonymous = connect(_without_credentials(url))
        try:
            return bool(anonymous.ping())
        except redis.RedisError:
            return False  # NOAUTH: as it should be
        finally:
            anonymous.close()

    client = connect(url)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.ping()
            break
        except redis.AuthenticationError:
            # a Redis without any password also refuses AUTH: say which it is
            return [open_to_all if anonymous_ok() else f"REDIS_URL: Redis at {where} refused the password"]
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            if time.monotonic() >= deadline:
                return [f"REDIS_URL: Redis at {where} is not reachable"]
            time.sleep(0.3)
        except redis.ResponseError as exc:
            return [f"REDIS_URL: Redis at {where} refused the connection set-up ({exc})"]
    out: list[str] = [open_to_all] if anonymous_ok() else []
    try:
        conf: dict[str, str] = {}
        for name in PERSISTENCE:
            conf.update(client.config_get(name))
    except redis.ResponseError:  # CONFIG renamed away or not granted (managed Redis)
        if not cfg.redis_persistence_checked:
            out.append(
                f"REDIS_PERSISTENCE_CHECKED: Redis at {where} does not allow CONFIG, so AOF and eviction cannot be "
                "checked; confirm appendonly yes, appendfsync everysec and maxmemory-policy noeviction with "
                "the provider, then set REDIS_PERSISTENCE_CHECKED=true"
            )
        return out
    finally:
        client.close()
    for name, allowed in PERSISTENCE.items():
        if conf.get(name) not in allowed:
            out.append(
                f"REDIS_URL: Redis at {where} has {name} {conf.get(name)!r}, needs {' or '.join(allowed)} "
                "(locks, handoff flags and the outbox must survive a restart and never be evicted)"
            )
    return out


def check_or_exit(cfg: settings.Settings, process: str, redis_wait_s: float = 30.0) -> None:
    """Production: exit with every problem named. Development: a one-line note, then start."""
    found = problems(cfg, process)
    if cfg.app_env not in APP_ENVS:
        # a typo such as APP_ENV=prod must not quietly start in development mode
        sys.exit(f"refusing to start {process}: " + "; ".join(found))
    if cfg.production and not found and process in REDIS_USERS:
        found = redis_problems(cfg, wait_s=redis_wait_s)
    if not found:
        return
    if cfg.production:
        for p in found:
            log.critical("refusing to start %s in production: %s", process, p)
        sys.exit(f"refusing to start {process} in production: " + "; ".join(found))
    if process in ("rasa", "desk"):
        log.info("development settings in use (fine locally; production would refuse): %d items", len(found))
