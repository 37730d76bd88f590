"""The two channels as their clients see them: a REST client and WeChat's servers."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
import uuid
from xml.etree.ElementTree import ParseError

import aiohttp
import defusedxml.ElementTree as SafeET

from bench.load import Outcome

ACCOUNT = "gh_bench0000001"


class RestClient:
    """`POST /webhooks/rest/webhook` as a web or app client does it."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, busy_text: str, timeout: float = 60.0) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self.busy_text = busy_text
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def __call__(self, sender: str, text: str) -> Outcome:
        started = time.monotonic()
        try:
            async with self.session.post(
                self.url, json={"sender": sender, "message": text}, timeout=self.timeout
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            return Outcome(False, "error", started, time.monotonic() - started, sender, type(e).__name__)
        elapsed = time.monotonic() - started
        if status != 200:
            return Outcome(False, "error", started, elapsed, sender, f"HTTP {status}")
        try:
            texts = [str(m.get("text") or "") for m in json.loads(body)]
        except (ValueError, AttributeError, TypeError):
            return Outcome(False, "error", started, elapsed, sender, "not JSON")
        if not texts:
            return Outcome(False, "empty", started, elapsed, sender)
        if self.busy_text in texts:
            return Outcome(False, "busy", started, elapsed, sender)
        return Outcome(True, "answer", started, elapsed, sender)


class WeChatClient:
    """WeChat's servers calling the 公众号 callback: signed plaintext XML, one MsgId per message.

    `passive`: the answer came in the HTTP response; `success`: the channel answered WeChat in
    time and will push the reply through the customer-service API (客服消息)."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, busy_text: str, timeout: float = 10.0
    ) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/webhooks/wechat/"
        self.token = token
        self.busy_text = busy_text
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._ids = itertools.count(int(time.time() * 1000) * 1000)

    def sign(self, timestamp: str, nonce: str) -> str:
        return hashlib.sha1("".join(sorted((self.token, timestamp, nonce))).encode()).hexdigest()  # noqa: S324 - WeChat's protocol

    def xml(self, openid: str, text: str, msg_id: int) -> str:
        safe = text.replace("]]>", "]]]]><![CDATA[>")
        return (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{safe}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )

    async def __call__(self, sender: str, text: str) -> Outcome:
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"timestamp": ts, "nonce": nonce, "signature": self.sign(ts, nonce)}
        body = self.xml(sender, text, next(self._ids)).encode()
        started = time.monotonic()
        try:
            async with self.session.post(
                self.url, params=params, data=body, timeout=self.timeout, headers={"Content-Type": "text/xml"}
            ) as resp:
                raw = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            return Outcome(False, "error", started, time.monotonic() - started, sender, type(e).__name__)
        elapsed = time.monotonic() - started
        if status != 200:
            return Outcome(False, "error", started, elapsed, sender, f"HTTP {status}")
        if raw.strip() == "success":
            return Outcome(True, "success", started, elapsed, sender)
        try:
            content = SafeET.fromstring(raw).findtext("Content") or ""
        except ParseError:
            return Outcome(False, "error", started, elapsed, sender, "not XML")
        if not content:
            return Outcome(False, "empty", started, elapsed, sender)
        if content.startswith(self.busy_text):
            return Outcome(False, "busy", started, elapsed, sender)
        return Outcome(True, "passive", started, elapsed, sender)


def connector(limit: int) -> aiohttp.TCPConnector:
    """Enough connections for the concurrency (0: unlimited, for arrival-rate runs)."""
    return aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=False)
