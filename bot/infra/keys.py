"""Every Redis name the product uses, in one place: what each holds and how long it lives.

One function (a key with parts) or constant per name. The strings are part of the running
system: Redis holds keys written by the version before an upgrade, and several processes of
different versions share one Redis during a rolling restart, so a name never changes here.
Who writes and reads each: grep the function's name.
"""

from __future__ import annotations

# ------------------------------------------------------------------ Rasa's stores
RASA_KEY_PREFIX = "hotline"
"""endpoints.yml `key_prefix` of the tracker and lock stores (Rasa then adds "tracker:" / "lock:")."""

TRACKER_PREFIX = f"{RASA_KEY_PREFIX}:tracker:"
"""+ sender id: one conversation's tracker (JSON); TTL RETENTION_TRACKER_DAYS (record_exp)."""

TRACKERS = TRACKER_PREFIX + "*"
"""Pattern of every tracker key: retention gives a TTL to the ones without."""

LOCK_PREFIX = f"{RASA_KEY_PREFIX}:lock:"
"""+ sender id: the queue of turn tickets (bot.rasa.lock_store); expires with its last lease."""


# ------------------------------------------------------------------ conversations
def handoff(sender_id: str) -> str:
    """Hash {ticket_id, channel} while a citizen is handed off; TTL HANDOFF_TTL_HOURS, renewed by agents."""
    return f"handoff:{sender_id}"


HANDOFFS = "handoff:*"
"""Pattern of every handoff flag: retention ends those whose ticket it deleted."""


def rate(sender_id: str, minute: int) -> str:
    """Counter of a citizen's messages in one clock minute (epoch seconds // 60); TTL 120 s."""
    return f"rate:{sender_id}:{minute}"


# ------------------------------------------------------------------ the desk
DESK_EVENTS = "desk:events"
"""Stream of the desk's live events (ticket_new, citizen_message ...); ~EVENTS_MAXLEN entries, trimmed by retention."""


def desk_session(sid: str) -> str:
    """JSON {u, csrf} of a console login; TTL DESK_SESSION_HOURS."""
    return f"desk:session:{sid}"


def desk_login_failures(kind: str, value: str) -> str:
    """Counter of failed logins per user name (kind "u") or address ("a"); TTL 900 s."""
    return f"desk:loginfail:{kind}:{value}"


# ------------------------------------------------------------------ REST
def rest_outbox(sender_id: str) -> str:
    """List of JSON messages an agent sent a REST citizen, taken with the next answer; TTL 7 days (OUTBOX_TTL_S)."""
    return f"outbox:rest:{sender_id}"


# ------------------------------------------------------------------ web chat
SOCKETIO_CHANNEL = "hotline:socketio"
"""Pub/sub channel every Rasa process (and the desk's sender) shares for socket.io rooms; holds nothing."""


def webchat_history(session_id: str) -> str:
    """List of a web chat's last HISTORY_MAX (200) lines, shown again after a reload; TTL WEBCHAT_HISTORY_DAYS."""
    return f"webchat:history:{session_id}"


def webchat_seen(session_id: str, message_id: str) -> str:
    """Flag: this web chat message was taken (a re-send after a dropped connection is not); TTL 24 h (SEEN_TTL_S)."""
    return f"webchat:seen:{session_id}:{message_id}"


# ------------------------------------------------------------------ Telegram
def telegram_callback(key: str) -> str:
    """A button payload over callback_data's 64 bytes, under its short key "cb:<hash>"; TTL 30 days (CALLBACK_TTL_S)."""
    return f"telegram:{key}"


def telegram_update(bot_id: str, update_id: int) -> str:
    """Flag: this update of this bot reached a process (re-deliveries are dropped); TTL 3 days (UPDATE_TTL_S)."""
    return f"telegram:update:{bot_id}:{update_id}"


# ------------------------------------------------------------------ WeChat
def wechat_msg(dedupe_id: str) -> str:
    """One message's delivery record (hash: state, attempts, owner_until, reply, passive): 15 min, 48 h once replied."""
    return f"wechat:msg:{dedupe_id}"


def wechat_outbox(openid: str) -> str:
    """Replies owed to a citizen, sent with the answer to their next message (list): 48 h."""
    return f"wechat:outbox:{openid}"


def wechat_recent(openid: str) -> str:
    """The delivery records of a citizen's last 10 finished turns, newest first (list): 48 h."""
    return f"wechat:recent:{openid}"


def wechat_buttons(openid: str) -> str:
    """The payloads behind the numbers ("回复 1：转人工") last shown to a citizen (hash): 24 h."""
    return f"wechat:buttons:{openid}"


def wechat_seen(openid: str) -> str:
    """When a citizen last wrote, Unix seconds (the 48-hour customer-service window): 7 days."""
    return f"wechat:seen:{openid}"


def wechat_token_prefix() -> str:
    """Prefix of the shared access token, `<prefix>:<AppID>_access_token` (wechatpy's RedisStorage): 5 min less than WeChat gives it."""
    return "wechat:token"


def wechat_token_lock(appid: str) -> str:
    """Held by the one process fetching a new access token: twice the HTTP timeout, plus 1 s."""
    return f"wechat:token-lock:{appid}"


def report_attachments(sender_id: str) -> str:
    """Media received while a report is being filed, waiting for its ticket (list of JSON, any channel): 24 h."""
    return f"report:attachments:{sender_id}"
