"""The WeChat 公众号 channel, as WeChat's servers and a citizen would see it.

Requests are built here independently of the channel's code: XML from string templates,
signatures with hashlib, AES with the `cryptography` library directly. Golden vectors come from
wechatpy's own tests, each with a failing twin. The channel runs in a real Sanic server on a
loopback port with a stand-in bot (unit tests) or inside the real Rasa server (stack tests);
WeChat's API is the local stand-in (bot/stack/standins/wechat.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import struct
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import yaml
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stack.processes import PY, ROOT, free_port, request_json, wait_http
from bot.stack.standins.wechat import WeChatStandIn

TOKEN = "test-wechat-token"
APPID = "wx0123456789abcdef"
AES_KEY = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")  # 43 characters
ACCOUNT = "gh_0123456789ab"

# golden vectors from wechatpy's tests (tests/test_crypto.py, tests/test_utils.py)
GV_TOKEN = "123456"
GV_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
GV_APPID = "wx49f0ab532d5d035a"
GV_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQq"
    "Gp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS7"
    "09/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
GV_MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
GV_TIMESTAMP = "1411525903"
GV_NONCE = "461056294"
GV_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
GV_REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesE"
    "l5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsD"
    "f03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nT"
    "YjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
GV_REPLY_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"


# ------------------------------------------------------------------------------------ independent WeChat side
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


# ------------------------------------------------------------------------------------ a stand-in bot
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


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def standin() -> Iterator[WeChatStandIn]:
    s = WeChatStandIn(appid=APPID).start()
    yield s
    s.stop()


@pytest.fixture()
def wechat_env(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, db_url: str, standin: WeChatStandIn
) -> pytest.MonkeyPatch:
    from channels import wechat

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
    wechat._client_for.cache_clear()
    return monkeypatch


Start = Callable[..., Awaitable[WeChatServer]]


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


def audit_rows(sender_id: str) -> list[tuple[str | None, str]]:
    from bot.infra import db

    with db.session() as s:
        rows = s.query(db.AuditRecord).filter(db.AuditRecord.sender_id == sender_id).order_by(db.AuditRecord.id).all()
        return [(r.response, r.text) for r in rows]


# ------------------------------------------------------------------------------------ golden vectors
def test_signature_golden_vector_and_its_failing_twin() -> None:
    from channels.wechat import signature_ok

    assert signature_ok("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "test", "1410685589", "test")
    assert not signature_ok("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "test", "1410685589", "tesu")
    assert not signature_ok("f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "test", "1410685589", "test")
    assert not signature_ok("", "test", "1410685589", "test")


def test_msg_signature_and_aes_golden_vectors_and_their_failing_twins() -> None:
    from channels.wechat import Refused, decode_aes_key, decrypt, signature_ok

    assert signature_ok(GV_MSG_SIGNATURE, GV_TOKEN, GV_TIMESTAMP, GV_NONCE, GV_ENCRYPT)
    assert not signature_ok(GV_MSG_SIGNATURE, GV_TOKEN, GV_TIMESTAMP, "461056295", GV_ENCRYPT)

    key = decode_aes_key(GV_AES_KEY)
    inner = ET.fromstring(decrypt(key, GV_APPID, GV_ENCRYPT))
    assert inner.findtext("Content") == "test"
    assert inner.findtext("FromUserName") == "messense"
    # the same ciphertext for another account: the AppId inside is not ours
    with pytest.raises(Refused) as wrong_appid:
        decrypt(key, "wx00000000000000ff", GV_ENCRYPT)
    assert wrong_appid.value.status == 403
    # one block changed: it no longer decrypts to anything with our AppId
    tampered = GV_ENCRYPT[:40] + ("A" if GV_ENCRYPT[40] != "A" else "B") + GV_ENCRYPT[41:]
    with pytest.raises(Refused) as bad:
        decrypt(key, GV_APPID, tampered)
    assert bad.value.status in (400, 403)


def test_reply_encryption_golden_vector() -> None:
    from channels.wechat import WeChatConfig, decode_aes_key, encrypt_envelope

    cfg = WeChatConfig(GV_TOKEN, GV_APPID, "secret", decode_aes_key(GV_AES_KEY), "http://127.0.0.1/", 4.0, True, 5.0)
    envelope = ET.fromstring(encrypt_envelope(cfg, GV_REPLY, GV_NONCE, GV_TIMESTAMP, random16="1234567890123456"))
    assert envelope.findtext("Encrypt") == GV_REPLY_ENCRYPT
    assert envelope.findtext("MsgSignature") == GV_REPLY_SIGNATURE
    other = ET.fromstring(encrypt_envelope(cfg, GV_REPLY, GV_NONCE, GV_TIMESTAMP, random16="1234567890123457"))
    assert other.findtext("Encrypt") != GV_REPLY_ENCRYPT


@pytest.mark.parametrize(
    ("key", "appid", "problem"),
    [
        (AES_KEY[:42], APPID, "43 characters"),
        (AES_KEY + "A", APPID, "43 characters"),
        (AES_KEY[:42] + "=", APPID, "letters, digits"),
        (AES_KEY, "", "WECHAT_APPID"),
    ],
)
def test_encoding_aes_key_is_checked_at_start_up(
    wechat_env: pytest.MonkeyPatch, key: str, appid: str, problem: str
) -> None:
    from channels.wechat import ConfigError, WeChatInput

    wechat_env.setenv("WECHAT_AES_KEY", key)
    wechat_env.setenv("WECHAT_APPID", appid)
    with pytest.raises(ConfigError, match=problem):
        WeChatInput()
    wechat_env.setenv("WECHAT_AES_KEY", AES_KEY)
    wechat_env.setenv("WECHAT_APPID", APPID)
    assert WeChatInput().cfg.aes_key == bytes(range(1, 33))


# ------------------------------------------------------------------------------------ URL verification
async def test_url_verification_echoes_echostr_only_when_signed(start_channel: Start) -> None:
    wechat = await start_channel(FakeBot())
    ts, nonce, echostr = str(int(time.time())), "8735", "6982794174283610725"

    async def get(params: dict[str, str]) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.get(wechat.url, params=params) as r:
            return r.status, await r.text()

    good = {"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}
    assert await get(good) == (200, echostr)
    assert (await get({**good, "signature": sha1_signature("other-token", ts, nonce)}))[0] == 403
    old = str(int(time.time()) - 3600)
    assert (await get({**good, "timestamp": old, "signature": sha1_signature(TOKEN, old, nonce)}))[0] == 403
    assert (await get({k: v for k, v in good.items() if k != "echostr"}))[0] == 400


# ------------------------------------------------------------------------------------ the three modes
async def test_plaintext_message_is_answered_passively(start_channel: Start) -> None:
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "你好"))
    assert reply.status == 200
    assert reply.content == approved("utter_greet")
    assert bot.texts == ["你好"]
    assert bot.received[0].sender_id == openid and bot.received[0].input_channel == "wechat"
    assert ("utter_greet", approved("utter_greet")) in audit_rows(openid)


async def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(
    start_channel: Start, wechat_env: pytest.MonkeyPatch
) -> None:
    wechat_env.setenv("WECHAT_AES_KEY", AES_KEY)
    bot = FakeBot("utter_thank")
    wechat = await start_channel(bot, mode="aes")
    reply = await wechat.post(text_xml(new_openid(), "谢谢你们"))
    assert reply.status == 200
    assert "<Content>" not in reply.body and "谢谢" not in reply.body  # nothing in the clear
    assert reply.content == approved("utter_thank")  # read() checked MsgSignature and AppId
    assert bot.texts == ["谢谢你们"]


async def test_compatible_mode_trusts_only_the_ciphertext(start_channel: Start, wechat_env: pytest.MonkeyPatch) -> None:
    wechat_env.setenv("WECHAT_AES_KEY", AES_KEY)
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot, mode="compat")
    openid = new_openid()
    genuine = text_xml(openid, "你好", mid="1001")
    encrypted = aes_encrypt(genuine)
    # someone on the way replaced the (unauthenticated) plaintext copy
    forged_plain = text_xml(openid, "我要投诉", mid="1001").replace(
        "</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    ts, nonce = str(int(time.time())), "n1"
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            wechat.url,
            params={
                "timestamp": ts,
                "nonce": nonce,
                "signature": sha1_signature(TOKEN, ts, nonce),
                "encrypt_type": "aes",
                "msg_signature": sha1_signature(TOKEN, ts, nonce, encrypted),
            },  # fmt: skip
            data=forged_plain.encode(),
        ) as r,
    ):
        assert r.status == 200
        assert wechat.read(await r.text(), nonce) == approved("utter_greet")
    assert bot.texts == ["你好"]


# ------------------------------------------------------------------------------------ refusals
DTD_BOMB = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>
<FromUserName><![CDATA[oAttacker000000000000000000]]></FromUserName><CreateTime>{t}</CreateTime>
<MsgType><![CDATA[text]]></MsgType><Content>&c;</Content><MsgId>42</MsgId></xml>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>
<ToUserName>gh_0123456789ab</ToUserName><FromUserName>oAttacker000000000000000000</FromUserName>
<CreateTime>{t}</CreateTime><MsgType>text</MsgType><Content>&x;</Content><MsgId>43</MsgId></xml>"""
DOCTYPE_ONLY = """<?xml version="1.0"?><!DOCTYPE xml><xml><ToUserName>gh_0123456789ab</ToUserName>
<FromUserName>oAttacker000000000000000000</FromUserName><CreateTime>{t}</CreateTime><MsgType>text</MsgType>
<Content>hi</Content><MsgId>44</MsgId></xml>"""


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ("forged signature", 403),
        ("no signature", 403),
        ("replayed (6 minutes old)", 403),
        ("from the future", 403),
        ("oversized body", 400),
        ("malformed XML", 400),
        ("not UTF-8", 400),
        ("entity expansion (DTD)", 400),
        ("external entity", 400),
        ("doctype", 400),
        ("missing sender", 400),
        ("not <xml>", 400),
    ],
)
async def test_plaintext_attacks_are_refused_and_never_processed(
    start_channel: Start, attack: str, expected: int
) -> None:
    bot = FakeBot()
    wechat = await start_channel(bot)
    now = int(time.time())
    good = text_xml(new_openid(), "你好")
    kwargs: dict[str, Any] = {}
    xml = good
    if attack == "forged signature":
        kwargs["signature"] = sha1_signature("guessed-token", str(now), "abc")
        kwargs["nonce"] = "abc"
    elif attack == "no signature":
        kwargs["signature"] = ""
    elif attack == "replayed (6 minutes old)":
        kwargs["timestamp"] = now - 360
    elif attack == "from the future":
        kwargs["timestamp"] = now + 360
    elif attack == "oversized body":
        xml = text_xml(new_openid(), "长" * 20000)
    elif attack == "malformed XML":
        xml = good.replace("</Content>", "")
    elif attack == "not UTF-8":
        kwargs["raw_body"] = good.replace("你好", "").encode() + b"\xff\xfe<"
    elif attack == "entity expansion (DTD)":
        xml = DTD_BOMB.format(t=now)
    elif attack == "external entity":
        xml = EXTERNAL_ENTITY.format(t=now)
    elif attack == "doctype":
        xml = DOCTYPE_ONLY.format(t=now)
    elif attack == "missing sender":
        xml = re.sub(r"<FromUserName>.*?</FromUserName>", "", good)
    elif attack == "not <xml>":
        xml = good.replace("<xml>", "<root>").replace("</xml>", "</root>")
    reply = await wechat.post(xml, **kwargs)
    assert reply.status == expected, reply.body
    assert reply.content is None
    assert bot.received == []


