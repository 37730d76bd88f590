"""Shared fixtures: a real Redis, a real SQL database, and the whole stack on loopback."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from bot.stack.processes import RedisServer, Stack, start_stack

# Property tests assert behaviour, not speed: a loaded 2-core CI machine must not fail them on
# Hypothesis' default 200 ms deadline (speed is measured by `make bench`).
hypothesis_settings.register_profile("hotline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("hotline")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture()
def redis_url(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean real Redis for one test, set as REDIS_URL."""
    import redis

    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()  # a test may have stopped it to simulate an outage
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    yield redis_server.url


@pytest.fixture()
def db_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite database at the latest schema (Alembic), set as DATABASE_URL."""
    from bot.infra import db

    workdir = Path(tempfile.mkdtemp(prefix="db-"))
    url = f"sqlite:///{workdir / 'test.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    db.migrate(url)
    yield url
    db.dispose(url)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Redis, action server, Rasa server and desk as separate processes on free ports."""
    s = start_stack()
    yield s
    s.stop()
