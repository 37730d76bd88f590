"""WeChat Official Account (公众号) channel: `GET|POST /webhooks/wechat/`.

Inbound, in this order: body size cap -> `signature` (and `msg_signature` in safe mode) compared
in constant time, timestamp within 5 minutes -> AES decryption (safe/compatible mode) with our
AppId -> XML parsed with defusedxml (no DTD, no entities), control characters stripped ->
de-duplication in Redis -> the shared pipeline (channels/common.py: crisis screening, handoff,
rate limit, Rasa). Anything that fails before the pipeline gets 400/403, never a 5xx.

WeChat waits 5 s for an answer and retries (three deliveries within about 15 s). So:
- every delivery registers in Redis (`wechat:msg:<id>`, shared by all replicas): only the first
  starts a bot turn; the others wait for that turn's reply and answer with it;
- the turn runs as its own task; the request waits for it up to WECHAT_REPLY_BUDGET_S and then
  answers passively, or, when the bot is slower, answers `success` at once and the reply goes out
  through the customer-service message API (客服消息) when it is ready;
- accounts without that API (WECHAT_CUSTOMER_SERVICE=false) hold the first deliveries open so
  that WeChat's retries keep waiting for the reply; after the last one the reply waits in an
  outbox (`wechat:outbox:<openid>`) and comes with the answer to the citizen's next message.
A state per message (pending -> done -> answered | swept; pending -> push -> pushed; pending ->
queued -> outboxed; answered -> pushed | silent once the reply went out another way), changed
only by atomic Lua scripts, makes sure that each reply is delivered exactly once. The process
running a turn holds a renewed lease on it; when that process dies mid-turn, WeChat's retry
(on another process) finds the lease run out, takes the turn over and answers it.

Outbound (`WeChatOutput`): guard and audit (GuardedOutputChannel), buttons as numbered lines
("回复 1：转人工", the numbers remembered in Redis), at most 2048 bytes per message (split at
paragraph or sentence ends, never inside a character). `sender()` is the desk's way to reach a
WeChat citizen (agent replies): 客服消息, with the 48-hour window and error 45015 reported as
`channels.senders.DeliveryError`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import requests
import yaml
from defusedxml import DefusedXmlException
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import WeChatClient
from wechatpy.crypto import PrpCrypto
from wechatpy.events import EVENT_TYPES
from wechatpy.exceptions import InvalidAppIdException, WeChatClientException
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage
from wechatpy.session.redisstorage import RedisStorage

from bot.core import catalogue, crisis, handoff, tickets
from bot.infra import settings, store
from bot.rasa.tuning import CHECK_SAVED, max_turns
from channels.common import GuardedOutputChannel, Incoming, clean_text, handle_incoming
from channels.senders import DeliveryError

log = logging.getLogger(__name__)

CHANNEL = "wechat"
MENU_FILE = settings.ROOT / "config" / "wechat_menu.yml"

WECHAT_TIMEOUT_S = 5.0  # WeChat drops a callback that has not answered after 5 s, then retries
HOLD_MARGIN_S = 1.0  # passive-only mode holds a delivery this long past WeChat's timeout
FINAL_ATTEMPT = 3  # WeChat delivers a message at most three times (about 15 s)
REPLAY_WINDOW_S = 300  # a signed request older (or newer) than this is refused
MAX_BODY_BYTES = 32 * 1024  # the largest real callback (a long text, encrypted) is far below
TEXT_LIMIT_BYTES = 2048  # WeChat's limit for one text message
PART_LIMIT_BYTES = TEXT_LIMIT_BYTES - 128  # room for a part marker and the "reply 继续" hint
MARKER_BYTES = 24  # "（12/12）" and then some
POLL_S = 0.05  # how often a delivery whose turn runs elsewhere looks at Redis
# The process running a turn renews a lease on it every TURN_LEASE_S / 4; a retry that finds the
# lease run out takes the turn over (the owner died: SIGKILL, OOM, a node lost). WeChat's first
# retry comes about 5 s after the first delivery, so a dead owner's message is answered by it.
# Processes compare wall clocks: keep them in sync (NTP), as for the lock store's leases.
TURN_LEASE_S = 4.0
MSG_TTL_S = 15 * 60  # dedupe record: longer than WeChat's retries and the replay window
KEEP_TTL_S = 48 * 3600  # an unanswered reply, the outbox: as long as WeChat lets us talk
SEEN_TTL_S = 7 * 24 * 3600
CS_WINDOW_S = 48 * 3600  # customer-service messages only within 48 h of the citizen's last action
BUTTONS_TTL_S = 24 * 3600
MEDIA_TYPES = ("image", "video", "shortvideo", "link", "file", "miniprogrampage")
MORE_WORDS = {"继续", "更多", "下一页", "下一部分"}
OPENID = re.compile(r"^[A-Za-z0-9_\-@.]{1,128}$")
BUSY_RESPONSE = "utter_service_busy"
MORE_RESPONSE = "utter_wechat_more"

# characters XML 1.0 does not allow (and zero-width tricks): stripped from bodies and replies
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BASE64_CHARS = re.compile(r"^[A-Za-z0-9+/]{43}$")

# background turns of this process (strong references, so that they are not collected)
_TASKS: set[asyncio.Task[Any]] = set()
_LOCAL_TURNS: dict[str, asyncio.Task[Any]] = {}
# when this process's recent turns finished (loop time), and whether others were waiting for a
# place then (the process was saturated): its capacity, for admission (_hopeless)
_FINISHED: deque[tuple[float, bool]] = deque(maxlen=4096)
RATE_WINDOW_S = 5.0


class ConfigError(ValueError):
    """The WeChat settings are unusable; the Rasa server refuses to start and names the setting."""


class Refused(Exception):
    """A request that is not processed: HTTP `status`, `reason` for the log (never for the caller)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ------------------------------------------------------------------------------------ settings
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