@pytest.mark.parametrize(
    "attack",
    [
        "forged msg_signature",
        "another account's AppId",
        "ciphertext does not decrypt",
        "not base64",
        "plaintext while safe mode is on",
        "no Encrypt element",
        "DTD in the envelope",
    ],  # fmt: skip
)
async def test_safe_mode_attacks_are_refused_and_never_processed(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, attack: str
) -> None:
    wechat_env.setenv("WECHAT_AES_KEY", AES_KEY)
    bot = FakeBot()
    wechat = await start_channel(bot, mode="aes")
    good = text_xml(new_openid(), "你好")
    ts, nonce = str(int(time.time())), "n2"
    params = {"timestamp": ts, "nonce": nonce, "signature": sha1_signature(TOKEN, ts, nonce), "encrypt_type": "aes"}

    def envelope(encrypted: str) -> str:
        return f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"

    encrypted = aes_encrypt(good)
    body = envelope(encrypted)
    params["msg_signature"] = sha1_signature(TOKEN, ts, nonce, encrypted)
    if attack == "forged msg_signature":
        params["msg_signature"] = sha1_signature("guessed", ts, nonce, encrypted)
    elif attack == "another account's AppId":
        other = aes_encrypt(good, appid="wxffffffffffffffff")
        body, params["msg_signature"] = envelope(other), sha1_signature(TOKEN, ts, nonce, other)
    elif attack == "ciphertext does not decrypt":
        junk = base64.b64encode(os.urandom(96)).decode()
        body, params["msg_signature"] = envelope(junk), sha1_signature(TOKEN, ts, nonce, junk)
    elif attack == "not base64":
        junk = "这不是密文" * 10
        body, params["msg_signature"] = envelope(junk), sha1_signature(TOKEN, ts, nonce, junk)
    elif attack == "plaintext while safe mode is on":
        body = good
        del params["encrypt_type"], params["msg_signature"]
    elif attack == "no Encrypt element":
        body = f"<xml><ToUserName>{ACCOUNT}</ToUserName></xml>"
    elif attack == "DTD in the envelope":
        body = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]>' + envelope(encrypted)
    async with aiohttp.ClientSession() as s, s.post(wechat.url, params=params, data=body.encode()) as r:
        assert r.status in (400, 403), await r.text()
    assert bot.received == []


