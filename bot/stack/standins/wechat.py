"""A local stand-in for WeChat's API server (what cannot run here), for tests only.

Implements what the channel calls, with WeChat's answers:
- `GET  /cgi-bin/token` — issues access tokens (counts how often);
- `POST /cgi-bin/message/custom/send` — records customer-service messages; answers 40001 for an
  unknown token, 45002 for a text over 2048 bytes, and any errcode a test asks for
  (`fail_with`, e.g. 45015 for the 48-hour window).
It runs on a free loopback port in its own thread (its own event loop), so sync tests, async
tests and separate Rasa processes (WECHAT_API_BASE) can all use it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class CustomMessage:
    touser: str
    msgtype: str
    content: str
    at: float = field(default_factory=time.monotonic)


class WeChatStandIn:
    def __init__(self, appid: str = "wx0123456789abcdef", secret: str = "standin-secret") -> None:
        self.appid = appid
        self.secret = secret
        self.messages: list[CustomMessage] = []
        self.token_fetches = 0
        self.tokens: set[str] = set()
        self.fail_with: dict[str, int] = {}  # openid ("*" for everyone) -> errcode to answer
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -------------------------------------------------------------------------------- control
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def start(self) -> WeChatStandIn:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="wechat-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise TimeoutError("WeChat stand-in did not start")
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started site has a server

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.fail_with.clear()
            self.token_fetches = 0
            self.tokens.clear()
            self.delay_s = 0.0

    def invalidate_tokens(self) -> None:
        """As if WeChat had expired every token (the next call answers 40001)."""
        with self._lock:
            self.tokens.clear()

    def sent_to(self, openid: str) -> list[str]:
        with self._lock:
            return [m.content for m in self.messages if m.touser == openid]

    async def wait_for(self, openid: str, count: int, timeout: float = 10.0) -> list[str]:
        """The messages sent to `openid`, once there are `count` of them (or the timeout passed).

        Async, so that a channel running in the test's own event loop keeps working meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent_to(openid)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        return self.sent_to(openid)

    # -------------------------------------------------------------------------------- handlers
    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential" or q.get("appid") != self.appid or q.get("secret") != self.secret:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        with self._lock:
            self.token_fetches += 1
            token = f"TOKEN-{self.token_fetches}-{int(time.time() * 1000)}"
            self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _custom_send(self, request: web.Request) -> web.Response:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        token = request.query.get("access_token", "")
        with self._lock:
            known = token in self.tokens
        if not known:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        try:
            body: dict[str, Any] = json.loads(await request.read())
        except ValueError:
            return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        touser = str(body.get("touser", ""))
        code = self.fail_with.get(touser, self.fail_with.get("*"))
        if code:
            return web.json_response({"errcode": code, "errmsg": "stand-in refusal"})
        content = str((body.get("text") or {}).get("content", ""))
        if len(content.encode("utf-8")) > 2048:
            return web.json_response({"errcode": 45002, "errmsg": "content size out of limit"})
        with self._lock:
            self.messages.append(CustomMessage(touser, str(body.get("msgtype", "")), content))
        return web.json_response({"errcode": 0, "errmsg": "ok"})
