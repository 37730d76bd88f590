"""The WeChat side of the channel's tests, built independently of the channel's code.

Requests are built here: XML from string templates, signatures with hashlib, AES with the
`cryptography` library directly. The channel runs in a real Sanic server on a loopback port with a
stand-in bot (FakeBot; conftest.py's `start_channel`) or inside the real Rasa server (test_stack.py);
WeChat's API is the local stand-in (bot/stack/standins/wechat.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOKEN = "test-wechat-token"


APPID = "wx0123456789abcdef"


AES_KEY = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")  # 43 characters


ACCOUNT = "gh_0123456789ab"


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_encrypt(xml: str, appid: str = APPID, key43: str = AES_KEY) -> str:
    key = base64.b64decode(key43 + "=")
    raw = xml.encode()
    body = os.urandom(16) + struct.pack(">I", len(raw)) + raw + appid.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(body) + enc.finalize()).decode()


def aes_decrypt(encrypted: str, key43: str = AES_KEY) -> tuple[str, str]:
    key = base64.b64decode(key43 + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def new_openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def msg_id() -> str:
    return str(int(uuid.uuid4().int % 10**19))


def _xml(fields: list[tuple[str, str]]) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" if v.isdigit() else f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields)
    return f"<xml>{inner}</xml>"


def text_xml(openid: str, content: str, mid: str | None = None, created: int | None = None) -> str:
    return _xml([("ToUserName", ACCOUNT), ("FromUserName", openid), ("CreateTime", str(created or int(time.time()))),
                 ("MsgType", "text"), ("Content", content), ("MsgId", mid or msg_id())])  # fmt: skip


def event_xml(openid: str, event: str, key: str = "", created: int | None = None) -> str:
    fields = [("ToUserName", ACCOUNT), ("FromUserName", openid), ("CreateTime", str(created or int(time.time()))),
              ("MsgType", "event"), ("Event", event)]  # fmt: skip
    if key:
        fields.append(("EventKey", key))
    return _xml(fields)


def media_xml(openid: str, msg_type: str, extra: list[tuple[str, str]]) -> str:
    return _xml([("ToUserName", ACCOUNT), ("FromUserName", openid), ("CreateTime", str(int(time.time()))),
                 ("MsgType", msg_type), *extra, ("MsgId", msg_id())])  # fmt: skip


@dataclass
class Reply:
    status: int
    body: str
    elapsed: float
    content: str | None = None  # the text the citizen sees; None for "success" or a refusal


@dataclass
class WeChatServer:
    """Plays WeChat's part: signs (and encrypts) callbacks, checks the channel's answers."""

    url: str
    mode: str = "plain"  # plain | aes | compat

    async def post(
        self,
        xml: str,
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        signature: str | None = None,
        msg_signature: str | None = None,
        raw_body: bytes | None = None,
        encrypt_for: str = APPID,
        timeout: float = 20.0,
    ) -> Reply:
        ts = str(timestamp or int(time.time()))
        nonce = nonce or uuid.uuid4().hex[:10]
        params = {
            "timestamp": ts,
            "nonce": nonce,
            "signature": sha1_signature(TOKEN, ts, nonce) if signature is None else signature,
        }
        body = xml
        if self.mode in ("aes", "compat"):
            encrypted = aes_encrypt(xml, appid=encrypt_for)
            if self.mode == "aes":
                body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            else:  # compatible mode: the plaintext fields and the ciphertext side by side
                body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
            params.update(
                encrypt_type="aes", msg_signature=msg_signature or sha1_signature(TOKEN, ts, nonce, encrypted)
            )
        data = raw_body if raw_body is not None else body.encode()
        started = time.monotonic()
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, params=params, data=data, timeout=aiohttp.ClientTimeout(total=timeout)) as resp,
        ):
            text = await resp.text()
            reply = Reply(resp.status, text, time.monotonic() - started)
        if reply.status == 200 and text.strip() not in ("", "success"):
            reply.content = self.read(text, nonce)
        return reply

    def read(self, text: str, nonce: str) -> str:
        root = ET.fromstring(text)
        if self.mode in ("aes", "compat"):
            encrypted = root.findtext("Encrypt") or ""
            ts = root.findtext("TimeStamp") or ""
            assert root.findtext("MsgSignature") == sha1_signature(TOKEN, ts, root.findtext("Nonce") or "", encrypted)
            assert root.findtext("Nonce") == nonce
            inner, appid = aes_decrypt(encrypted)
            assert appid == APPID
            root = ET.fromstring(inner)
        assert root.findtext("FromUserName") == ACCOUNT
        assert root.findtext("MsgType") == "text"
        content = root.findtext("Content") or ""
        assert len(content.encode()) <= 2048
        return content


@dataclass
class FakeBot:
    """Answers like Rasa does (through the output channel), after `delay` seconds."""

    response: str = "utter_greet"
    delay: float = 0.0
    slots: dict[str, Any] = field(default_factory=dict)
    per_text: dict[str, tuple[str, float]] = field(default_factory=dict)  # text -> (response, delay)
    received: list[Any] = field(default_factory=list)

    async def __call__(self, message: Any) -> None:
        from bot.core import catalogue

        self.received.append(message)
        name, delay = self.per_text.get(message.text, (self.response, self.delay))
        await asyncio.sleep(delay)
        rendered = catalogue.load().render(name, **self.slots)
        await message.output_channel.send_response(
            message.sender_id, {"text": rendered["text"], "buttons": rendered["buttons"], "utter_action": name}
        )

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]


def approved(name: str, **slots: Any) -> str:
    from bot.core import catalogue

    return catalogue.load().text(name, **slots)


Start = Callable[..., Awaitable[WeChatServer]]


def audit_rows(sender_id: str) -> list[tuple[str | None, str]]:
    from bot.infra import db

    with db.session() as s:
        rows = s.query(db.AuditRecord).filter(db.AuditRecord.sender_id == sender_id).order_by(db.AuditRecord.id).all()
        return [(r.response, r.text) for r in rows]