async def test_control_characters_are_stripped_before_parsing(start_channel: Start) -> None:
    bot = FakeBot()
    wechat = await start_channel(bot)
    reply = await wechat.post(text_xml(new_openid(), "社保\x01卡\x0b怎么\x1f办"))
    assert reply.status == 200 and reply.content == approved("utter_greet")
    assert bot.texts == ["社保卡怎么办"]


async def test_cdata_terminator_in_a_reply_keeps_the_xml_well_formed(start_channel: Start) -> None:
    bot = FakeBot("utter_handoff", slots={"ticket_id": "20261126-]]><x>", "sla_text": "2小时"})
    wechat = await start_channel(bot)
    reply = await wechat.post(text_xml(new_openid(), "人工"))
    assert reply.content == approved("utter_handoff", ticket_id="20261126-]]><x>", sla_text="2小时")
    assert "]]><x>" in reply.content


def test_text_reply_xml_survives_any_text() -> None:
    from channels.wechat import text_reply_xml

    for text in ["a]]>b", "]]>]]>", "<![CDATA[x]]>", "a\x00b\x1fc", "&amp; <b>"]:
        parsed = ET.fromstring(text_reply_xml("o1", ACCOUNT, text))
        assert parsed.findtext("Content") == re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)


# ------------------------------------------------------------------------------------ duplicates
async def test_three_concurrent_deliveries_reach_the_bot_once_and_get_its_reply(start_channel: Start) -> None:
    bot = FakeBot("utter_thank", delay=0.3)
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢", mid="7000000000000000001")
    replies = await asyncio.gather(*(wechat.post(xml) for _ in range(3)))
    assert [r.content for r in replies] == [approved("utter_thank")] * 3
    assert len(bot.received) == 1
    # a late retry (WeChat did not get our answer) gets the same reply, still without a second turn
    again = await wechat.post(xml)
    assert again.content == approved("utter_thank")
    assert len(bot.received) == 1
    assert [r for r in audit_rows(openid) if r[0] == "utter_thank"] == [("utter_thank", approved("utter_thank"))]


