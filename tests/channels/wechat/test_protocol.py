"""The callback protocol: signatures and AES (golden vectors from wechatpy's own tests, each with a
failing twin), the three modes, refusals, XML in and out."""

from __future__ import annotations

import base64
import os
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
import pytest

from tests.channels.wechat.support import (
    ACCOUNT,
    AES_KEY,
    TOKEN,
    FakeBot,
    Start,
    aes_encrypt,
    approved,
    audit_rows,
    new_openid,
    sha1_signature,
    text_xml,
)

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


def test_signature_golden_vector_and_its_failing_twin() -> None:
    from channels.wechat.protocol import signature_ok

    assert signature_ok("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "test", "1410685589", "test")
    assert not signature_ok("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "test", "1410685589", "tesu")
    assert not signature_ok("f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "test", "1410685589", "test")
    assert not signature_ok("", "test", "1410685589", "test")


def test_msg_signature_and_aes_golden_vectors_and_their_failing_twins() -> None:
    from channels.wechat.config import decode_aes_key
    from channels.wechat.protocol import Refused, decrypt, signature_ok

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
    from channels.wechat.config import WeChatConfig, decode_aes_key
    from channels.wechat.protocol import encrypt_envelope

    cfg = WeChatConfig(GV_TOKEN, GV_APPID, "secret", decode_aes_key(GV_AES_KEY), "http://127.0.0.1/", 4.0, True, 5.0)
    envelope = ET.fromstring(encrypt_envelope(cfg, GV_REPLY, GV_NONCE, GV_TIMESTAMP, random16="1234567890123456"))
    assert envelope.findtext("Encrypt") == GV_REPLY_ENCRYPT
    assert envelope.findtext("MsgSignature") == GV_REPLY_SIGNATURE
    other = ET.fromstring(encrypt_envelope(cfg, GV_REPLY, GV_NONCE, GV_TIMESTAMP, random16="1234567890123457"))
    assert other.findtext("Encrypt") != GV_REPLY_ENCRYPT


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
    from channels.wechat.protocol import text_reply_xml

    for text in ["a]]>b", "]]>]]>", "<![CDATA[x]]>", "a\x00b\x1fc", "&amp; <b>"]:
        parsed = ET.fromstring(text_reply_xml("o1", ACCOUNT, text))
        assert parsed.findtext("Content") == re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)


def test_callbacks_become_typed_messages_and_unknown_types_fall_back() -> None:
    from channels.wechat.protocol import (
        ClickEvent,
        Event,
        LocationMessage,
        MediaMessage,
        ScanEvent,
        SubscribeEvent,
        TextMessage,
        UnknownMessage,
        UnsubscribeEvent,
        VoiceMessage,
        parse_message,
    )

    base = {"ToUserName": ACCOUNT, "FromUserName": "oCitizen", "CreateTime": "1764118800"}
    assert parse_message({**base, "MsgType": "text", "Content": "你好", "MsgId": "1"}) == TextMessage("text", "你好")
    voice = parse_message({**base, "MsgType": "voice", "MediaId": "m1", "Recognition": "社保卡", "MsgId": "2"})
    assert voice == VoiceMessage("voice", "m1", None, None, "2", "社保卡")
    place = {"MsgType": "location", "Label": "天河路1号", "Location_X": "23.13", "Location_Y": "113.35"}
    assert parse_message({**base, **place}) == LocationMessage("location", "天河路1号", "23.13", "113.35")
    image = parse_message({**base, "MsgType": "image", "PicUrl": "http://p/1.jpg", "MediaId": "m2", "MsgId": "3"})
    assert type(image) is MediaMessage and image == MediaMessage("image", "m2", "http://p/1.jpg", None, "3")
    link = parse_message({**base, "MsgType": "link", "Title": "通知", "Url": "https://example.org/a"})
    assert link == MediaMessage("link", None, "https://example.org/a", "通知", None)
    hologram = parse_message({**base, "MsgType": "hologram", "MsgId": "4"})  # a type WeChat may add one day
    assert type(hologram) is UnknownMessage and isinstance(hologram, MediaMessage) and hologram.kind == "hologram"

    def event(name: str, key: str = "") -> dict[str, str]:
        return {**base, "MsgType": "event", "Event": name, **({"EventKey": key} if key else {})}

    assert parse_message(event("subscribe")) == SubscribeEvent("subscribe", None)
    assert parse_message(event("subscribe", "qrscene_hall_3")) == SubscribeEvent("subscribe_scan", "hall_3")
    assert parse_message(event("SCAN", "hall_3")) == ScanEvent("scan")
    assert parse_message(event("unsubscribe")) == UnsubscribeEvent("unsubscribe")
    assert parse_message(event("CLICK", "HUMAN")) == ClickEvent("click", "HUMAN")
    for name in ("VIEW", "TEMPLATESENDJOBFINISH", "NO_SUCH_EVENT"):  # nothing to say to these
        ignored = parse_message(event(name, "https://example.org"))
        assert type(ignored) is Event and ignored.kind == name.lower()
