"""The channel's settings (from bot.infra.settings, i.e. the environment), checked at start-up."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from bot.infra import settings

CHANNEL = "wechat"
WECHAT_TIMEOUT_S = 5.0  # WeChat drops a callback that has not answered after 5 s, then retries

_BASE64_CHARS = re.compile(r"^[A-Za-z0-9+/]{43}$")


class ConfigError(ValueError):
    """The WeChat settings are unusable; the Rasa server refuses to start and names the setting."""


@dataclass(frozen=True)
class WeChatConfig:
    token: str
    appid: str
    appsecret: str
    aes_key: bytes | None  # the 32-byte AES key from the 43-character EncodingAESKey; None: plaintext
    api_base: str
    budget_s: float
    customer_service: bool
    http_timeout_s: float

    @classmethod
    def load(cls, cfg: settings.Settings | None = None) -> WeChatConfig:
        cfg = cfg or settings.load()
        if not cfg.wechat_token:
            raise ConfigError("WECHAT_TOKEN is empty")
        key = decode_aes_key(cfg.wechat_aes_key) if cfg.wechat_aes_key else None
        if key is not None and not cfg.wechat_appid:
            raise ConfigError("WECHAT_APPID is required when WECHAT_AES_KEY is set (the decrypted AppId is checked)")
        base = cfg.wechat_api_base if cfg.wechat_api_base.endswith("/") else cfg.wechat_api_base + "/"
        if not base.startswith(("https://", "http://")):
            raise ConfigError("WECHAT_API_BASE must be an http(s) URL")
        budget = cfg.wechat_reply_budget_s
        if not 0 < budget < WECHAT_TIMEOUT_S:
            raise ConfigError(f"WECHAT_REPLY_BUDGET_S must be between 0 and {WECHAT_TIMEOUT_S:g} seconds")
        return cls(
            token=cfg.wechat_token,
            appid=cfg.wechat_appid,
            appsecret=cfg.wechat_appsecret,
            aes_key=key,
            api_base=base,
            budget_s=budget,
            customer_service=cfg.wechat_customer_service,
            http_timeout_s=max(cfg.http_timeout_s, 0.5),
        )

    @property
    def can_push(self) -> bool:
        return bool(self.customer_service and self.appid and self.appsecret)


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The EncodingAESKey (43 characters of base64) as the 32-byte AES key, or ConfigError."""
    if len(encoding_aes_key) != 43:
        raise ConfigError(f"WECHAT_AES_KEY must be 43 characters (it has {len(encoding_aes_key)})")
    if not _BASE64_CHARS.match(encoding_aes_key):
        raise ConfigError("WECHAT_AES_KEY may contain only letters, digits, '+' and '/'")
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # cannot happen with 43 valid characters; kept as the invariant
        raise ConfigError("WECHAT_AES_KEY does not decode to a 32-byte key")
    return key