async def test_concurrent_deliveries_of_a_reply_too_long_for_one_message_push_it_once(
    start_channel: Start, standin: WeChatStandIn
) -> None:
    import redis

    bot = FakeBot("utter_thank", delay=0.2)
    wechat = await start_channel(bot)
    openid = new_openid()
    owed = "您好，您上次反映的问题已经转交相关部门处理，处理结果会及时告知您。" * 40  # about 4,000 bytes
    redis.Redis.from_url(os.environ["REDIS_URL"]).rpush(f"wechat:outbox:{openid}", owed)
    xml = text_xml(openid, "谢谢")
    replies = await asyncio.gather(*(wechat.post(xml) for _ in range(3)))
    assert [r.body for r in replies] == ["success"] * 3  # several messages: all through the API, in order
    sent = await standin.wait_for(openid, 4, timeout=10)
    await asyncio.sleep(0.5)
    sent = standin.sent_to(openid)
    # the owed text in parts, then the reply: each once, in order
    assert len(sent) == len(set(sent)) == 4, sent
    assert [p[:5] for p in sent[:3]] == ["（1/3）", "（2/3）", "（3/3）"]
    assert "".join(p[5:] for p in sent[:3]) == owed
    assert sent[3] == approved("utter_thank")
    assert len(bot.received) == 1


async def test_event_retries_are_deduplicated_by_sender_and_time(start_channel: Start) -> None:
    wechat = await start_channel(FakeBot())
    openid = new_openid()
    created = int(time.time())
    first = await wechat.post(event_xml(openid, "subscribe", created=created))
    retry = await wechat.post(event_xml(openid, "subscribe", created=created))
    assert first.content == retry.content == approved("utter_welcome_subscribe")
    assert [r[0] for r in audit_rows(openid)] == ["utter_welcome_subscribe"]
    later = await wechat.post(event_xml(openid, "subscribe", created=created + 30))  # a new event
    assert later.content == approved("utter_welcome_subscribe")
    assert [r[0] for r in audit_rows(openid)] == ["utter_welcome_subscribe"] * 2


# ------------------------------------------------------------------------------------ the 5-second rule
async def test_slow_turn_answers_wechat_in_time_and_pushes_the_reply_once(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "0.5")
    bot = FakeBot("utter_thank", delay=2.5)
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢")
    reply = await wechat.post(xml)
    assert reply.status == 200 and reply.body == "success"
    assert reply.elapsed < 2.0  # the budget, not the bot, decided (WeChat's limit is 5 s)
    retry = await wechat.post(xml)  # WeChat retrying meanwhile: no second turn, no passive copy
    assert retry.body == "success" and retry.elapsed < 2.0
    assert await standin.wait_for(openid, 1, timeout=10) == [approved("utter_thank")]
    await asyncio.sleep(1.0)
    assert standin.sent_to(openid) == [approved("utter_thank")]
    assert len(bot.received) == 1


async def test_fast_turn_is_not_pushed(start_channel: Start, standin: WeChatStandIn) -> None:
    wechat = await start_channel(FakeBot("utter_thank", delay=0.1))
    openid = new_openid()
    assert (await wechat.post(text_xml(openid, "谢谢"))).content == approved("utter_thank")
    await asyncio.sleep(0.5)
    assert standin.sent_to(openid) == []


async def test_passive_only_account_waits_through_wechats_retries(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels import wechat as channel

    wechat_env.setenv("WECHAT_CUSTOMER_SERVICE", "false")
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "0.3")
    wechat_env.setattr(channel, "WECHAT_TIMEOUT_S", 0.8)  # WeChat's 5 s, shortened for the test
    wechat_env.setattr(channel, "HOLD_MARGIN_S", 0.2)
    bot = FakeBot("utter_thank", delay=1.2)
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢")
    with pytest.raises(asyncio.TimeoutError):  # WeChat gives up on the first delivery ...
        await wechat.post(xml, timeout=0.8)
    retry = await wechat.post(xml)  # ... and its retry gets the reply passively
    assert retry.content == approved("utter_thank")
    assert len(bot.received) == 1
    assert standin.sent_to(openid) == []


async def test_passive_only_reply_after_the_last_retry_comes_with_the_next_message(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels import wechat as channel

    wechat_env.setenv("WECHAT_CUSTOMER_SERVICE", "false")
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "0.2")
    wechat_env.setattr(channel, "WECHAT_TIMEOUT_S", 0.4)
    wechat_env.setattr(channel, "HOLD_MARGIN_S", 0.1)
    bot = FakeBot(per_text={"谢谢": ("utter_thank", 2.5), "你好": ("utter_greet", 0.0)})
    wechat = await start_channel(bot)
    openid = new_openid()
    xml = text_xml(openid, "谢谢")
    for _ in range(2):
        with pytest.raises(asyncio.TimeoutError):
            await wechat.post(xml, timeout=0.4)
    last = await wechat.post(xml)  # the third delivery: answered before WeChat's limit
    assert last.body == "success" and last.elapsed < 0.4 + 0.5
    await asyncio.sleep(2.0)  # the slow turn finishes with nobody waiting
    nxt = await wechat.post(text_xml(openid, "你好"))
    assert nxt.content == approved("utter_thank") + "\n\n" + approved("utter_greet")
    assert standin.sent_to(openid) == []
    again = await wechat.post(text_xml(openid, "你好"))  # owed only once
    assert again.content == approved("utter_greet")


