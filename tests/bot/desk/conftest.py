"""The desk in-process on a real loopback socket (aiohttp's TestServer), on a real Redis and a
real SQLite database; a users file with two accounts made by the real `users add` command."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

TOKEN = "unit-desk-token"
PASSWORDS = {"agent01": "agent01-pass", "agent02": "agent02-pass", "hrss01": "hrss01-pass", "boss": "boss-pass1"}


def _add(name: str, *extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.desk import users

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORDS[name] + "\n"))
    assert users.main(["add", name, "--password-stdin", *extra]) == 0


@pytest.fixture()
def users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "desk_users.yml"
    monkeypatch.setenv("DESK_USERS_FILE", str(path))
    _add("agent01", "--display", "坐席一", monkeypatch=monkeypatch)
    _add("agent02", "--display", "坐席二", monkeypatch=monkeypatch)
    _add("hrss01", "--display", "人社专席", "--departments", "hrss", monkeypatch=monkeypatch)
    _add("boss", "--display", "值班长", "--role", "supervisor", monkeypatch=monkeypatch)
    return path


@pytest.fixture()
async def desk(redis_url: str, db_url: str, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """Base URL of a running desk. Rasa is not running here: RASA_URL points at a closed port."""
    from bot.desk.app import create_app
    from bot.stack.processes import free_port

    monkeypatch.setenv("DESK_API_TOKEN", TOKEN)
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HTTP_TIMEOUT_S", "1")
    server = TestServer(create_app(), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


class Client:
    """A small JSON client: bearer token or console session."""

    def __init__(
        self, base: str, session: aiohttp.ClientSession, token: str | None = TOKEN, agent: str | None = None
    ) -> None:
        self.base, self.session, self.token, self.agent = base, session, token, agent
        self.csrf = ""

    def headers(self) -> dict[str, str]:
        h: dict[str, str] = {}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if self.agent:
            h["X-Agent"] = self.agent
        if self.csrf:
            h["X-CSRF-Token"] = self.csrf
        return h

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers(), allow_redirects=False
        ) as r:
            try:
                return r.status, await r.json(content_type=None)
            except ValueError:
                return r.status, await r.text()

    async def login(self, name: str, password: str | None = None) -> int:
        async with self.session.post(
            self.base + "/login",
            data={"username": name, "password": password or PASSWORDS[name]},
            allow_redirects=False,
        ) as r:
            status = r.status
        if status == 302:
            _, me = await self.call("GET", "/api/me")
            if isinstance(me, dict):
                self.csrf = me.get("csrf", "")
        return status


@pytest.fixture()
async def api(desk: str) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as s:
        yield Client(desk, s, agent="agent01")


@pytest.fixture()
async def console(desk: str) -> AsyncIterator[Client]:
    """A browser-like client (cookie jar, no token) that has not logged in yet."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield Client(desk, s, token=None)