def parse_xml(body: bytes | str) -> dict[str, Any]:
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
    out: dict[str, Any] = {}
    for child in root:
        if len(child):
            out[child.tag] = {sub.tag: (sub.text or "") for sub in child}
        else:
            out[child.tag] = child.text or ""
    return out


def typed_message(fields: dict[str, Any]) -> BaseMessage:
    """wechatpy's message/event classes for an already parsed (defused) message; unknown types fall back."""
    fields = dict(fields)
    message_type = str(fields.get("MsgType", "")).lower()
    if message_type == "event":
        event_type = str(fields.get("Event", "")).lower()
        key = str(fields.get("EventKey") or "")
        if event_type == "subscribe" and key.startswith("qrscene_"):
            event_type = "subscribe_scan"  # subscribed by scanning a QR code with a scene
            fields["Event"] = event_type
            fields["EventKey"] = key[len("qrscene_") :]
        return EVENT_TYPES.get(event_type, UnknownMessage)(fields)
    return MESSAGE_TYPES.get(message_type, UnknownMessage)(fields)


def check_fields(fields: dict[str, Any]) -> None:
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


def dedupe_id(fields: dict[str, Any]) -> str:
    """Messages by MsgId; events (no MsgId) by FromUserName + CreateTime (+ event name)."""
    account = fields["ToUserName"]
    msg_id = fields.get("MsgId")
    if msg_id and msg_id != "0":
        return f"{account}:m:{msg_id}"
    return f"{account}:e:{fields['FromUserName']}:{fields['CreateTime']}:{str(fields.get('Event', '')).lower()}"


def text_reply_xml(to_user: str, from_user: str, text: str, create_time: int | None = None) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{cdata(to_user)}]]></ToUserName>"
        f"<FromUserName><![CDATA[{cdata(from_user)}]]></FromUserName>"
        f"<CreateTime>{int(create_time or time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{cdata(text)}]]></Content>"
        "</xml>"
    )


# ------------------------------------------------------------------------------------ splitting
def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


# where a long text may be cut, best first: paragraph, line, sentence end, clause, space
_BREAKS = ("\n\n", "\n", "。", "！", "？", "!", "?", "；", ";", "…", "，", ",", "、", " ")


def _cut(text: str, limit: int) -> int:
    """How many characters of `text` go into the next part: at most `limit` bytes, at a break if possible."""
    size, fit = 0, 0
    for ch in text:
        size += nbytes(ch)
        if size > limit:
            break
        fit += 1
    if fit >= len(text):
        return len(text)
    window = text[:fit]
    for brk in _BREAKS:
        at = window.rfind(brk)
        if at >= fit // 2:  # a break in the second half: the parts stay reasonably even
            return at + len(brk)
    while fit > 1 and unicodedata.combining(text[fit]):  # never strip an accent from its letter
        fit -= 1
    return max(fit, 1)