# ------------------------------------------------------------------------------------ long texts
async def test_a_5000_character_answer_arrives_as_well_formed_parts(
    wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels.senders import get_sender

    paragraphs = [
        "第{}段：{}".format(i, "市民您好，关于您反映的情况，我们已转交相关部门办理。" * 6) for i in range(1, 40)
    ]
    text = "\n".join(paragraphs)[:5000]
    assert len(text) == 5000
    openid = new_openid()
    await get_sender("wechat").send_agent_text(openid, text, agent="agent1", ticket_id="20261126-000001")
    parts = standin.sent_to(openid)
    assert len(parts) >= 8  # about 15,000 bytes
    found = [re.match(r"^（(\d+)/(\d+)）(.*)$", p, re.DOTALL) for p in parts]
    assert all(found), parts
    numbered = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in found if m]
    assert [(i, n) for i, n, _ in numbered] == [(i, len(parts)) for i in range(1, len(parts) + 1)]
    assert all(len(p.encode("utf-8")) <= 2048 for p in parts)
    bodies = [b for _, _, b in numbered]
    assert "".join(bodies) == text  # nothing lost, nothing cut inside a character
    assert all(b.endswith(("\n", "。", "，")) for b in bodies[:-1])  # cut where a reader pauses


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000))
@settings(max_examples=150, deadline=None)
def test_split_never_breaks_a_character_or_exceeds_the_limit(text: str) -> None:
    from channels.wechat import split_text

    limit = 300
    parts = split_text(text, limit)
    if len(text.encode()) <= limit:
        assert parts == [text]
        return
    body = [re.sub(r"^（\d+/\d+）", "", p, count=1) for p in parts]
    assert "".join(body) == text
    assert all(len(p.encode("utf-8")) <= limit for p in parts)
    assert all(b for b in body)


