"""WeChat's callback protocol: signatures, freshness, AES, XML, typed messages, passive replies.

A callback is authenticated in this order (`authenticate`): body size cap -> `signature` (and
`msg_signature` in safe mode) compared in constant time, timestamp within 5 minutes -> AES
decryption (safe/compatible mode) with our AppId -> XML parsed with defusedxml (no DTD, no
entities), control characters stripped -> the fields every callback has. Anything that fails is
`Refused` (400/403), never processed further.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from channels.wechat.config import WeChatConfig

REPLAY_WINDOW_S = 300  # a signed request older (or newer) than this is refused
MAX_BODY_BYTES = 32 * 1024  # the largest real callback (a long text, encrypted) is far below
OPENID = re.compile(r"^[A-Za-z0-9_\-@.]{1,128}$")

# characters XML 1.0 does not allow (and zero-width tricks): stripped from bodies and replies
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Fields = dict[str, Any]  # the children of <xml>: their text, or a dict for an element with children


class Refused(Exception):
    """A request that is not processed: HTTP `status`, `reason` for the log (never for the caller)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ------------------------------------------------------------------------------------ signatures and AES
def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's protocol


def signature_ok(given: str | None, *parts: str) -> bool:
    """Constant-time comparison, so that timing does not reveal how much of a forgery was right."""
    if not given:
        return False
    return hmac.compare_digest(signature(*parts).encode("ascii"), given.strip().lower().encode("utf-8", "replace"))


def fresh(timestamp: str | None, now: float | None = None) -> bool:
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs((now if now is not None else time.time()) - int(timestamp)) <= REPLAY_WINDOW_S


class _Prp(PrpCrypto):
    """wechatpy's AES-256-CBC framing (random16 + length + xml + appid, PKCS#7 to 32 bytes)."""

    def __init__(self, key: bytes, random16: str | None = None) -> None:
        super().__init__(key)
        self._random16 = random16

    def get_random_string(self) -> str:
        return self._random16 if self._random16 is not None else super().get_random_string()