def split_text(text: str, limit: int = PART_LIMIT_BYTES) -> list[str]:
    """Parts of at most `limit` bytes, each with a "（i/n）" marker when there are several."""
    if nbytes(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while rest:
        n = _cut(rest, limit - MARKER_BYTES)
        parts.append(rest[:n])
        rest = rest[n:]
    total = len(parts)
    return [f"（{i}/{total}）{p}" for i, p in enumerate(parts, 1)]


def pack(texts: list[str], limit: int = PART_LIMIT_BYTES) -> list[str]:
    """The messages to send for `texts`: short ones joined (a passive reply is one message), long ones split."""
    out: list[str] = []
    joinable = False
    for text in texts:
        if not text:
            continue
        parts = split_text(text, limit)
        if len(parts) == 1 and joinable and nbytes(out[-1]) + 2 + nbytes(parts[0]) <= limit:
            out[-1] += "\n\n" + parts[0]
            continue
        out.extend(parts)
        joinable = len(parts) == 1
    return out


# ------------------------------------------------------------------------------------ Redis state
def _k_msg(dedupe: str) -> str:
    return f"wechat:msg:{dedupe}"


def _k_outbox(openid: str) -> str:
    return f"wechat:outbox:{openid}"


def _k_recent(openid: str) -> str:
    return f"wechat:recent:{openid}"


def _k_buttons(openid: str) -> str:
    return f"wechat:buttons:{openid}"


def _k_seen(openid: str) -> str:
    return f"wechat:seen:{openid}"


def pending_attachments_key(sender_id: str) -> str:
    """Media sent while a report is being filed wait here for the report's ticket (any channel)."""
    return f"report:attachments:{sender_id}"


# one delivery arrives: count it; the first one creates the record (pending)
_BEGIN = """
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n == 1 then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'owner_until', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""
# the process running a message's turn renews its lease (ARGV[1]: until) while the turn runs
_RENEW_TURN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' or state == 'push' or state == 'queued' then
  redis.call('HSET', KEYS[1], 'owner_until', ARGV[2])
  return 1
end
return 0
"""
# a retry finds the turn unfinished and its owner's lease run out (the process died): it takes the
# turn over (ARGV[1]: now, ARGV[2]: its own lease) and waits for the reply as the first delivery would
_TAKE_OVER = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' and state ~= 'push' and state ~= 'queued' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'owner_until') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'owner_until', ARGV[2])
return 1
"""
# the turn is over with reply ARGV[1]: a waiting delivery takes it (done), the customer-service
# API sends it (push), or it waits in the outbox for the citizen's next message (queued, or the
# record is gone)
_FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'reply', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('LREM', KEYS[3], 0, KEYS[1])
  redis.call('LPUSH', KEYS[3], KEYS[1])
  redis.call('LTRIM', KEYS[3], 0, 9)
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  return 'done'
elseif state == 'push' then
  redis.call('HSET', KEYS[1], 'state', 'pushed')
  return 'push'
elseif state == 'queued' or not state then
  if state then redis.call('HSET', KEYS[1], 'state', 'outboxed') end
  local texts = cjson.decode(ARGV[1])
  for i = 1, #texts do redis.call('RPUSH', KEYS[2], texts[i]) end
  if #texts > 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
  return 'queued'
end
return state
"""
# a delivery takes a finished reply (answered: its retries may repeat it; swept: taken by a
# later message, never repeated)
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {state, redis.call('HGET', KEYS[1], 'reply'), ''}
end
if state == 'answered' and ARGV[1] == 'answered' then
  return {state, redis.call('HGET', KEYS[1], 'reply') or '', redis.call('HGET', KEYS[1], 'passive') or ''}
end
return {state or '', '', ''}
"""
# the budget is spent and the turn is still running: hand the reply to the API (push) or to the
# outbox (queued); if the turn finished meanwhile, take its reply instead
_GIVE_UP = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  return {'gave_up', '', ''}
end
if state == 'done' then
  redis.call('HSET', KEYS[1], 'state', 'answered')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {'done', redis.call('HGET', KEYS[1], 'reply'), ''}
end
if state == 'answered' then
  return {state, redis.call('HGET', KEYS[1], 'reply') or '', redis.call('HGET', KEYS[1], 'passive') or ''}
end
return {state or '', '', ''}
"""
_DRAIN = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
"""


@dataclass
class Claim:
    state: str
    reply: list[str] | None  # the turn's texts, when this delivery may send them
    passive: str | None = None  # what an earlier delivery of the same message answered


def _claim_result(raw: list[Any]) -> Claim:
    state, reply, passive = [*raw, "", "", ""][:3]
    if state in ("done", "answered") and reply:
        return Claim(state, json.loads(reply), passive or None)
    return Claim(state or "", None)


# ------------------------------------------------------------------------------------ the WeChat API
class _Client(WeChatClient):
    """wechatpy's client with our API base, a timeout on every call, and the access token shared
    by every process in Redis (RedisStorage) and refreshed in one place (`_refresh`) under a lock."""

    def __init__(self, cfg: WeChatConfig) -> None:
        super().__init__(
            cfg.appid,
            cfg.appsecret,
            session=RedisStorage(store.client(), prefix="wechat:token"),
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
        lock = f"wechat:token-lock:{self.appid}"
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


# ------------------------------------------------------------------------------------ turn leases
_RENEWERS: dict[int, asyncio.Task[Any]] = {}  # one per event loop


def _keep_leases() -> None:
    """Make sure this process renews the leases of the turns it runs (see TURN_LEASE_S)."""
    loop = asyncio.get_running_loop()
    task = _RENEWERS.get(id(loop))
    if task is None or task.done() or task.get_loop() is not loop:
        _RENEWERS[id(loop)] = loop.create_task(_renew_leases(loop))


async def _renew_leases(loop: asyncio.AbstractEventLoop) -> None:
    """One task renews every local turn's lease, in one round trip to Redis each time. A task per
    turn, each with its own connection every second, took most of the event loop at 4x saturation,
    when hundreds of turns wait for their place (docs/performance.md)."""
    while True:
        await asyncio.sleep(TURN_LEASE_S / 4)  # three renewals may fail before another process takes over
        keys = [k for k, t in _LOCAL_TURNS.items() if not t.done() and t.get_loop() is loop]
        if not keys:
            _RENEWERS.pop(id(loop), None)  # no await since the check: the next turn starts a new one
            return
        now = time.time()

        async def renew(r: Any, keys: list[str] = keys, now: float = now) -> None:
            pipe = r.pipeline(transaction=False)
            for key in keys:
                pipe.eval(_RENEW_TURN, 1, key, now, now + TURN_LEASE_S)
            await pipe.execute()

        try:
            await _redis_call(renew)
        except store.ERRORS:
            log.warning("wechat: could not renew the leases of %d turn(s) (Redis unavailable)", len(keys))


# ------------------------------------------------------------------------------------ small Redis helpers
async def _redis_call(fn: Callable[[Any], Awaitable[Any]]) -> Any:
    r = store.async_client()
    try:
        return await fn(r)
    finally:
        await r.close()


def _finished(task: asyncio.Task[Any]) -> None:
    saturated = len(_LOCAL_TURNS) > max_turns()  # turns still waiting for a place
    _FINISHED.append((task.get_loop().time(), saturated))


def _turns_per_s(now: float) -> float | None:
    """The turns this process finishes per second when saturated, if it has been saturated over
    the last RATE_WINDOW_S. At lower load the finishing rate is the arrival rate, not what the
    process can do: a burst after a quiet minute must not be turned away on that guess."""
    while _FINISHED and _FINISHED[0][0] < now - RATE_WINDOW_S:
        _FINISHED.popleft()
    busy = [t for t, saturated in _FINISHED if saturated]
    if len(busy) < 10 or len(busy) < 0.8 * len(_FINISHED):
        return None
    return len(busy) / max(now - busy[0], 1.0)


def _hopeless(now: float, budget_end: float) -> bool:
    """Whether the turns in this process (this message's included) cannot all finish before
    this message's reply budget runs out, at the rate turns have been finishing."""
    rate = _turns_per_s(now)
    return rate is not None and len(_LOCAL_TURNS) / rate > budget_end - now


async def outbox_add(openid: str, messages: list[str], front: bool = False) -> None:
    if not messages:
        return

    async def run(r: Any) -> None:
        pipe = r.pipeline()
        if front:
            pipe.lpush(_k_outbox(openid), *reversed(messages))
        else:
            pipe.rpush(_k_outbox(openid), *messages)
        pipe.expire(_k_outbox(openid), KEEP_TTL_S)
        await pipe.execute()

    await _redis_call(run)


async def last_seen(openid: str) -> float | None:
    raw = await _redis_call(lambda r: r.get(_k_seen(openid)))
    return float(raw) if raw else None


# ------------------------------------------------------------------------------------ output
class WeChatOutput(GuardedOutputChannel):
    """Collects one turn's replies (`collect`), or sends through 客服消息 (the desk, Rasa's API).

    Buttons become numbered lines; the numbers are remembered per citizen so that a reply "1"
    means the first button's payload. Outside a turn, failures raise DeliveryError when
    `raise_errors` (the desk must know) and are logged otherwise.
    """

    channel_name = CHANNEL

    def __init__(self, collect: bool = False, raise_errors: bool = False, model_version: str | None = None) -> None:
        super().__init__(model_version)
        self.collect = collect
        self.raise_errors = raise_errors
        self.texts: list[str] = []
        self.buttons_seen = False
        self._numbered = 0

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        text = strip_illegal(text or "")
        if buttons:
            text = await self._with_numbers(recipient_id, text, buttons)
        if self.collect:
            self.texts.append(text)
            return
        await self.push(recipient_id, [text])

    async def _with_numbers(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> str:
        lines, mapping = [], {}
        for b in buttons:
            self._numbered += 1
            lines.append(f"回复 {self._numbered}：{b.get('title', '')}")
            mapping[str(self._numbered)] = str(b.get("payload") or b.get("title") or "")
        first = not self.buttons_seen
        self.buttons_seen = True

        async def remember(r: Any) -> None:
            pipe = r.pipeline()
            if first:  # new choices replace the previous ones
                pipe.delete(_k_buttons(recipient_id))
            pipe.hset(_k_buttons(recipient_id), mapping=mapping)
            pipe.expire(_k_buttons(recipient_id), BUTTONS_TTL_S)
            await pipe.execute()

        try:
            await _redis_call(remember)
        except store.ERRORS:
            log.warning("wechat: button numbers for %s not remembered (Redis unavailable)", recipient_id)
        return text + "\n\n" + "\n".join(lines)

    async def push(self, recipient_id: str, texts: list[str]) -> None:
        """Outside a turn: 客服消息 now, or the outbox when the account cannot push."""
        cfg = WeChatConfig.load()
        messages = pack(texts)
        try:
            if not cfg.customer_service:
                await outbox_add(recipient_id, messages)
                raise DeliveryError(
                    "deferred", "passive-only account: kept for the citizen's next message", channel=CHANNEL
                )
            seen = await last_seen(recipient_id)
            if seen is not None and time.time() - seen > CS_WINDOW_S:
                raise DeliveryError(
                    "window_expired", "last message from the citizen is older than 48 h", channel=CHANNEL
                )
            await push_messages(recipient_id, messages, cfg)
        except DeliveryError as e:
            log.warning("wechat delivery to %s: %s", recipient_id, e)
            if self.raise_errors:
                raise
        except store.ERRORS as e:
            log.error("wechat delivery to %s: Redis unavailable", recipient_id)
            if self.raise_errors:
                raise DeliveryError("redis_unavailable", channel=CHANNEL) from e

    async def send_agent_text(self, recipient_id: str, text: str, agent: str, ticket_id: str) -> None:
        # refuse before the audit records it as sent when WeChat would refuse anyway (48 h)
        if self.raise_errors and not self.collect and WeChatConfig.load().customer_service:
            try:
                seen = await last_seen(recipient_id)
            except store.ERRORS:
                seen = None
            if seen is not None and time.time() - seen > CS_WINDOW_S:
                raise DeliveryError(
                    "window_expired", "last message from the citizen is older than 48 h", channel=CHANNEL
                )
        await super().send_agent_text(recipient_id, text, agent, ticket_id)


def sender() -> WeChatOutput:
    """For channels.senders: reaches a WeChat citizen from the desk (raises DeliveryError)."""
    return WeChatOutput(collect=False, raise_errors=True)


# ------------------------------------------------------------------------------------ menu
@dataclass(frozen=True)
class Menu:
    keys: dict[str, str]  # CLICK key -> message text or "/intent" payload
    definition: dict[str, Any]  # what `python -m channels.wechat menu` sends to menu/create


def _click_keys(buttons: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for b in buttons:
        if b.get("type") == "click":
            out.append(str(b.get("key", "")))
        out.extend(_click_keys(b.get("sub_button") or []))
    return out


def load_menu(path: Path = MENU_FILE) -> Menu:
    if not path.exists():
        return Menu(keys={}, definition={})
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    keys = {str(k): str(v).strip() for k, v in (raw.get("keys") or {}).items()}
    definition = raw.get("menu") or {}
    missing = [k for k in _click_keys(definition.get("button") or []) if not keys.get(k)]
    if missing:
        raise ConfigError(f"{path.name}: menu keys without a message: {', '.join(missing)}")
    return Menu(keys=keys, definition=definition)


# ------------------------------------------------------------------------------------ input
@dataclass
class _Ctx:
    """One authenticated delivery: who it is from, how to answer."""

    fields: dict[str, Any]
    openid: str
    account: str
    nonce: str
    encrypted: bool
    arrival: float
    taken_over: bool = False  # a retry running the turn of a process that died (see TURN_LEASE_S)


class WeChatInput(InputChannel):
    """The 公众号 callback. Settings come from bot.infra.settings (environment), not credentials.yml."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def __init__(self) -> None:
        self.cfg = WeChatConfig.load()  # a bad EncodingAESKey stops the server here, by name
        self.menu = load_menu()
        self._warm_up()
        mode = "safe/compatible (AES)" if self.cfg.aes_key else "plaintext"
        push = "customer-service API" if self.cfg.customer_service else "passive replies only"
        log.info("wechat channel: %s mode, %s, reply budget %gs", mode, push, self.cfg.budget_s)

    def get_output_channel(self) -> GuardedOutputChannel:
        return WeChatOutput(collect=False)

    @staticmethod
    def _warm_up() -> None:
        """Load the catalogue and the crisis lexicon now: the first citizen's reply budget is 4 s."""
        try:
            catalogue.load()
            crisis.screen("你好")
        except Exception:
            log.warning("wechat: warm-up failed; the first message will load the content", exc_info=True)

    # -------------------------------------------------------------------------------- HTTP
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("wechat_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            args = request.args
            sig, ts, nonce, echostr = (args.get(k) for k in ("signature", "timestamp", "nonce", "echostr"))
            if not (sig and ts and nonce and echostr is not None):
                return response.text("missing parameters", status=400)
            if not fresh(ts) or not signature_ok(sig, self.cfg.token, ts, nonce):
                log.warning("wechat: URL verification refused (signature or timestamp)")
                return response.text("forbidden", status=403)
            return response.text(echostr, content_type="text/plain; charset=utf-8")

        @bp.route("/", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            arrival = asyncio.get_running_loop().time()
            try:
                ctx = self.authenticate(request, arrival)
            except Refused as e:
                log.warning("wechat: refused a callback (%s): %s", e.status, e.reason)
                return response.text("bad request" if e.status == 400 else "forbidden", status=e.status)
            try:
                return await self.serve(ctx, on_new_message, request)
            except Exception:  # a bug must not become a 5xx (WeChat would show an error to the citizen)
                log.exception("wechat: unexpected error answering %s", ctx.openid)
                return response.text("success")

        return bp

    def authenticate(self, request: Request, arrival: float) -> _Ctx:
        cfg = self.cfg
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise Refused(400, f"body of {len(body)} bytes")
        args = request.args
        ts, nonce = args.get("timestamp"), args.get("nonce")
        if not (ts and nonce and args.get("signature")):
            raise Refused(403, "signature, timestamp or nonce missing")
        if not fresh(ts):
            raise Refused(403, "timestamp outside the 5-minute window (replay?)")
        if not signature_ok(args.get("signature"), cfg.token, ts, nonce):
            raise Refused(403, "bad signature")
        encrypt_type = (args.get("encrypt_type") or "raw").lower()
        if encrypt_type == "aes":
            if cfg.aes_key is None:
                raise Refused(400, "encrypted callback but WECHAT_AES_KEY is not set")
            outer = parse_xml(body)
            encrypted = outer.get("Encrypt")
            if not isinstance(encrypted, str) or not encrypted:
                raise Refused(400, "no Encrypt element")
            if not signature_ok(args.get("msg_signature"), cfg.token, ts, nonce, encrypted):
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
        return _Ctx(
            fields=fields,
            openid=fields["FromUserName"],
            account=fields["ToUserName"],
            nonce=nonce,
            encrypted=encrypt_type == "aes",
            arrival=arrival,
        )

    def _xml(self, ctx: _Ctx, text: str) -> HTTPResponse:
        xml = text_reply_xml(ctx.openid, ctx.account, text)
        if ctx.encrypted:
            xml = encrypt_envelope(self.cfg, xml, ctx.nonce)
        return response.text(xml, content_type="application/xml; charset=utf-8")

    # -------------------------------------------------------------------------------- one delivery
    async def serve(
        self, ctx: _Ctx, on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request
    ) -> HTTPResponse:
        key = _k_msg(dedupe_id(ctx.fields))
        event = str(ctx.fields.get("Event", "")).lower()
        try:
            r = store.async_client()
            try:
                attempts = int(await r.eval(_BEGIN, 1, key, MSG_TTL_S, time.time() + TURN_LEASE_S))
                if event != "unsubscribe":
                    await r.set(_k_seen(ctx.openid), str(time.time()), ex=SEEN_TTL_S)
            finally:
                await r.close()
        except store.ERRORS:
            log.error("wechat: Redis unavailable; cannot de-duplicate a message from %s", ctx.openid)
            busy = WeChatOutput(collect=True)
            await busy.send_approved(ctx.openid, BUSY_RESPONSE)
            return self._xml(ctx, "\n\n".join(busy.texts))
        turn = _LOCAL_TURNS.get(key)

        def start(taken_over: bool = False) -> asyncio.Task[Any]:
            turn_ctx = dataclasses.replace(ctx, taken_over=True) if taken_over else ctx
            task = asyncio.create_task(self._owned_turn(key, turn_ctx, on_new_message, request))
            _TASKS.add(task)
            _LOCAL_TURNS[key] = task
            task.add_done_callback(lambda t: (_TASKS.discard(t), _LOCAL_TURNS.pop(key, None), _finished(t)))
            return task

        if attempts == 1:
            turn = start()
        else:
            log.info("wechat: delivery %d of %s (a retry): answering with the first one's reply", attempts, key)
        return await self._answer(key, ctx, attempts, turn, start)

    async def _owned_turn(
        self, key: str, ctx: _Ctx, on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request
    ) -> None:
        _keep_leases()  # the turn is in _LOCAL_TURNS from its start (serve) to its end
        await self._turn(key, ctx, on_new_message, request)

    async def _take_over_if_orphaned(
        self, key: str, turn: asyncio.Task[Any] | None, start: Callable[[bool], asyncio.Task[Any]]
    ) -> asyncio.Task[Any] | None:
        """A retry whose turn runs in no process any more (its lease ran out) runs the turn itself."""
        if turn is not None:
            return turn
        try:
            now = time.time()
            won = await _redis_call(lambda r: r.eval(_TAKE_OVER, 1, key, now, now + TURN_LEASE_S))
        except store.ERRORS:
            return None
        if not int(won):
            return None
        log.warning("wechat: the process running the turn of %s is gone: this retry runs it again", key)
        return start(True)

    async def _wait(self, turn: asyncio.Task[Any] | None, seconds: float) -> None:
        if seconds <= 0:
            return
        if turn is not None and not turn.done():
            await asyncio.wait({turn}, timeout=seconds)  # never cancels the turn
        else:
            await asyncio.sleep(min(seconds, POLL_S))

    async def _answer(
        self,
        key: str,
        ctx: _Ctx,
        attempts: int,
        turn: asyncio.Task[Any] | None,
        start: Callable[[bool], asyncio.Task[Any]],
    ) -> HTTPResponse:
        loop = asyncio.get_running_loop()
        budget_end = ctx.arrival + self.cfg.budget_s
        if attempts > 1:
            turn = await self._take_over_if_orphaned(key, turn, start)
        elif self.cfg.can_push and _hopeless(loop.time(), budget_end):
            # admission: the turns ahead of this one already take longer than its budget, so its
            # reply will be pushed whatever happens; answering now frees the connection (and
            # nginx's slot) instead of holding it for seconds of an overloaded loop
            claim = await self._script(_GIVE_UP, key, "push")
            return await self._passive(key, ctx, claim) if claim.reply is not None else response.text("success")
        claim = await self._script(_CLAIM, key, "answered")
        while claim.reply is None and claim.state == "pending" and loop.time() < budget_end:
            await self._wait(turn, budget_end - loop.time())
            if attempts > 1:
                turn = await self._take_over_if_orphaned(key, turn, start)
            claim = await self._script(_CLAIM, key, "answered")
        if claim.reply is not None:
            return await self._passive(key, ctx, claim)
        if claim.state != "pending":  # pushed, queued ...: this message's reply goes another way
            return await self._passive(key, ctx, Claim(claim.state, []))
        # the budget is spent and the bot is still busy
        if self.cfg.can_push:
            claim = await self._script(_GIVE_UP, key, "push")
            return await self._passive(key, ctx, claim) if claim.reply is not None else response.text("success")
        if attempts >= FINAL_ATTEMPT:
            claim = await self._script(_GIVE_UP, key, "queued")
            return await self._passive(key, ctx, claim) if claim.reply is not None else response.text("success")
        # passive-only: hold this delivery until WeChat gives up on it; its retry waits again
        hold_end = ctx.arrival + WECHAT_TIMEOUT_S + HOLD_MARGIN_S
        while loop.time() < hold_end:
            await self._wait(turn, hold_end - loop.time())
            turn = await self._take_over_if_orphaned(key, turn, start)
            claim = await self._script(_CLAIM, key, "answered")
            if claim.reply is not None:
                return await self._passive(key, ctx, claim)
            if claim.state != "pending":
                break
        return response.text("success")

    async def _script(self, script: str, key: str, new_state: str) -> Claim:
        raw = await _redis_call(lambda r: r.eval(script, 1, key, new_state, MSG_TTL_S))
        return _claim_result(list(raw))

    async def _passive(self, key: str, ctx: _Ctx, claim: Claim) -> HTTPResponse:
        """One passive reply: this message's texts, after anything still owed to the citizen.

        Only the delivery that took the reply (state done -> answered) decides how it goes out;
        the others repeat its decision (`_follow`), so a reply is never sent twice."""
        if claim.state == "answered":
            return await self._follow(key, ctx, claim)
        # the owner of this message's reply; or a delivery whose reply went another way (pushed,
        # queued ...), which only carries what is still owed from before
        owner = claim.state == "done"
        own = claim.reply or []
        try:
            earlier = await self._sweep(ctx.openid, key)
            queued = await _redis_call(lambda r: r.eval(_DRAIN, 1, _k_outbox(ctx.openid)))
        except store.ERRORS:
            earlier, queued = [], []
        messages = pack([*queued, *earlier, *own])
        if not messages:
            if owner:
                await self._mark(key, state="silent")
            return response.text("success")
        if len(messages) > 1 and self.cfg.can_push:
            # one passive message cannot carry them all, and parts must arrive in order: all by API
            if owner:
                await self._mark(key, state="pushed")
            self._spawn(self._push_or_keep(ctx.openid, messages))
            return response.text("success")
        first = messages[0]
        if len(messages) > 1:  # passive-only: the rest when the citizen asks for more
            await outbox_add(ctx.openid, messages[1:], front=True)
            first += "\n\n" + catalogue.load().text(MORE_RESPONSE)
        if owner:
            await self._mark(key, passive=first)
        return self._xml(ctx, first)

    async def _mark(self, key: str, **fields: str) -> None:
        """Record how this message was answered, for its other deliveries to repeat."""
        try:
            await _redis_call(lambda r: r.hset(key, mapping=fields))
        except store.ERRORS:
            log.warning("wechat: could not record how %s was answered", key)

    async def _follow(self, key: str, ctx: _Ctx, claim: Claim) -> HTTPResponse:
        """Another delivery of this message took the reply: answer what it answered."""
        if claim.passive:
            return self._xml(ctx, claim.passive)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0  # the owner decides within milliseconds
        while loop.time() < deadline:
            try:
                state, passive = await _redis_call(lambda r: r.hmget(key, "state", "passive"))
            except store.ERRORS:
                break
            if passive:
                return self._xml(ctx, passive)
            if state != "answered":
                break  # pushed or silent: nothing to repeat
            await asyncio.sleep(POLL_S)
        return response.text("success")

    async def _sweep(self, openid: str, key: str) -> list[str]:
        """Replies to earlier messages that finished when nobody was waiting (their deliveries gave up)."""
        recent = await _redis_call(lambda r: r.lrange(_k_recent(openid), 0, -1))
        texts: list[str] = []
        for other in reversed(recent):  # oldest first
            if other == key:
                continue
            claim = await self._script(_CLAIM, other, "swept")
            if claim.reply:
                texts.extend(claim.reply)
        return texts

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)

    async def _push_or_keep(self, openid: str, messages: list[str]) -> None:
        try:
            await push_messages(openid, messages, self.cfg)
        except DeliveryError as e:
            log.error("wechat: customer-service message to %s failed (%s); kept for the next message", openid, e.reason)
            try:
                await outbox_add(openid, messages[e.delivered_parts :])
            except store.ERRORS:
                log.error("wechat: reply to %s lost: Redis unavailable", openid)

    # -------------------------------------------------------------------------------- the bot turn
    async def _turn(
        self, key: str, ctx: _Ctx, on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request
    ) -> None:
        output = WeChatOutput(collect=True)
        try:
            await self.dispatch(ctx, output, on_new_message, request)
        except Exception:
            log.exception("wechat: the turn for %s failed", ctx.openid)
            try:
                await output.send_approved(ctx.openid, BUSY_RESPONSE)
            except Exception:
                log.exception("wechat: could not even say that the service is busy")
        try:
            await self._attach_kept_media(ctx.openid, request)
        except Exception:  # the citizen's answer does not depend on it; the media stay kept
            log.exception("wechat: kept media of %s could not join their ticket", ctx.openid)
        try:
            if not output.buttons_seen and output.texts:  # a new answer without choices: old numbers mean nothing
                await _redis_call(lambda r: r.delete(_k_buttons(ctx.openid)))
            outcome = await _redis_call(
                lambda r: r.eval(
                    _FINISH,
                    3,
                    key,
                    _k_outbox(ctx.openid),
                    _k_recent(ctx.openid),
                    json.dumps(output.texts, ensure_ascii=False),
                    KEEP_TTL_S,
                )  # fmt: skip
            )
        except store.ERRORS:
            log.error("wechat: reply to %s could not be handed over (Redis unavailable)", ctx.openid)
            return
        if outcome == "push" and output.texts:
            await self._push_or_keep(ctx.openid, pack(output.texts))

    async def dispatch(
        self,
        ctx: _Ctx,
        output: WeChatOutput,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> None:
        """What a message or event means for the citizen; replies are collected in `output`."""
        msg = typed_message(ctx.fields)
        openid = ctx.openid
        agent = getattr(request.app.ctx, "agent", None)

        async def lookup(sender_id: str) -> Any:
            return await agent.tracker_store.retrieve(sender_id) if agent and agent.tracker_store else None

        async def run(incoming: Incoming) -> None:
            await handle_incoming(incoming, output, on_new_message, lookup)

        # wechatpy: messages have their type; events are type "event" with the event's name
        kind = str(getattr(msg, "event", "") or "") if msg.type == "event" else msg.type
        base: dict[str, Any] = {"wechat_msg_type": kind}
        if ctx.taken_over:  # the dead process may have saved the turn: its answer, not a second turn
            base[CHECK_SAVED] = True
        if kind == "text":
            text = clean_text(str(ctx.fields.get("Content") or ""))
            if await self._wants_more(openid, text):
                return  # the passive answer takes the next part from the outbox
            text = await self._button_payload(openid, text)
            await run(Incoming(CHANNEL, openid, text, message_id=key_id(ctx), metadata=base))
        elif kind == "voice":
            recognized = clean_text(str(ctx.fields.get("Recognition") or ""))
            if recognized:
                await run(
                    Incoming(CHANNEL, openid, recognized, message_id=key_id(ctx), metadata={**base, "voice": True})
                )
            else:
                await self._media(ctx, output, run, lookup, "utter_voice_not_recognized")
        elif kind == "location":
            label = clean_text(str(ctx.fields.get("Label") or "")) or "位置"
            lat, lng = (clean_text(str(ctx.fields.get(k) or "")) for k in ("Location_X", "Location_Y"))
            location = f"{label} ({lat},{lng})"
            await run(
                Incoming(CHANNEL, openid, location, message_id=key_id(ctx), metadata={**base, "location": location})
            )
        elif kind in MEDIA_TYPES or (kind == "unknown" and ctx.fields.get("MsgType") != "event"):
            await self._media(ctx, output, run, lookup, "utter_unsupported_media")
        elif kind in ("subscribe", "subscribe_scan"):
            scene = ctx.fields.get("EventKey") if kind == "subscribe_scan" else None
            log.info("wechat: new subscriber%s", f" from QR scene {scene!r}" if scene else "")
            await output.send_approved(openid, "utter_welcome_subscribe")
        elif kind == "scan":  # already a subscriber, scanned one of the city's QR codes
            await output.send_approved(openid, "utter_greet")
        elif kind == "unsubscribe":
            await self._unsubscribed(openid)
        elif kind == "click":
            key = str(ctx.fields.get("EventKey") or "")
            text = self.menu.keys.get(key)
            if text is None:
                log.warning("wechat: menu key %r is not in config/wechat_menu.yml", key[:64])
                await output.send_approved(openid, "utter_how_can_i_help")
                return
            await run(Incoming(CHANNEL, openid, text, metadata={**base, "menu_key": key}))
        else:  # VIEW, LOCATION reports, template results ...: nothing to say
            log.debug("wechat: %s ignored", kind or msg.type)

    async def _wants_more(self, openid: str, text: str) -> bool:
        if unicodedata.normalize("NFKC", text).strip("。.!！ ") not in MORE_WORDS:
            return False
        try:
            return bool(await _redis_call(lambda r: r.llen(_k_outbox(openid))))
        except store.ERRORS:
            return False

    async def _button_payload(self, openid: str, text: str) -> str:
        number = unicodedata.normalize("NFKC", text).strip()
        if not number.isdigit() or len(number) > 2:
            return text
        try:
            payload = await _redis_call(lambda r: r.hget(_k_buttons(openid), str(int(number))))
        except store.ERRORS:
            return text
        return str(payload) if payload else text

    async def _media(
        self,
        ctx: _Ctx,
        output: WeChatOutput,
        run: Callable[[Incoming], Awaitable[None]],
        lookup: Callable[[str], Awaitable[Any]],
        response_name: str,
    ) -> None:
        """Media the bot cannot read: kept with the citizen's ticket (handed off or being filed)."""
        f = ctx.fields
        attachment = {
            "platform": CHANNEL,
            "type": str(f.get("MsgType", "")).lower(),
            "media_id": f.get("MediaId") or None,  # WeChat keeps temporary media for 3 days
            "url": f.get("PicUrl") or f.get("Url") or None,
            "title": f.get("Title") or None,
            "msg_id": f.get("MsgId") or None,
            "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        attachment = {k: v for k, v in attachment.items() if v}
        try:
            handed_off = bool(await asyncio.to_thread(handoff.current, ctx.openid))
        except store.ERRORS:
            handed_off = False
        if handed_off:  # the pipeline puts it on the handed-off ticket (the desk sees it)
            before = len(output.texts)
            await run(Incoming(CHANNEL, ctx.openid, "", message_id=key_id(ctx), attachments=[attachment]))
            if len(output.texts) == before:  # (if the ticket had closed meanwhile, the pipeline answered)
                await output.send_approved(ctx.openid, response_name)
            return
        await self._keep_for_report(ctx.openid, attachment, lookup)
        if response_name == "utter_unsupported_media":
            # through the pipeline (rate limit, inbound record); it answers utter_unsupported_media
            await run(Incoming(CHANNEL, ctx.openid, "", message_id=key_id(ctx), attachments=[attachment]))
        else:
            await output.send_approved(ctx.openid, response_name)

    async def _keep_for_report(
        self, openid: str, attachment: dict[str, Any], lookup: Callable[[str], Awaitable[Any]]
    ) -> None:
        try:
            tracker = await lookup(openid)
        except Exception:
            tracker = None
        if tracker is None or getattr(tracker, "active_loop_name", None) != "report_form":
            return
        key = pending_attachments_key(openid)

        async def keep(r: Any) -> None:
            await r.rpush(key, json.dumps(attachment, ensure_ascii=False))
            await r.expire(key, 24 * 3600)

        try:
            await _redis_call(keep)
        except store.ERRORS:
            log.warning("wechat: attachment for a report in progress not kept (Redis unavailable)")

    async def _attach_kept_media(self, openid: str, request: Request) -> None:
        """After a turn: media kept while a report was being filed join the ticket it produced."""
        key = pending_attachments_key(openid)
        try:
            raw = await _redis_call(lambda r: r.lrange(key, 0, -1))
        except store.ERRORS:
            return
        agent = getattr(request.app.ctx, "agent", None)
        if not raw or not (agent and agent.tracker_store):
            return
        tracker = await agent.tracker_store.retrieve(openid)
        if tracker is not None and getattr(tracker, "active_loop_name", None) == "report_form":
            return  # still being filed
        kept = [json.loads(x) for x in raw]
        since = min(datetime.fromisoformat(a["received_at"]) for a in kept)
        newest = await asyncio.to_thread(tickets.query, sender_id=openid, limit=1)
        if newest and datetime.fromisoformat(newest[0]["created_at"]) >= since - timedelta(seconds=5):
            for attachment in kept:
                await asyncio.to_thread(tickets.add_attachment, newest[0]["id"], attachment)
            log.info("wechat: %d attachment(s) joined ticket %s", len(kept), newest[0]["id"])
        await _redis_call(lambda r: r.delete(key))  # filed with the ticket, or the report was abandoned

    async def _unsubscribed(self, openid: str) -> None:
        """The citizen left: forget choices, owed replies and media; tell the desk if a ticket is open."""
        keys = [
            _k_buttons(openid),
            _k_outbox(openid),
            _k_recent(openid),
            _k_seen(openid),
            pending_attachments_key(openid),
        ]
        try:
            await _redis_call(lambda r: r.delete(*keys))
            state = await asyncio.to_thread(handoff.current, openid)
        except store.ERRORS:
            log.error("wechat: could not clean up after %s unsubscribed (Redis unavailable)", openid)
            return
        if state:
            await handoff.apublish(
                "citizen_unsubscribed", ticket_id=state.get("ticket_id"), sender_id=openid, channel=CHANNEL
            )
        log.info("wechat: a subscriber left; their channel state is cleared")


def key_id(ctx: _Ctx) -> str | None:
    msg_id = ctx.fields.get("MsgId")
    return f"wechat-{msg_id}" if msg_id else None


# ------------------------------------------------------------------------------------ CLI
def push_menu() -> dict[str, Any]:
    """Create the 公众号's menu from config/wechat_menu.yml (`python -m channels.wechat menu`)."""
    menu = load_menu()
    if not menu.definition:
        raise ConfigError(f"{MENU_FILE} has no menu")
    return dict(client().menu.create(menu.definition))


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO)
    if sys.argv[1:] != ["menu"]:
        sys.exit("usage: python -m channels.wechat menu")
    result = push_menu()
    log.info("menu created: %s", result)
