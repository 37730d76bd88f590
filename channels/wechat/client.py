"""The WeChat API: one client per account, its access token shared by every process, and 客服消息
(customer-service messages) pushed in order, failures reported as `channels.senders.DeliveryError`."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from functools import lru_cache
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from bot.infra import keys, settings, store
from channels.senders import DeliveryError
from channels.wechat.config import CHANNEL, WeChatConfig

log = logging.getLogger(__name__)


class _Client(WeChatClient):
    """wechatpy's client with our API base, a timeout on every call, and the access token shared
    by every process in Redis (RedisStorage) and refreshed in one place (`_refresh`) under a lock."""

    def __init__(self, cfg: WeChatConfig) -> None:
        super().__init__(
            cfg.appid,
            cfg.appsecret,
            session=RedisStorage(store.client(), prefix=keys.wechat_token_prefix()),
            timeout=cfg.http_timeout_s,
        )
        self.API_BASE_URL = cfg.api_base
        self._cfg = cfg
        self._used = threading.local()  # the token this thread last used (to tell stale from fresh)

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if not token:
            token = self._refresh(stale=None)
        self._used.token = token
        return str(token)

    def fetch_access_token(self) -> dict[str, Any]:
        # wechatpy calls this when WeChat says the token is invalid or expired (40001, 42001)
        self._refresh(stale=getattr(self._used, "token", None))
        return {"access_token": self.session.get(self.access_token_key)}

    def _refresh(self, stale: str | None) -> str:
        """One process fetches a new token; the others wait for it (WeChat invalidates old tokens)."""
        r = store.client()
        lock = keys.wechat_token_lock(self.appid)
        deadline = time.monotonic() + self._cfg.http_timeout_s * 2
        while True:
            token = self.session.get(self.access_token_key)
            if token and token != stale:
                return str(token)
            if r.set(lock, "1", nx=True, ex=int(self._cfg.http_timeout_s * 2) + 1):
                try:
                    token = self.session.get(self.access_token_key)
                    if token and token != stale:
                        return str(token)
                    return self._fetch()
                finally:
                    r.delete(lock)
            if time.monotonic() > deadline:
                raise WeChatClientException(None, "timed out waiting for another process to refresh the access token")
            time.sleep(0.05)

    def _fetch(self) -> str:
        res = self._http.get(
            self._cfg.api_base + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self._cfg.appsecret},
            timeout=self._cfg.http_timeout_s,
        )
        res.raise_for_status()
        data = res.json()
        if data.get("errcode") or not data.get("access_token"):
            raise WeChatClientException(data.get("errcode"), data.get("errmsg", "no access_token"))
        expires_in = int(data.get("expires_in") or 7200)
        # refreshed 5 minutes before WeChat expires it, so no call runs with a dying token
        self.session.set(self.access_token_key, data["access_token"], max(expires_in - 300, 60))
        log.info("wechat access token refreshed (valid %ss)", expires_in)
        return str(data["access_token"])


@lru_cache(maxsize=4)
def _client_for(cfg: WeChatConfig, redis_url: str) -> _Client:
    return _Client(cfg)


def client(cfg: WeChatConfig | None = None) -> _Client:
    cfg = cfg or WeChatConfig.load()
    return _client_for(cfg, settings.load().effective_redis_url)


_ERRORS = {
    45015: "window_expired",  # response out of time limit (48 h) or subscription canceled
    45047: "too_many_messages",
    43004: "not_subscribed",
    48001: "no_permission",
    40003: "invalid_recipient",
    45009: "rate_limited",
}


def _send_part(cfg: WeChatConfig, openid: str, text: str) -> None:
    try:
        client(cfg).message.send_text(openid, text)
    except WeChatClientException as e:
        code = e.errcode if isinstance(e.errcode, int) else -1
        raise DeliveryError(_ERRORS.get(code, "platform_error"), f"errcode {e.errcode}", channel=CHANNEL) from e
    except (requests.RequestException, OSError) as e:
        raise DeliveryError("unreachable", type(e).__name__, channel=CHANNEL) from e


async def push_messages(openid: str, messages: list[str], cfg: WeChatConfig | None = None) -> None:
    """Send ready messages (each within the limit) through 客服消息, in order; DeliveryError on failure."""
    cfg = cfg or WeChatConfig.load()
    if not (cfg.appid and cfg.appsecret):
        raise DeliveryError("not_configured", "WECHAT_APPID / WECHAT_APPSECRET", channel=CHANNEL)
    for i, text in enumerate(messages):
        try:
            await asyncio.to_thread(_send_part, cfg, openid, text)
        except DeliveryError as e:
            e.delivered_parts, e.total_parts = i, len(messages)
            raise
