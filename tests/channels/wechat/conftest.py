"""Fixtures: WeChat's API stand-in, the channel's environment, the channel in a Sanic server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.stack.processes import free_port
from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import APPID, TOKEN, FakeBot, Start, WeChatServer


@pytest.fixture(scope="module")
def standin() -> Iterator[WeChatStandIn]:
    s = WeChatStandIn(appid=APPID).start()
    yield s
    s.stop()


@pytest.fixture()
def wechat_env(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, db_url: str, standin: WeChatStandIn
) -> pytest.MonkeyPatch:
    from channels.wechat import client

    standin.reset()
    for name, value in {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APPID,
        "WECHAT_APPSECRET": standin.secret,
        "WECHAT_API_BASE": standin.base_url,
        "WECHAT_AES_KEY": "",
        "WECHAT_REPLY_BUDGET_S": "3.0",
        "WECHAT_CUSTOMER_SERVICE": "true",
        "HTTP_TIMEOUT_S": "3",
    }.items():
        monkeypatch.setenv(name, value)
    client._client_for.cache_clear()
    return monkeypatch


@pytest.fixture()
async def start_channel(wechat_env: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """Start the channel (with the environment as it is now) in a Sanic server on a free port."""
    from sanic import Sanic

    from channels.wechat import WeChatInput

    # several apps in one process: Sanic 21.12 must keep its original request handler to rewrite
    wechat_env.setattr(Sanic, "test_mode", True)

    servers: list[Any] = []

    async def start(bot: FakeBot, mode: str = "plain", agent: Any = None) -> WeChatServer:
        app = Sanic(f"wechat_test_{uuid.uuid4().hex[:12]}", configure_logging=False)
        app.ctx.agent = agent  # Rasa's agent: only its tracker store is used
        app.blueprint(WeChatInput().blueprint(bot), url_prefix="/webhooks/wechat")
        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        await server.startup()
        servers.append(server)
        return WeChatServer(f"http://127.0.0.1:{port}/webhooks/wechat/", mode)

    yield start
    await asyncio.sleep(0.05)
    for server in servers:
        server.close()
        await server.wait_closed()
