"""Platform-neutral senders: how anything outside Rasa (the desk) reaches a citizen.

The desk sends an agent's reply with
    await get_sender(ticket["channel"]).send_agent_text(sender_id, text, agent, ticket_id)
and shows `DeliveryError.message` to the agent when the platform refuses, or cannot be reached,
or will only deliver later. Each platform module offers a `sender()` factory (an output usable
outside the Rasa server, which raises DeliveryError instead of only logging) and is listed in
`SENDERS` by import path, so that importing this module stays cheap and free of import cycles
(the platform modules import `DeliveryError` from here).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels.common import GuardedOutputChannel

# reason -> what the desk shows the agent (Chinese UI). Platforms may raise other reasons; those
# are shown with the generic text.
REASONS: dict[str, str] = {
    # WeChat 公众号 (客服消息)
    "window_expired": "市民超过48小时未与公众号互动，微信不允许再主动发送消息。请改用电话回访，或等待市民再次发消息。",
    "not_subscribed": "市民已取消关注公众号，消息无法送达。请改用电话回访。",
    "too_many_messages": "市民未回复期间发送的消息已达到微信上限，请等待市民回复后再发。",
    "no_permission": "公众号没有客服消息接口权限（未认证账号），无法主动发送消息。",
    "deferred": "公众号只能被动回复：消息已保存，将在市民下次发消息时一并送达。",
    "invalid_recipient": "市民的账号标识无效，消息无法送达。",
    # Telegram
    "blocked_by_user": "市民已屏蔽机器人或删除了对话，消息无法送达。请改用电话回访。",
    "bad_request": "消息平台拒绝了这条消息（格式或对象无效），消息未送达。",
    "telegram_error": "Telegram 返回错误，消息未送达，请稍后重试。",
    # every platform
    "rate_limited": "平台接口调用过于频繁，请稍后重试。",
    "network": "暂时无法连接消息平台，请稍后重试。",
    "unreachable": "暂时无法连接消息平台，请稍后重试。",
    "redis_unavailable": "系统存储暂时不可用，消息可能未送达，请稍后重试。",
    "not_configured": "该渠道的平台账号尚未配置，消息无法发送。",
    "platform_error": "消息平台返回错误，消息未送达，请稍后重试。",
    "unknown_channel": "这个渠道不支持由坐席主动发送消息。",
}
GENERIC = "消息未能送达，请稍后重试或改用电话回访。"


class DeliveryError(Exception):
    """A message could not be delivered (or not now). `reason` is machine-readable (REASONS' keys)."""

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        channel: str = "",
        delivered_parts: int = 0,
        total_parts: int = 0,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.channel = channel
        self.delivered_parts = delivered_parts
        self.total_parts = total_parts
        super().__init__(f"{reason}: {detail}" if detail else reason)

    @property
    def message(self) -> str:
        """What the desk shows the agent."""
        text = REASONS.get(self.reason, GENERIC)
        if self.total_parts > 1 and self.delivered_parts:
            text += f"（长消息共{self.total_parts}段，已送达前{self.delivered_parts}段。）"
        return text


# channel name (as stored in ticket["channel"]) -> "module:factory" of its sender
SENDERS: dict[str, str] = {
    "rest": "channels.senders:rest_sender",
    "wechat": "channels.wechat.output:sender",
    "telegram": "channels.telegram:sender",
    "socketio": "channels.socketio:sender",
}


def rest_sender() -> GuardedOutputChannel:
    from channels.rest import RestOutput

    return RestOutput(collect=False)  # queued in the REST outbox, fetched with the next request


def get_sender(channel_name: str) -> GuardedOutputChannel:
    """The output that reaches a citizen on `channel_name` outside of a conversation turn."""
    target = SENDERS.get(channel_name)
    if target is None:
        raise DeliveryError("unknown_channel", f"no sender for channel {channel_name!r}", channel=channel_name)
    module, _, factory = target.partition(":")
    return getattr(importlib.import_module(module), factory)()