# ------------------------------------------------------------------------------------ customer-service sender
async def test_48_hour_window_and_45015_are_reported_to_the_desk(
    wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    import redis

    from channels.senders import DeliveryError, get_sender

    openid = new_openid()
    standin.fail_with[openid] = 45015
    with pytest.raises(DeliveryError) as refused:
        await get_sender("wechat").send_agent_text(openid, "您好，您的问题已办结。", agent="agent1", ticket_id="T1")
    assert refused.value.reason == "window_expired" and "48小时" in refused.value.message
    # the citizen's last message is known to be older than 48 h: refused without calling WeChat
    quiet = new_openid()
    redis.Redis.from_url(os.environ["REDIS_URL"]).set(f"wechat:seen:{quiet}", str(time.time() - 49 * 3600))
    with pytest.raises(DeliveryError) as expired:
        await get_sender("wechat").send_agent_text(quiet, "您好", agent="agent1", ticket_id="T2")
    assert expired.value.reason == "window_expired"
    assert standin.sent_to(quiet) == []
    assert audit_rows(quiet) == []  # not recorded as sent


async def test_access_token_is_shared_in_redis_and_refreshed_once(
    wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    import redis

    from channels.senders import get_sender

    openid = new_openid()
    for i in range(3):
        await get_sender("wechat").send_agent_text(openid, f"您好，第{i}条", agent="a", ticket_id="T")
    assert standin.token_fetches == 1
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    stored = json.loads(r.get(f"wechat:token:{APPID}_access_token") or "null")
    assert stored in standin.tokens
    assert 0 < r.ttl(f"wechat:token:{APPID}_access_token") <= 7200 - 300
    standin.invalidate_tokens()  # WeChat expired it early: 40001, one refresh, the message still goes
    await asyncio.gather(
        *(get_sender("wechat").send_agent_text(openid, "您好，再次联系", agent="a", ticket_id="T") for _ in range(3))
    )
    assert standin.token_fetches == 2
    assert len(standin.sent_to(openid)) == 6


async def test_passive_only_account_delivers_agent_replies_with_the_next_message(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels.senders import DeliveryError, get_sender

    wechat_env.setenv("WECHAT_CUSTOMER_SERVICE", "false")
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    long_reply = "您好，关于您反映的小区噪音问题，执法人员已到现场核查并责令整改。" * 60
    with pytest.raises(DeliveryError) as deferred:
        await get_sender("wechat").send_agent_text(openid, long_reply, agent="agent1", ticket_id="T3")
    assert deferred.value.reason == "deferred"
    first = await wechat.post(text_xml(openid, "你好"))
    assert first.content is not None and first.content.startswith("（1/")
    assert first.content.endswith(approved("utter_wechat_more"))
    received = [first.content]
    while received[-1].endswith(approved("utter_wechat_more")) and len(received) < 10:
        more = await wechat.post(text_xml(openid, "继续"))
        assert more.content is not None
        received.append(more.content)
    assert bot.texts == ["你好"]  # "继续" took the next part; it did not go to the bot
    body = "".join(re.sub(r"^（\d+/\d+）", "", c).replace("\n\n" + approved("utter_wechat_more"), "") for c in received)
    assert body == long_reply + "\n\n" + approved("utter_greet")
    assert standin.sent_to(openid) == []


# ------------------------------------------------------------------------------------ messages and events
async def test_buttons_become_numbered_replies(start_channel: Start) -> None:
    bot = FakeBot(per_text={"啊": ("utter_offer_human", 0.0)})
    wechat = await start_channel(bot)
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "啊"))
    assert reply.content == approved("utter_offer_human") + "\n\n回复 1：转人工\n回复 2：我再换个说法"
    await wechat.post(text_xml(openid, "１"))  # a full-width digit, as phone keyboards often send
    assert bot.texts[-1] == "/request_human"
    await wechat.post(text_xml(openid, "2"))  # the last answer had no choices: 2 is just text
    assert bot.texts[-1] == "2"


async def test_location_fills_the_report_location(start_channel: Start) -> None:
    bot = FakeBot("utter_thank")
    wechat = await start_channel(bot)
    xml = media_xml(new_openid(), "location", [("Location_X", "23.134521"), ("Location_Y", "113.358803"),
                                               ("Scale", "20"), ("Label", "广州市天河区天河路1号")])  # fmt: skip
    await wechat.post(xml)
    assert bot.received[0].metadata["location"] == "广州市天河区天河路1号 (23.134521,113.358803)"
    assert bot.texts == ["广州市天河区天河路1号 (23.134521,113.358803)"]


async def test_voice_is_read_through_wechats_recognition(start_channel: Start) -> None:
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    heard = await wechat.post(
        media_xml(openid, "voice", [("MediaId", "m1"), ("Format", "amr"), ("Recognition", "社保卡怎么办理")])
    )
    assert heard.content == approved("utter_greet")
    assert bot.texts == ["社保卡怎么办理"]
    unheard = await wechat.post(media_xml(openid, "voice", [("MediaId", "m2"), ("Format", "amr")]))
    assert unheard.content == approved("utter_voice_not_recognized")
    assert len(bot.received) == 1


async def test_media_gets_the_approved_reply_and_joins_a_handed_off_ticket(start_channel: Start) -> None:
    from bot.core import handoff, tickets

    bot = FakeBot()
    wechat = await start_channel(bot)
    openid = new_openid()
    image = media_xml(openid, "image", [("PicUrl", "http://mmbiz.example/pic.jpg"), ("MediaId", "media-123")])
    assert (await wechat.post(image)).content == approved("utter_unsupported_media")
    link = media_xml(openid, "link", [("Title", "通知"), ("Description", "d"), ("Url", "https://example.org/a")])
    assert (await wechat.post(link)).content == approved("utter_unsupported_media")
    ticket, _ = tickets.create(idempotency_key=f"t-{openid}", channel="wechat", sender_id=openid,
                               topic="request_human", summary="转人工", handoff=True)  # fmt: skip
    handoff.start(openid, ticket["id"], "wechat")
    video = media_xml(openid, "video", [("MediaId", "media-456"), ("ThumbMediaId", "thumb")])
    assert (await wechat.post(video)).content == approved("utter_unsupported_media")
    attachments = tickets.get(ticket["id"])["attachments"]
    assert [(a["type"], a["media_id"]) for a in attachments] == [("video", "media-456")]
    assert bot.received == []


async def test_media_during_a_report_waits_for_the_reports_ticket(start_channel: Start) -> None:
    import redis

    from channels.wechat import pending_attachments_key

    @dataclass
    class Tracker:
        active_loop_name: str | None

    class TrackerStore:
        def __init__(self) -> None:
            self.loop: str | None = "report_form"

        async def retrieve(self, sender_id: str) -> Tracker:
            return Tracker(self.loop)

    @dataclass
    class Agent:
        tracker_store: TrackerStore

    store = TrackerStore()
    bot = FakeBot()
    wechat = await start_channel(bot, agent=Agent(store))
    openid = new_openid()
    image = media_xml(openid, "image", [("PicUrl", "http://mmbiz.example/p.jpg"), ("MediaId", "media-789")])
    assert (await wechat.post(image)).content == approved("utter_unsupported_media")
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    kept = [json.loads(x) for x in r.lrange(pending_attachments_key(openid), 0, -1)]
    assert [(a["type"], a["media_id"], a["platform"]) for a in kept] == [("image", "media-789", "wechat")]
    # the report is filed (the form ends with a ticket): the next turn puts the image on it
    from bot.core import tickets

    ticket, _ = tickets.create(idempotency_key=f"r-{openid}", channel="wechat", sender_id=openid,
                               topic="report_noise", summary="噪音扰民")  # fmt: skip
    store.loop = None
    await wechat.post(text_xml(openid, "谢谢"))
    assert [a["media_id"] for a in tickets.get(ticket["id"])["attachments"]] == ["media-789"]
    assert r.llen(pending_attachments_key(openid)) == 0
    # no report being filed: nothing is kept
    other = new_openid()
    await wechat.post(media_xml(other, "image", [("PicUrl", "http://mmbiz.example/q.jpg"), ("MediaId", "m-0")]))
    assert r.llen(pending_attachments_key(other)) == 0
    assert bot.texts == ["谢谢"]


async def test_menu_clicks_are_mapped_to_what_the_citizen_means(start_channel: Start) -> None:
    bot = FakeBot("utter_greet")
    wechat = await start_channel(bot)
    openid = new_openid()
    await wechat.post(event_xml(openid, "CLICK", key="HUMAN"))
    await wechat.post(event_xml(openid, "CLICK", key="REPORT_NOISE", created=int(time.time()) + 1))
    assert bot.texts == ["/request_human", "我要投诉噪音扰民"]
    unknown = await wechat.post(event_xml(openid, "CLICK", key="NO_SUCH_KEY", created=int(time.time()) + 2))
    assert unknown.content == approved("utter_how_can_i_help")
    view = await wechat.post(event_xml(openid, "VIEW", key="https://example.org", created=int(time.time()) + 3))
    assert view.body == "success"
    assert len(bot.received) == 2


def test_menu_configuration_is_complete_and_names_real_intents() -> None:
    from channels.wechat import MENU_FILE, load_menu

    menu = load_menu()
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    for key, value in menu.keys.items():
        if value.startswith("/"):
            assert value[1:].split("{")[0] in intents, f"{key} -> {value}"
        else:
            assert len(value) < 12, f"{key}: the report form would take {value!r} as the description"
    raw = yaml.safe_load(MENU_FILE.read_text(encoding="utf-8"))
    assert len(raw["menu"]["button"]) <= 3
    assert all(len(b.get("sub_button") or []) <= 5 for b in raw["menu"]["button"])


async def test_subscribe_welcomes_and_unsubscribe_cleans_up(start_channel: Start) -> None:
    import redis

    bot = FakeBot(per_text={"啊": ("utter_offer_human", 0.0)})
    wechat = await start_channel(bot)
    openid = new_openid()
    welcome = await wechat.post(event_xml(openid, "subscribe", key="qrscene_hall_3"))  # from a QR poster
    assert welcome.content == approved("utter_welcome_subscribe")
    await wechat.post(text_xml(openid, "啊"))
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    r.rpush(f"wechat:outbox:{openid}", "欠着的回复")
    assert r.exists(f"wechat:buttons:{openid}", f"wechat:seen:{openid}") == 2
    bye = await wechat.post(event_xml(openid, "unsubscribe", created=int(time.time()) + 1))
    assert bye.body == "success"
    assert r.exists(f"wechat:buttons:{openid}", f"wechat:outbox:{openid}", f"wechat:seen:{openid}") == 0
    assert bot.texts == ["啊"]


async def test_redis_outage_gets_a_polite_answer_not_an_error(
    start_channel: Start, wechat_env: pytest.MonkeyPatch
) -> None:
    bot = FakeBot()
    wechat_env.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    wechat = await start_channel(bot)
    reply = await wechat.post(text_xml(new_openid(), "你好"))
    assert reply.status == 200
    assert reply.content == approved("utter_service_busy")
    assert bot.received == []


# ------------------------------------------------------------------------------------ the real stack
@dataclass
class WeChatStack:
    rasa_url: str
    standin: WeChatStandIn
    fast: WeChatServer  # replica A: the normal budget
    slow: WeChatServer  # replica B: same Redis, a budget no real turn can meet

    def user_messages(self, sender_id: str) -> list[dict[str, Any]]:
        status, tracker = request_json("GET", f"{self.rasa_url}/conversations/{sender_id}/tracker")
        assert status == 200, tracker
        return [e for e in tracker["events"] if e.get("event") == "user"]


@pytest.fixture(scope="module")
def wechat_stack(stack: Any) -> Iterator[WeChatStack]:
    """Two Rasa replicas with the WeChat channel beside the shared stack (same Redis and actions):
    A with the normal budget, B with a budget no real turn can meet."""
    standin = WeChatStandIn(appid=APPID).start()
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_APPSECRET": standin.secret,
           "WECHAT_API_BASE": standin.base_url, "RATE_LIMIT_PER_MINUTE": "200"}  # fmt: skip
    procs: list[subprocess.Popen] = []
    try:
        ports = []
        for name, budget in (("wechat-a", "4.0"), ("wechat-b", "0.001")):
            port = free_port()
            log = stack.workdir / f"{name}.log"
            procs.append(
                subprocess.Popen(
                    [PY, "-m", "bot.ops.launch", "rasa"],
                    cwd=ROOT,
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                    env={**stack.env, **env, "RASA_PORT": str(port), "WECHAT_REPLY_BUDGET_S": budget},
                )  # fmt: skip
            )
            ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            wait_http(f"http://127.0.0.1:{port}/", timeout=900, proc=proc)
            request_json(
                "POST",
                f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                {"sender": "warmup", "message": "你好"},
                timeout=120,
            )
        yield WeChatStack(
            f"http://127.0.0.1:{ports[0]}",
            standin,
            WeChatServer(f"http://127.0.0.1:{ports[0]}/webhooks/wechat/"),
            WeChatServer(f"http://127.0.0.1:{ports[1]}/webhooks/wechat/"),
        )
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        standin.stop()


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_answers_a_citizen_passively_with_an_approved_reply(wechat_stack: WeChatStack) -> None:
    from bot.core import catalogue

    openid = new_openid()
    reply = await wechat_stack.fast.post(text_xml(openid, "你好"))
    assert reply.status == 200 and reply.content
    name = catalogue.load().match(reply.content.split("\n\n回复 1：")[0])
    assert name is not None and name != "utter_safe_fallback", reply.content
    assert reply.elapsed < 4.5


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_three_concurrent_deliveries_across_replicas_reach_rasa_once(wechat_stack: WeChatStack) -> None:
    openid = new_openid()
    xml = text_xml(openid, "公积金怎么提取", mid=msg_id())
    replies = await asyncio.gather(
        wechat_stack.fast.post(xml), wechat_stack.fast.post(xml), wechat_stack.slow.post(xml)
    )
    assert all(r.status == 200 for r in replies)
    await asyncio.sleep(1.0)
    assert [e["text"] for e in wechat_stack.user_messages(openid)] == ["公积金怎么提取"]
    # whichever way it went, the citizen got the answer exactly once: passively or pushed
    passive = {r.content for r in replies if r.content}
    pushed = wechat_stack.standin.sent_to(openid)
    assert len(pushed) == len(set(pushed))
    assert (len(passive) == 1 and pushed == []) or (passive == set() and len(pushed) >= 1), (passive, pushed)


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_turn_past_the_budget_arrives_through_customer_service_once(wechat_stack: WeChatStack) -> None:
    from bot.core import catalogue

    openid = new_openid()
    xml = text_xml(openid, "你好")
    reply = await wechat_stack.slow.post(xml)
    assert reply.body == "success" and reply.elapsed < 2.0
    pushed = await wechat_stack.standin.wait_for(openid, 1, timeout=30)
    assert len(pushed) == 1
    assert catalogue.load().match(pushed[0].split("\n\n回复 1：")[0]) not in (None, "utter_safe_fallback")
    retry = await wechat_stack.fast.post(xml)  # WeChat's retry on the other replica
    assert retry.body == "success"
    await asyncio.sleep(2.0)
    assert wechat_stack.standin.sent_to(openid) == pushed
    assert len(wechat_stack.user_messages(openid)) == 1


