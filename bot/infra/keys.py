"""Redis key names: one function per key, with what it holds and how long it lives.

Live data is stored under these names: a name changed here orphans what is stored under the old
one (a citizen's owed replies, a message's delivery record), so they change only with a migration.
"""

from __future__ import annotations


# ------------------------------------------------------------------------------------ WeChat
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
