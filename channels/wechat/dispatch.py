"""What a WeChat message or event means for the citizen: text to the bot (through the shared
pipeline, channels/common.py), numbers for buttons, "继续" for the next part, media kept with the
citizen's ticket, subscribe/unsubscribe, menu clicks."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.core import attachments, handoff
from bot.core.attachments import Attachment
from bot.infra import keys, store
from bot.rasa.patches.replay import CHECK_SAVED
from channels.common import Incoming, clean_text, handle_incoming
from channels.wechat.config import CHANNEL
from channels.wechat.delivery import outbox_size, redis_call
from channels.wechat.menu import Menu
from channels.wechat.output import WeChatOutput
from channels.wechat.protocol import (
    Callback,
    ClickEvent,
    LocationMessage,
    MediaMessage,
    ScanEvent,
    SubscribeEvent,
    TextMessage,
    UnsubscribeEvent,
    VoiceMessage,
)

log = logging.getLogger(__name__)

MORE_WORDS = {"继续", "更多", "下一页", "下一部分"}

Retrieve = Callable[[str], Awaitable[Any]]  # the bot's tracker of a citizen (Rasa's tracker store)
Run = Callable[[Incoming], Awaitable[None]]


async def dispatch(
    cb: Callback,
    output: WeChatOutput,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    retrieve: Retrieve | None,
    menu: Menu,
) -> None:
    """What the callback means for the citizen; replies are collected in `output`."""
    msg = cb.message
    openid = cb.openid

    async def lookup(sender_id: str) -> Any:
        return await retrieve(sender_id) if retrieve else None

    async def run(incoming: Incoming) -> None:
        await handle_incoming(incoming, output, on_new_message, lookup)

    base: dict[str, Any] = {"wechat_msg_type": msg.kind}
    if cb.taken_over:  # the dead process may have saved the turn: its answer, not a second turn
        base[CHECK_SAVED] = True
    if isinstance(msg, TextMessage):
        text = clean_text(msg.content)
        if await _wants_more(openid, text):
            return  # the passive answer takes the next part from the outbox
        text = await _button_payload(openid, text)
        await run(Incoming(CHANNEL, openid, text, message_id=cb.message_id, metadata=base))
    elif isinstance(msg, VoiceMessage):
        recognized = clean_text(msg.recognition)
        if recognized:
            await run(Incoming(CHANNEL, openid, recognized, message_id=cb.message_id, metadata={**base, "voice": True}))
        else:
            await _media(cb, msg, output, run, lookup, "utter_voice_not_recognized")
    elif isinstance(msg, LocationMessage):
        label = clean_text(msg.label) or "位置"
        location = f"{label} ({clean_text(msg.latitude)},{clean_text(msg.longitude)})"
        await run(
            Incoming(CHANNEL, openid, location, message_id=cb.message_id, metadata={**base, "location": location})
        )
    elif isinstance(msg, MediaMessage):
        await _media(cb, msg, output, run, lookup, "utter_unsupported_media")
    elif isinstance(msg, SubscribeEvent):
        log.info("wechat: new subscriber%s", f" from QR scene {msg.scene!r}" if msg.scene else "")
        await output.send_approved(openid, "utter_welcome_subscribe")
    elif isinstance(msg, ScanEvent):  # already a subscriber, scanned one of the city's QR codes
        await output.send_approved(openid, "utter_greet")
    elif isinstance(msg, UnsubscribeEvent):
        await _unsubscribed(openid)
    elif isinstance(msg, ClickEvent):
        meant = menu.keys.get(msg.key)
        if meant is None:
            log.warning("wechat: menu key %r is not in config/wechat_menu.yml", msg.key[:64])
            await output.send_approved(openid, "utter_how_can_i_help")
            return
        await run(Incoming(CHANNEL, openid, meant, metadata={**base, "menu_key": msg.key}))
    else:  # VIEW, template results ...: nothing to say
        log.debug("wechat: %s ignored", msg.kind)


async def _wants_more(openid: str, text: str) -> bool:
    if unicodedata.normalize("NFKC", text).strip("。.!！ ") not in MORE_WORDS:
        return False
    try:
        return bool(await outbox_size(openid))
    except store.ERRORS:
        return False


async def _button_payload(openid: str, text: str) -> str:
    number = unicodedata.normalize("NFKC", text).strip()
    if not number.isdigit() or len(number) > 2:
        return text
    try:
        payload = await redis_call(lambda r: r.hget(keys.wechat_buttons(openid), str(int(number))))
    except store.ERRORS:
        return text
    return str(payload) if payload else text


async def _media(
    cb: Callback,
    msg: MediaMessage,
    output: WeChatOutput,
    run: Run,
    lookup: Retrieve,
    response_name: str,
) -> None:
    """Media the bot cannot read: kept with the citizen's ticket (handed off or being filed)."""
    attachment = Attachment.received_now(
        CHANNEL, msg.kind, media_id=msg.media_id, url=msg.url, title=msg.title, msg_id=msg.msg_id
    )
    try:
        handed_off = bool(await asyncio.to_thread(handoff.current, cb.openid))
    except store.ERRORS:
        handed_off = False
    incoming = Incoming(CHANNEL, cb.openid, "", message_id=cb.message_id, attachments=[attachment.as_dict()])
    if handed_off:  # the pipeline puts it on the handed-off ticket (the desk sees it)
        before = len(output.texts)
        await run(incoming)
        if len(output.texts) == before:  # (if the ticket had closed meanwhile, the pipeline answered)
            await output.send_approved(cb.openid, response_name)
        return
    await _keep_for_report(cb.openid, attachment, lookup)
    if response_name == "utter_unsupported_media":
        # through the pipeline (rate limit, inbound record); it answers utter_unsupported_media
        await run(incoming)
    else:
        await output.send_approved(cb.openid, response_name)


async def _keep_for_report(openid: str, attachment: Attachment, lookup: Retrieve) -> None:
    try:
        tracker = await lookup(openid)
    except Exception:
        tracker = None
    if tracker is None or not attachments.report_in_progress(getattr(tracker, "active_loop_name", None)):
        return
    try:
        await attachments.keep(openid, attachment)
    except store.ERRORS:
        log.warning("wechat: attachment for a report in progress not kept (Redis unavailable)")


async def attach_kept_media(openid: str, retrieve: Retrieve | None) -> None:
    """After a turn: media kept while a report was being filed join the ticket it produced."""

    async def active_loop() -> str | None:
        assert retrieve is not None
        tracker = await retrieve(openid)
        return getattr(tracker, "active_loop_name", None) if tracker is not None else None

    filed = await attachments.file_kept(openid, active_loop if retrieve else None)
    if filed is not None and filed.ticket_id is not None:
        log.info("wechat: %d attachment(s) joined ticket %s", filed.count, filed.ticket_id)


async def _unsubscribed(openid: str) -> None:
    """The citizen left: forget choices, owed replies and media; tell the desk if a ticket is open."""
    forget = [
        keys.wechat_buttons(openid),
        keys.wechat_outbox(openid),
        keys.wechat_recent(openid),
        keys.wechat_seen(openid),
        attachments.pending_attachments_key(openid),
    ]
    try:
        await redis_call(lambda r: r.delete(*forget))
        state = await asyncio.to_thread(handoff.current, openid)
    except store.ERRORS:
        log.error("wechat: could not clean up after %s unsubscribed (Redis unavailable)", openid)
        return
    if state:
        await handoff.apublish(
            "citizen_unsubscribed", ticket_id=state.get("ticket_id"), sender_id=openid, channel=CHANNEL
        )
    log.info("wechat: a subscriber left; their channel state is cleared")