@pytest.mark.stack
@pytest.mark.timeout(1800)  # the first one starts two Rasa replicas (slow on a busy machine)
async def test_stack_menu_click_reaches_the_bot_and_it_asks_for_details(wechat_stack: WeChatStack) -> None:
    openid = new_openid()
    reply = await wechat_stack.fast.post(event_xml(openid, "CLICK", key="HUMAN"))
    assert reply.status == 200 and reply.content
    assert [e.get("parse_data", {}).get("intent", {}).get("name") for e in wechat_stack.user_messages(openid)] == [
        "request_human"
    ]


# ------------------------------------------------------------------ turn leases
def test_one_task_keeps_every_running_turns_lease_alive_in_one_round_trip(redis_url: str) -> None:
    """A turn longer than its lease stays this process's (a retry must not run it a second time),
    and hundreds of turns waiting for their place cost one Redis round trip a second, not one
    connection each (that took the event loop at 4x saturation)."""
    import redis as sync_redis

    from channels import wechat

    r = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    keys = [wechat._k_msg(f"lease-{i}") for i in range(200)]
    start = time.time()
    for key in keys:
        r.hset(key, mapping={"state": "pending", "owner_until": start + wechat.TURN_LEASE_S})
    made = int(r.info("stats")["total_connections_received"])

    async def scenario() -> None:
        release = asyncio.Event()
        turns = [asyncio.create_task(release.wait()) for _ in keys]
        wechat._LOCAL_TURNS.update(zip(keys, turns, strict=True))
        try:
            wechat._keep_leases()
            wechat._keep_leases()  # a second turn starting does not start a second renewer
            await asyncio.sleep(wechat.TURN_LEASE_S * 1.5)  # longer than one lease
        finally:
            release.set()
            await asyncio.gather(*turns)
            for key in keys:
                wechat._LOCAL_TURNS.pop(key, None)
        renewer = wechat._RENEWERS.get(id(asyncio.get_running_loop()))
        assert renewer is not None
        await asyncio.wait_for(renewer, wechat.TURN_LEASE_S)  # no turn left: it stops by itself

    asyncio.run(scenario())
    leases = [float(r.hget(key, "owner_until")) for key in keys]
    assert min(leases) > start + wechat.TURN_LEASE_S * 1.5  # renewed, every one of them
    assert int(r.info("stats")["total_connections_received"]) - made <= 3  # renewals share a connection
    r.close()


