"""No personal data in any log: a conversation with a real-looking 身份证号 and mobile number goes
through every citizen channel of the real stack, then every process's log file is searched.

Each run makes up its own numbers (a valid GB 11643 check digit, a mobile number), so a leak
from any other test's traffic is not mistaken for one of ours and vice versa. Beside the
numbers, a unique marker phrase stands for "raw citizen text", which no process may log at INFO.

Channels: REST, the web chat (socket.io), Telegram (webhook; the Bot API is a local stand-in)
and WeChat (plaintext callback; the API is a local stand-in) — each one that exists in
channels/ and is registered in credentials.yml. They run on one extra Rasa process of the
stack, started with the stand-ins' settings; the stack's action server and desk serve it.
Also checked: the audit trail and inbound records keep the numbers masked, the desk's ticket
list shows them masked, and the ticket itself keeps what the citizen gave (for the department).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from bot.core import catalogue, privacy
from bot.stack.processes import ROOT, Stack, post_json, request_json

pytestmark = pytest.mark.stack

CHANNELS = ("rest", "socketio", "telegram", "wechat")
WECHAT_TOKEN = "pii-test-wechat-token"
TELEGRAM_SECRET = "pii-test-telegram-secret"


def make_id_number(rng: random.Random) -> str:
    area = rng.choice(["110105", "310104", "440305", "330106", "510107"])
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    first17 = f"{area}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    number = first17 + privacy.id_check_digit(first17)
    assert privacy.valid_id_number(number)
    return number


def make_mobile(rng: random.Random) -> str:
    number = "1" + rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9))
    assert privacy.valid_mobile(number)
    return number


RNG = random.Random(uuid.uuid4().int)
ID_NUMBER = make_id_number(RNG)
MOBILE = make_mobile(RNG)
MARKER = f"窗外标记{uuid.uuid4().hex[:6]}号楼"  # raw citizen words, not personal data


def conversation() -> list[str]:
    return [
        "我要投诉噪音",
        f"楼上每天半夜装修，{MARKER}吵得睡不着，我的身份证号是{ID_NUMBER}，手机{MOBILE}",
        "示例区人民路8号",
        "每天晚上十点以后",
        "需要",
        MOBILE,
        "确认",
        f"再说一遍我的电话是{MOBILE}，身份证{ID_NUMBER}",
        "人工",
        f"补充：我的身份证{ID_NUMBER}，联系电话{MOBILE}",
    ]


def registered_channels() -> list[str]:
    creds = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
    modules = {str(k).rsplit(".", 1)[0] for k in creds}
    return [c for c in CHANNELS if f"channels.{c}" in modules and importlib.util.find_spec(f"channels.{c}")]


# ------------------------------------------------------------------------------ drivers
@dataclass
class Run:
    channel: str
    sender: str
    replies: list[str] = field(default_factory=list)


def drive_rest(url: str, run: Run) -> None:
    for message in conversation():
        run.replies += [
            m.get("text", "")
            for m in post_json(f"{url}/webhooks/rest/webhook", {"sender": run.sender, "message": message}, timeout=60)
        ]


def drive_socketio(url: str, run: Run) -> None:
    import socketio

    async def go() -> None:
        client = socketio.AsyncClient(reconnection=False)
        confirmed = asyncio.Event()

        @client.on("session_confirm")
        async def on_confirm(data: dict[str, Any]) -> None:
            run.sender = data["session_id"]
            confirmed.set()

        @client.on("bot_uttered")
        async def on_bot(data: dict[str, Any]) -> None:
            run.replies.append(str(data.get("text", "")))

        await client.connect(url, socketio_path="/socket.io", transports=["polling"], wait_timeout=30)
        try:
            await client.emit("session_request", {})
            await asyncio.wait_for(confirmed.wait(), 30)
            for message in conversation():
                ack = await client.call("user_uttered", {"message": message, "id": uuid.uuid4().hex}, timeout=60)
                assert ack and ack.get("ok"), ack
            await asyncio.sleep(0.5)  # the last replies are emitted before the acknowledgement; let them land
        finally:
            await client.disconnect()

    asyncio.run(go())


def drive_telegram(url: str, run: Run, standin: Any) -> None:
    from bot.stack.standins.telegram import text_update

    chat_id = int(run.sender)
    for i, message in enumerate(conversation()):
        status, body = request_json("POST", f"{url}/webhooks/telegram/webhook", text_update(chat_id * 100 + i, chat_id, message),
                                    headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}, timeout=60)  # fmt: skip
        assert status == 200, body
    run.replies += standin.sent_texts(chat_id)


def drive_wechat(url: str, run: Run, standin: Any) -> None:
    import urllib.request

    for i, message in enumerate(conversation()):
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        sig = hashlib.sha1("".join(sorted([WECHAT_TOKEN, ts, nonce])).encode()).hexdigest()
        xml = (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{run.sender}]]></FromUserName>"
               f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{message}]]></Content>"
               f"<MsgId>{int(ts) * 1000 + i}</MsgId></xml>")  # fmt: skip
        req = urllib.request.Request(
            f"{url}/webhooks/wechat/?signature={sig}&timestamp={ts}&nonce={nonce}&openid={run.sender}",
            data=xml.encode(),
            method="POST",
            headers={"Content-Type": "text/xml"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read().decode()
        run.replies += re.findall(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", body, re.DOTALL)
    run.replies += standin.sent_to(run.sender)  # replies pushed by the customer-service API, if any


# ------------------------------------------------------------------------------ the runs
@pytest.fixture(scope="module")
def runs(stack: Stack) -> Iterator[dict[str, Run]]:
    from bot.stack.rasa_process import start_rasa

    channels = registered_channels()
    env: dict[str, str] = {"WECHAT_TOKEN": WECHAT_TOKEN, "WECHAT_REPLY_BUDGET_S": "4.5", "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
                           "RATE_LIMIT_PER_MINUTE": "100"}  # fmt: skip
    standins: dict[str, Any] = {}
    if "telegram" in channels:
        from bot.stack.standins.telegram import TelegramStandIn

        standins["telegram"] = TelegramStandIn().start()
        env.update(TELEGRAM_TOKEN=standins["telegram"].token, TELEGRAM_API_BASE=standins["telegram"].api_base,
                   TELEGRAM_WEBHOOK_URL="https://hotline.example.gov.cn/webhooks/telegram/webhook")  # fmt: skip
    if "wechat" in channels:
        from bot.stack.standins.wechat import WeChatStandIn

        standins["wechat"] = WeChatStandIn().start()
        env.update(WECHAT_API_BASE=standins["wechat"].base_url, WECHAT_APPID=standins["wechat"].appid,
                   WECHAT_APPSECRET=standins["wechat"].secret)  # fmt: skip
    rasa = start_rasa(stack, "rasa-pii", env)
    drivers: dict[str, Callable[[Run], None]] = {
        "rest": lambda run: drive_rest(rasa.url, run),
        "socketio": lambda run: drive_socketio(rasa.url, run),
        "telegram": lambda run: drive_telegram(rasa.url, run, standins["telegram"]),
        "wechat": lambda run: drive_wechat(rasa.url, run, standins["wechat"]),
    }
    senders = {"rest": f"pii-{uuid.uuid4().hex[:8]}", "socketio": "", "telegram": str(RNG.randrange(10**8, 10**9)),
               "wechat": "o" + uuid.uuid4().hex[:27]}  # fmt: skip
    out: dict[str, Run] = {}
    try:
        for channel in channels:
            out[channel] = Run(channel, senders[channel])
            drivers[channel](out[channel])
        time.sleep(1.0)  # log lines written by other processes after their last answer
        yield out
    finally:
        rasa.stop()
        for s in standins.values():
            s.stop()


def _log_files(stack: Stack) -> list[Path]:
    return sorted({*stack.logs.values(), *stack.workdir.glob("*.log")})


# ------------------------------------------------------------------------------ tests
BUTTON_LINE = re.compile(r"^回复 ?\d+：.+$")


def _parts(channel: str, text: str) -> list[str]:
    """The approved texts in one platform message: WeChat packs several into one passive reply
    (separated by a blank line) and writes buttons as numbered lines ("回复 1：转人工")."""
    if channel != "wechat":
        return [text]
    parts = []
    for part in text.split("\n\n"):
        kept = "\n".join(line for line in part.split("\n") if not BUTTON_LINE.match(line))
        if kept:
            parts.append(kept)
    return parts


def test_every_existing_channel_carried_the_conversation(runs: dict[str, Run]) -> None:
    assert "rest" in runs
    cat = catalogue.load()
    for channel, run in runs.items():
        parts = [p for t in run.replies for p in _parts(channel, t)]
        # every message up to "人工" had an answer; the last one, after the handoff, is for the agent
        assert len(parts) >= len(conversation()) - 1, (channel, run.replies)
        assert "已为您转接人工服务" in parts[-1], (channel, run.replies)
        unapproved = [p for p in parts if cat.match(p) is None]
        assert not unapproved, (channel, unapproved)


@pytest.mark.parametrize("secret", ["ID_NUMBER", "MOBILE", "MARKER"])
def test_no_log_of_any_process_holds_the_numbers_or_the_raw_text(
    runs: dict[str, Run], stack: Stack, secret: str
) -> None:
    value = {"ID_NUMBER": ID_NUMBER, "MOBILE": MOBILE, "MARKER": MARKER}[secret]
    files = _log_files(stack)
    assert {"rasa", "actions", "desk", "rasa-pii"} <= {p.stem for p in files if p.stat().st_size > 0}
    variants = {value, value.lower(), " ".join([value[:3], value[3:7], value[7:]]) if secret == "MOBILE" else value}
    leaks = [(p.name, line[:200]) for p in files for line in p.read_text(encoding="utf-8", errors="replace").splitlines()
             if any(v in line for v in variants)]  # fmt: skip
    assert not leaks, leaks


def test_audit_and_inbound_records_hold_only_masked_numbers(runs: dict[str, Run], stack: Stack) -> None:
    engine = create_engine(stack.env["DATABASE_URL"])
    senders = [r.sender for r in runs.values()]
    with engine.connect() as c:
        audit = c.execute(text("SELECT channel, sender_id, text FROM audit")).all()
        inbound = c.execute(text("SELECT channel, sender_id, text FROM inbound")).all()
    ours_in = [r for r in inbound if r.sender_id in senders]
    assert {r.channel for r in ours_in} == set(runs), "every channel's messages are on record"
    assert any(privacy.mask(MOBILE) in r.text for r in ours_in)
    for row in [*audit, *inbound]:
        assert ID_NUMBER not in row.text and MOBILE not in row.text, row


def test_the_desk_list_masks_the_numbers_and_the_ticket_keeps_them(runs: dict[str, Run], stack: Stack) -> None:
    status, listed = stack.desk("GET", "/api/tickets?limit=200")
    assert status == 200, listed
    ours = [t for t in listed if t.get("sender_id") in {r.sender for r in runs.values()}]
    assert ours, "the conversations filed tickets"
    dumped = json.dumps(listed, ensure_ascii=False)
    assert ID_NUMBER not in dumped and MOBILE not in dumped
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.connect() as c:
        kept = c.execute(
            text("SELECT description, contact FROM tickets WHERE sender_id = :s"), {"s": runs["rest"].sender}
        ).all()
        transcript = c.execute(text("SELECT t.text FROM transcript_entries t JOIN tickets k ON k.id = t.ticket_id WHERE k.sender_id = :s"),
                               {"s": runs["rest"].sender}).all()  # fmt: skip
    everything = " ".join(str(v) for row in [*kept, *transcript] for v in row)
    assert ID_NUMBER in everything and MOBILE in everything  # for the department, as the citizen gave it


def test_the_conversations_with_the_numbers_expire_from_redis(runs: dict[str, Run], stack: Stack) -> None:
    """Rasa's trackers hold the raw numbers: each has a TTL of RETENTION_TRACKER_DAYS (record_exp)."""
    import redis

    days = int(stack.env.get("RETENTION_TRACKER_DAYS", "30"))
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    keys = list(r.scan_iter(match="hotline:tracker:*", count=1000))
    ours = [k for k in keys if k.split("hotline:tracker:", 1)[1] in {run.sender for run in runs.values()}]
    assert len(ours) == len(runs), (keys, [run.sender for run in runs.values()])
    for key in ours:
        assert ID_NUMBER in (r.get(key) or "")  # what is at stake
        assert 0 < r.ttl(key) <= days * 86400, key