def decrypt(key: bytes, appid: str, encrypted: str) -> str:
    """The plaintext XML inside `Encrypt`, or Refused (400: does not decrypt, 403: not our AppId)."""
    try:
        raw = base64.b64decode(encrypted.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise Refused(400, "Encrypt is not base64") from e
    if len(raw) < 32 or len(raw) % 16:
        raise Refused(400, "Encrypt has an impossible length")
    try:
        return str(_Prp(key).decrypt(encrypted.strip(), appid))
    except InvalidAppIdException as e:
        raise Refused(403, "the decrypted AppId is not ours") from e
    except Exception as e:  # wrong key, bad padding, garbage: one answer for all of them
        raise Refused(400, f"Encrypt does not decrypt ({type(e).__name__})") from e


def encrypt_envelope(
    cfg: WeChatConfig, xml: str, nonce: str, timestamp: str | None = None, random16: str | None = None
) -> str:
    """The safe-mode reply: our XML encrypted with our AppId, signed with msg_signature."""
    assert cfg.aes_key is not None
    timestamp = timestamp or str(int(time.time()))
    encrypted = _Prp(cfg.aes_key, random16).encrypt(xml, cfg.appid)
    encrypted = encrypted.decode("ascii") if isinstance(encrypted, bytes) else str(encrypted)
    sig = signature(cfg.token, timestamp, nonce, encrypted)
    return (
        "<xml>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce><![CDATA[{cdata(nonce)}]]></Nonce>"
        "</xml>"
    )


# ------------------------------------------------------------------------------------ XML
def strip_illegal(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def cdata(text: str) -> str:
    """Text for inside <![CDATA[...]]>: a `]]>` in it ends one section and starts the next."""
    return strip_illegal(text).replace("]]>", "]]]]><![CDATA[>")


def parse_xml(body: bytes | str) -> Fields:
    """The children of WeChat's <xml> root as a dict (nested elements as dicts), or Refused(400)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as e:
        raise Refused(400, "body is not UTF-8") from e
    text = strip_illegal(text)
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise Refused(400, f"XML with {type(e).__name__}") from e
    except (ParseError, ValueError) as e:
        raise Refused(400, "malformed XML") from e
    if root.tag != "xml":
        raise Refused(400, "root element is not <xml>")
    out: Fields = {}
    for child in root:
        if len(child):
            out[child.tag] = {sub.tag: (sub.text or "") for sub in child}
        else:
            out[child.tag] = child.text or ""
    return out


def check_fields(fields: Fields) -> None:
    """The fields every callback has, in the shape WeChat sends them (else Refused(400))."""
    for name in ("FromUserName", "ToUserName"):
        if not isinstance(fields.get(name), str) or not OPENID.match(fields[name]):
            raise Refused(400, f"{name} missing or malformed")
    if not str(fields.get("CreateTime", "")).isdigit():
        raise Refused(400, "CreateTime missing or malformed")
    if not isinstance(fields.get("MsgType"), str) or not fields["MsgType"]:
        raise Refused(400, "MsgType missing")
    msg_id = fields.get("MsgId", fields.get("MsgID"))
    if msg_id is not None and not (isinstance(msg_id, str) and msg_id.isdigit() and len(msg_id) <= 24):
        raise Refused(400, "MsgId malformed")


def text_reply_xml(to_user: str, from_user: str, text: str, create_time: int | None = None) -> str:
    """A passive text reply (the HTTP response to a callback)."""
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{cdata(to_user)}]]></ToUserName>"
        f"<FromUserName><![CDATA[{cdata(from_user)}]]></FromUserName>"
        f"<CreateTime>{int(create_time or time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{cdata(text)}]]></Content>"
        "</xml>"
    )


# ------------------------------------------------------------------------------------ typed messages
@dataclass(frozen=True)
class Message:
    """What a callback says. `kind`: its message type or, for an event, the event's name, in lower
    case (the bot is told it as `wechat_msg_type`)."""

    kind: str


@dataclass(frozen=True)
class TextMessage(Message):
    content: str


@dataclass(frozen=True)
class LocationMessage(Message):
    label: str
    latitude: str  # Location_X
    longitude: str  # Location_Y


@dataclass(frozen=True)
class MediaMessage(Message):
    """Media (image, video, voice, link, file ...): kept with the citizen's ticket; `kind` is its type."""

    media_id: str | None
    url: str | None
    title: str | None
    msg_id: str | None


@dataclass(frozen=True)
class VoiceMessage(MediaMessage):
    recognition: str  # WeChat's speech recognition; "" when it understood nothing (or is off)


@dataclass(frozen=True)
class UnknownMessage(MediaMessage):
    """A message type this channel does not know: the citizen sent something, treated as media."""


@dataclass(frozen=True)
class Event(Message):
    """An event the channel has nothing to say to (VIEW, TEMPLATESENDJOBFINISH ...): the fallback."""


@dataclass(frozen=True)
class SubscribeEvent(Event):
    scene: str | None  # subscribed by scanning a QR code with this scene (`kind` subscribe_scan)


@dataclass(frozen=True)
class ScanEvent(Event):
    """An existing subscriber scanned one of the account's QR codes."""


@dataclass(frozen=True)
class UnsubscribeEvent(Event):
    pass


@dataclass(frozen=True)
class ClickEvent(Event):
    key: str  # the menu button's key (config/wechat_menu.yml)


def _text(fields: Fields, name: str) -> str:
    return str(fields.get(name) or "")


def _optional(fields: Fields, name: str) -> str | None:
    value = fields.get(name)
    return str(value) if value else None


def _location(kind: str, f: Fields) -> Message:
    return LocationMessage(kind, _text(f, "Label"), _text(f, "Location_X"), _text(f, "Location_Y"))


def _media(kind: str, f: Fields, cls: type[MediaMessage] = MediaMessage) -> MediaMessage:
    url = _optional(f, "PicUrl") or _optional(f, "Url")
    return cls(kind, _optional(f, "MediaId"), url, _optional(f, "Title"), _optional(f, "MsgId"))


def _voice(kind: str, f: Fields) -> Message:
    media = _media(kind, f)
    return VoiceMessage(kind, media.media_id, media.url, media.title, media.msg_id, _text(f, "Recognition"))


def _subscribe(kind: str, f: Fields) -> Message:
    key = _text(f, "EventKey")
    if kind == "subscribe" and key.startswith("qrscene_"):
        return SubscribeEvent("subscribe_scan", key[len("qrscene_") :])
    return SubscribeEvent(kind, key if kind == "subscribe_scan" else None)


Builder = Callable[[str, Fields], Message]
MESSAGE_TYPES: dict[str, Builder] = {
    "text": lambda kind, f: TextMessage(kind, _text(f, "Content")),
    "voice": _voice,
    "location": _location,
    **dict.fromkeys(("image", "video", "shortvideo", "link", "file", "miniprogrampage"), _media),
}
EVENT_TYPES: dict[str, Builder] = {
    "subscribe": _subscribe,
    "subscribe_scan": _subscribe,
    "scan": lambda kind, f: ScanEvent(kind),
    "unsubscribe": lambda kind, f: UnsubscribeEvent(kind),
    "click": lambda kind, f: ClickEvent(kind, _text(f, "EventKey")),
    # a LOCATION report event (Latitude/Longitude, sent when the account asks for them) is read
    # as a location message with neither label nor Location_X/Y
    "location": _location,
}


def parse_message(fields: Fields) -> Message:
    """The typed message of already parsed (defused) fields; types and events not in the tables
    fall back to UnknownMessage (treated as media) and Event (nothing to say)."""
    message_type = str(fields.get("MsgType", "")).lower()
    if message_type == "event":
        name = str(fields.get("Event", "")).lower()
        return EVENT_TYPES.get(name, lambda kind, f: Event(kind))(name, fields)
    builder = MESSAGE_TYPES.get(message_type)
    return builder(message_type, fields) if builder else _media(message_type, fields, UnknownMessage)


# ------------------------------------------------------------------------------------ one callback
@dataclass(frozen=True)
class Query:
    """The callback URL's parameters."""

    signature: str | None
    timestamp: str | None
    nonce: str | None
    msg_signature: str | None = None
    encrypt_type: str | None = None


@dataclass(frozen=True)
class Callback:
    """One authenticated delivery: who it is from, what it says, how to answer."""

    fields: Fields
    message: Message
    openid: str
    account: str
    nonce: str
    encrypted: bool
    arrival: float  # event-loop time
    taken_over: bool = False  # a retry running the turn of a process that died (see turns.TURN_LEASE_S)

    @property
    def dedupe_id(self) -> str:
        """Messages by MsgId; events (no MsgId) by FromUserName + CreateTime (+ event name)."""
        fields = self.fields
        msg_id = fields.get("MsgId")
        if msg_id and msg_id != "0":
            return f"{fields['ToUserName']}:m:{msg_id}"
        return f"{fields['ToUserName']}:e:{fields['FromUserName']}:{fields['CreateTime']}:{str(fields.get('Event', '')).lower()}"

    @property
    def message_id(self) -> str | None:
        """The id the bot's pipeline de-duplicates on (absent for events)."""
        msg_id = self.fields.get("MsgId")
        return f"wechat-{msg_id}" if msg_id else None


def authenticate(cfg: WeChatConfig, query: Query, body: bytes, arrival: float) -> Callback:
    """The callback, if it is WeChat's, fresh, ours and well-formed; else Refused."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(400, f"body of {len(body)} bytes")
    ts, nonce = query.timestamp, query.nonce
    if not (ts and nonce and query.signature):
        raise Refused(403, "signature, timestamp or nonce missing")
    if not fresh(ts):
        raise Refused(403, "timestamp outside the 5-minute window (replay?)")
    if not signature_ok(query.signature, cfg.token, ts, nonce):
        raise Refused(403, "bad signature")
    encrypt_type = (query.encrypt_type or "raw").lower()
    if encrypt_type == "aes":
        if cfg.aes_key is None:
            raise Refused(400, "encrypted callback but WECHAT_AES_KEY is not set")
        outer = parse_xml(body)
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Refused(400, "no Encrypt element")
        if not signature_ok(query.msg_signature, cfg.token, ts, nonce, encrypted):
            raise Refused(403, "bad msg_signature")
        # compatible mode also carries plaintext fields: only the encrypted ones are authenticated
        fields = parse_xml(decrypt(cfg.aes_key, cfg.appid, encrypted))
    elif encrypt_type == "raw":
        if cfg.aes_key is not None:
            raise Refused(403, "plaintext callback while safe mode is configured")
        fields = parse_xml(body)
    else:
        raise Refused(400, f"unknown encrypt_type {encrypt_type[:20]!r}")
    check_fields(fields)
    return Callback(
        fields=fields,
        message=parse_message(fields),
        openid=fields["FromUserName"],
        account=fields["ToUserName"],
        nonce=nonce,
        encrypted=encrypt_type == "aes",
        arrival=arrival,
    )