# ------------------------------------------------------------------------------------ admission
def _saturated_for(seconds: float, per_s: float) -> list[tuple[float, bool]]:
    now = asyncio.get_running_loop().time()
    n = int(seconds * per_s)
    return [(now - seconds + i / per_s, True) for i in range(n)]


async def test_a_message_whose_turn_cannot_finish_in_time_is_answered_at_once_and_pushed(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from collections import deque

    from channels import wechat as channel

    # the process has been finishing 4 turns a second, saturated, and 40 are in flight: this
    # one's turn is ~10 s away, its 3 s budget cannot be met, so WeChat gets `success` now
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "3.0")
    wechat_env.setattr(channel, "_FINISHED", deque(_saturated_for(4.0, 4.0), maxlen=4096))
    blocker = asyncio.get_running_loop().create_future()
    for i in range(40):
        wechat_env.setitem(channel._LOCAL_TURNS, f"queued-{i}", asyncio.ensure_future(blocker))
    bot = FakeBot("utter_thank", delay=0.8)
    wechat = await start_channel(bot)
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "谢谢"))
    assert reply.body == "success" and reply.elapsed < 0.5
    assert await standin.wait_for(openid, 1, timeout=10) == [approved("utter_thank")]  # nothing lost
    blocker.cancel()


@pytest.mark.parametrize("saturated", [False, True])
async def test_without_a_measured_saturation_or_a_backlog_the_reply_stays_passive(
    start_channel: Start, wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn, saturated: bool
) -> None:
    from collections import deque

    from channels import wechat as channel

    # the failing twin: the same slow-ish turn, but either the finishing rate was measured at low
    # load (not a capacity) or nothing is queued: the citizen gets the passive reply as usual
    wechat_env.setenv("WECHAT_REPLY_BUDGET_S", "3.0")
    history = [(t, saturated) for t, _ in _saturated_for(4.0, 4.0)]
    wechat_env.setattr(channel, "_FINISHED", deque(history, maxlen=4096))
    blocker = asyncio.get_running_loop().create_future()
    if not saturated:  # a backlog, but the rate is not known to be the process's capacity
        for i in range(40):
            wechat_env.setitem(channel._LOCAL_TURNS, f"queued-{i}", asyncio.ensure_future(blocker))
    wechat = await start_channel(FakeBot("utter_thank", delay=0.8))
    openid = new_openid()
    reply = await wechat.post(text_xml(openid, "谢谢"))
    assert reply.content == approved("utter_thank") and reply.elapsed >= 0.7
    await asyncio.sleep(0.3)
    assert standin.sent_to(openid) == []
    blocker.cancel()
