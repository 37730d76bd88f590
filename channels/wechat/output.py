"""`WeChatOutput`: a turn's replies collected for the passive answer, or sent through 客服消息.

Guard and audit come from GuardedOutputChannel; buttons become numbered lines ("回复 1：转人工",
the numbers remembered in Redis); at most 2048 bytes per message (channels.wechat.text).
`sender()` is the desk's way to reach a WeChat citizen (agent replies): 客服消息, with the
48-hour window and error 45015 reported as `channels.senders.DeliveryError`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.infra import keys, store
from channels.common import GuardedOutputChannel
from channels.senders import DeliveryError
from channels.wechat.client import push_messages
from channels.wechat.config import CHANNEL, WeChatConfig
from channels.wechat.delivery import outbox_add, redis_call
from channels.wechat.protocol import strip_illegal
from channels.wechat.text import pack

log = logging.getLogger(__name__)

CS_WINDOW_S = 48 * 3600  # customer-service messages only within 48 h of the citizen's last action
BUTTONS_TTL_S = 24 * 3600


async def last_seen(openid: str) -> float | None:
    """When the citizen last wrote (Unix seconds), if known."""
    raw = await redis_call(lambda r: r.get(keys.wechat_seen(openid)))
    return float(raw) if raw else None


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
                pipe.delete(keys.wechat_buttons(recipient_id))
            pipe.hset(keys.wechat_buttons(recipient_id), mapping=mapping)
            pipe.expire(keys.wechat_buttons(recipient_id), BUTTONS_TTL_S)
            await pipe.execute()

        try:
            await redis_call(remember)
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
