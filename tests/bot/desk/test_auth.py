"""Console login, sessions, CSRF and tokens (bot/desk/auth.py), over loopback."""

from __future__ import annotations

import io

import aiohttp
import pytest

from bot.core import tickets
from bot.desk import users
from tests.bot.desk.conftest import Client


async def test_the_console_needs_a_login(console: Client) -> None:
    async with console.session.get(console.base + "/", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/login"
    async with console.session.get(console.base + "/login") as r:
        assert r.status == 200 and "登录" in await r.text()
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


async def test_a_wrong_password_is_refused_and_a_right_one_opens_the_console(console: Client) -> None:
    assert await console.login("agent01", "not-the-password") == 302
    status, _ = await console.call("GET", "/api/me")
    assert status == 401
    assert await console.login("nobody", "whatever-pass") == 302
    assert await console.login("agent01") == 302
    status, me = await console.call("GET", "/api/me")
    assert status == 200 and (me["agent"], me["display_name"]) == ("agent01", "坐席一")
    async with console.session.get(console.base + "/") as r:
        assert r.status == 200 and "12345 坐席工作台" in await r.text()
    cookie = next(c for c in console.session.cookie_jar if c.key == "desk_session")
    assert cookie["httponly"] and cookie["samesite"] == "Strict"


async def test_session_changes_need_the_csrf_token(console: Client) -> None:
    t, _ = tickets.create(idempotency_key="k", channel="rest", sender_id="s", topic="report_noise", summary="噪音")
    assert await console.login("agent01") == 302
    csrf, console.csrf = console.csrf, ""
    status, body = await console.call("POST", f"/api/tickets/{t['id']}/notes", {"text": "备注"})
    assert status == 403 and body["error"] == "csrf"
    console.csrf = "forged"
    status, _ = await console.call("POST", f"/api/tickets/{t['id']}/notes", {"text": "备注"})
    assert status == 403
    console.csrf = csrf
    status, body = await console.call("POST", f"/api/tickets/{t['id']}/notes", {"text": "备注"})
    assert status == 200 and body["notes"][-1]["agent"] == "agent01"


async def test_logout_ends_the_session(console: Client) -> None:
    assert await console.login("agent02") == 302
    status, _ = await console.call("POST", "/logout")
    assert status == 302
    status, _ = await console.call("GET", "/api/me")
    assert status == 401


async def test_repeated_failures_lock_the_account_for_a_while(console: Client) -> None:
    for _ in range(10):
        await console.login("agent02", "guess-guess")
    async with console.session.post(
        console.base + "/login", json={"username": "agent02", "password": "agent02-pass"}
    ) as r:
        assert r.status == 429 and (await r.json())["error"] == "locked"
    # guessing one account's password does not lock the other agents out (they may share an address)
    async with (
        aiohttp.ClientSession() as s,
        s.post(console.base + "/login", json={"username": "agent01", "password": "agent01-pass"}) as r,
    ):
        assert r.status == 200


async def test_a_personal_token_acts_as_its_agent(desk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert users.main(["token", "agent02"]) == 0
    token = out.getvalue().strip()
    assert len(token) >= 40 and token not in users.users_file().read_text()
    t, _ = tickets.create(idempotency_key="k2", channel="rest", sender_id="s2", topic="report_noise", summary="噪音")
    async with aiohttp.ClientSession() as s:
        client = Client(desk, s, token=token)
        status, body = await client.call("POST", f"/api/tickets/{t['id']}/notes", {"text": "令牌调用"})
        assert status == 200 and body["notes"][-1]["agent"] == "agent02"
        status, _ = await Client(desk, s, token=token[:-1] + "x").call("GET", "/api/tickets")
        assert status == 401


async def test_the_service_token_records_the_x_agent_name(api: Client) -> None:
    t, _ = tickets.create(idempotency_key="k3", channel="rest", sender_id="s3", topic="report_noise", summary="噪音")
    api.agent = "城市工单系统"
    status, body = await api.call("POST", f"/api/tickets/{t['id']}/notes", {"text": "外部系统备注"})
    assert status == 200 and body["notes"][-1]["agent"] == "城市工单系统"
    api.agent = "<script>"
    status, body = await api.call("POST", f"/api/tickets/{t['id']}/notes", {"text": "x"})
    assert body["notes"][-1]["agent"] == "api"
