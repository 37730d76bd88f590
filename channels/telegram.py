"""Telegram: `POST /webhooks/telegram/webhook`, python-telegram-bot's `Bot` inside a Rasa channel.

Only the `Bot` (HTTP client for the Bot API) is used, not PTB's Application/Updater: Rasa owns
the server and the event loop. On server start the bot is initialised (getMe) and, with
TELEGRAM_WEBHOOK_URL, the webhook is registered with TELEGRAM_SECRET_TOKEN; without a webhook
URL (local development, no public address) the channel polls getUpdates instead.

Every webhook request must carry `X-Telegram-Bot-Api-Secret-Token` equal to the secret
(compared in constant time), else 403. Updates are de-duplicated by `update_id` in Redis
(SET NX, shared by every process), so Telegram's re-deliveries are answered once. A button press
(callback query) is answered (the spinner stops), its keyboard is removed so it cannot be pressed
twice, and its payload goes to Rasa like a message. Outgoing texts are split at Telegram's limit
(4096 UTF-16 units), buttons become an inline keyboard (one per row: large targets), and a
`RetryAfter` (flood control) is waited out once, within a bound.

TELEGRAM_API_BASE points the bot at another Bot API server (tests use a local stand-in).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.infra import keys, settings, store
from channels.common import GuardedOutputChannel, Incoming, handle_incoming

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Bot API sendMessage limit, in UTF-16 code units
MAX_CALLBACK_BYTES = 64  # Bot API limit of callback_data
MAX_RETRY_WAIT_S = 30.0  # flood control longer than this: give up rather than hold the turn
UPDATE_TTL_S = 3 * 24 * 3600  # Telegram re-delivers for up to a day; keep ids a little longer
CALLBACK_TTL_S = 30 * 24 * 3600
ALLOWED_UPDATES = ["message", "callback_query"]
_BREAKS = ("\n\n", "\n", "。", "！", "？", "；", "，", ". ", " ")


# ------------------------------------------------------------------------------------ helpers
def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Chunks of at most `limit` UTF-16 units, broken at a paragraph, line or sentence if possible."""
    chunks: list[str] = []
    rest = text
    while _u16(rest) > limit:
        cut, used = 0, 0
        for ch in rest:  # the longest prefix within the limit (astral characters count twice)
            used += 2 if ord(ch) > 0xFFFF else 1
            if used > limit:
                break
            cut += 1
        window = rest[:cut]
        for sep in _BREAKS:
            i = window.rfind(sep)
            if i >= cut // 2:
                cut = i + len(sep)
                break
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    return [c.strip("\n") for c in chunks if c.strip()] or [text[:1] or " "]


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _bot_id(token: str) -> str:
    return token.split(":", 1)[0] or "bot"


def make_bot(cfg: settings.Settings | None = None) -> Bot:
    cfg = cfg or settings.load()
    return Bot(cfg.telegram_token, base_url=cfg.telegram_api_base)


async def _callback_data(payload: str) -> str:
    """callback_data is limited to 64 bytes: a longer payload is kept in Redis under a short key."""
    if len(payload.encode()) <= MAX_CALLBACK_BYTES and not payload.startswith("cb:"):
        return payload
    key = "cb:" + hashlib.sha256(payload.encode()).hexdigest()[:32]
    r = store.async_client()
    try:
        await r.set(keys.telegram_callback(key), payload, ex=CALLBACK_TTL_S)
    finally:
        await r.close()
    return key


async def _payload_of(data: str) -> str | None:
    if not data.startswith("cb:"):
        return data
    r = store.async_client()
    try:
        return await r.get(keys.telegram_callback(data))
    finally:
        await r.close()


async def first_delivery(token: str, update_id: int) -> bool:
    """True the first time this update reaches any process; False for a re-delivery."""
    r = store.async_client()
    try:
        return bool(await r.set(keys.telegram_update(_bot_id(token), update_id), "1", nx=True, ex=UPDATE_TTL_S))
    finally:
        await r.close()


# ------------------------------------------------------------------------------------ output
class TelegramOutput(GuardedOutputChannel):
    """Guarded output through the Bot API.

    In the Rasa server it uses the channel's bot and never raises (a failed send must not lose
    the conversation turn; it is logged). As the desk's sender (`raise_errors`) it raises
    channels.senders.DeliveryError, so the agent sees that the citizen did not get the reply.
    """

    channel_name = "telegram"

    def __init__(self, bot: Bot | None = None, raise_errors: bool = False, model_version: str | None = None) -> None:
        super().__init__(model_version)
        self.bot = bot
        self.raise_errors = raise_errors

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        try:
            if self.bot is not None:
                await self._send(self.bot, recipient_id, text, buttons)
                return
            if not settings.load().telegram_token:
                raise _Failed("not_configured")
            async with make_bot() as bot:
                await self._send(bot, recipient_id, text, buttons)
        except _Failed as e:
            log.error("telegram delivery to %s failed: %s", recipient_id, e.reason)
            if self.raise_errors:
                from channels.senders import DeliveryError

                raise DeliveryError(
                    e.reason, channel="telegram", delivered_parts=e.delivered_parts, total_parts=e.total_parts
                ) from e
        except TelegramError as e:  # getMe in `async with` (token refused, network)
            log.error("telegram delivery to %s failed: %s", recipient_id, type(e).__name__)
            if self.raise_errors:
                from channels.senders import DeliveryError

                raise DeliveryError(_reason(e), channel="telegram") from e

    async def _send(self, bot: Bot, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        markup = None
        if buttons:
            rows = [
                [
                    InlineKeyboardButton(
                        str(b.get("title", "")), callback_data=await _callback_data(str(b.get("payload", "")))
                    )
                ]
                for b in buttons
            ]
            markup = InlineKeyboardMarkup(rows)
        chunks = split_text(text)
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            try:
                await _call(bot.send_message, chat_id=recipient_id, text=chunk, reply_markup=markup if last else None)
            except _Failed as e:
                e.delivered_parts, e.total_parts = i, len(chunks)
                raise


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delivered_parts = 0
        self.total_parts = 0


def _reason(e: TelegramError) -> str:
    if isinstance(e, Forbidden):
        return "blocked_by_user"
    if isinstance(e, RetryAfter):
        return "rate_limited"
    if isinstance(e, BadRequest):
        return "bad_request"
    if isinstance(e, NetworkError):  # TimedOut included
        return "network"
    return "telegram_error"


async def _call(method: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
    """One Bot API call; flood control (RetryAfter) is waited out once if the wait is bounded."""
    try:
        return await method(**kwargs)
    except RetryAfter as e:
        wait = _retry_seconds(e)
        if wait > MAX_RETRY_WAIT_S:
            raise _Failed("rate_limited") from e
        log.warning("telegram flood control: waiting %.1fs before one retry", wait)
        await asyncio.sleep(wait)
        try:
            return await method(**kwargs)
        except TelegramError as e2:
            raise _Failed(_reason(e2)) from e2
    except TelegramError as e:
        raise _Failed(_reason(e)) from e


def sender() -> TelegramOutput:
    """For channels.senders: an output usable outside the Rasa server (the desk)."""
    return TelegramOutput(bot=None, raise_errors=True)


# ------------------------------------------------------------------------------------ input
def _attachments(message: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if message.photo:
        out.append({"type": "image", "platform": "telegram", "file_id": message.photo[-1].file_id})
    for kind in ("voice", "audio", "video", "video_note", "document", "sticker"):
        media = getattr(message, kind, None)
        if media is not None:
            out.append({"type": kind, "platform": "telegram", "file_id": media.file_id})
    if message.location is not None:
        out.append({"type": "location", "platform": "telegram",
                    "latitude": message.location.latitude, "longitude": message.location.longitude})  # fmt: skip
    return out


class TelegramInput(InputChannel):
    """Telegram Bot API channel (webhook, or polling for local development)."""

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        return cls()  # every value comes from the environment (bot/infra/settings.py)

    def __init__(self) -> None:
        self.cfg = settings.load()
        self.bot: Bot | None = make_bot(self.cfg) if self.cfg.telegram_token else None
        self.app: Sanic | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def get_output_channel(self) -> TelegramOutput:
        return TelegramOutput(self.bot)

    async def _tracker(self, sender_id: str) -> Any:
        agent = getattr(self.app.ctx, "agent", None) if self.app is not None else None
        return await agent.tracker_store.retrieve(sender_id) if agent and agent.tracker_store else None

    # --- start-up -------------------------------------------------------------------------
    async def _start(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Initialise the bot (retrying while the Bot API is unreachable), then webhook or polling."""
        assert self.bot is not None
        delay = 1.0
        while True:
            try:
                await self.bot.initialize()
                break
            except TelegramError as e:
                log.error("telegram bot could not be initialised (%s); retrying in %.0fs", type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        if self.cfg.telegram_webhook_url:
            await _call(
                self.bot.set_webhook,
                url=self.cfg.telegram_webhook_url,
                secret_token=self.cfg.telegram_secret_token,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram webhook registered for bot %s", self.bot.username)
        else:
            log.info("telegram: no TELEGRAM_WEBHOOK_URL, polling getUpdates (development mode)")
            await self._poll(on_new_message)

    async def _poll(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.bot is not None
        await _call(self.bot.delete_webhook, drop_pending_updates=False)
        offset: int | None = None
        delay = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=self.cfg.telegram_polling_timeout_s, allowed_updates=ALLOWED_UPDATES
                )
                delay = 1.0
            except RetryAfter as e:
                await asyncio.sleep(min(_retry_seconds(e), 60.0))
                continue
            except TelegramError as e:
                log.warning("telegram polling failed (%s); retrying in %.0fs", type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:
                    await self.process(update, on_new_message)
                except Exception:
                    log.exception("telegram update %s could not be handled", update.update_id)

    # --- one update -----------------------------------------------------------------------
    async def process(self, update: Update, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.bot is not None
        try:
            if not await first_delivery(self.cfg.telegram_token, update.update_id):
                log.info("telegram update %s delivered again: dropped", update.update_id)
                return
        except store.ERRORS:
            log.error("Redis unavailable: telegram update %s handled without de-duplication", update.update_id)
        output = TelegramOutput(self.bot)
        query = update.callback_query
        if query is not None:
            await self._button(query, output, on_new_message)
            return
        message = update.message
        if message is None or message.chat.type != "private":
            return  # edits, channel posts, groups: a citizen's case is handled in a private chat
        sender_id = str(message.chat.id)
        text = message.text or message.caption or ""
        if text.split(maxsplit=1)[:1] == ["/start"]:
            await output.send_approved(sender_id, "utter_greet")
            return
        await handle_incoming(
            Incoming(channel="telegram", sender_id=sender_id, text=text, message_id=str(message.message_id),
                     attachments=_attachments(message)),
            output,
            on_new_message,
            self._tracker,
        )  # fmt: skip

    async def _button(
        self, query: Any, output: TelegramOutput, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        assert self.bot is not None
        with contextlib.suppress(_Failed):
            await _call(self.bot.answer_callback_query, callback_query_id=query.id)
        message = query.message
        if message is None or getattr(message, "chat", None) is None or message.chat.type != "private":
            return
        with contextlib.suppress(_Failed):  # pressed once is enough: the keyboard goes away
            await _call(self.bot.edit_message_reply_markup, chat_id=message.chat.id, message_id=message.message_id)
        sender_id = str(message.chat.id)
        payload = await _payload_of(query.data or "")
        if not payload:
            await output.send_approved(sender_id, "utter_rephrase_ok")
            return
        await handle_incoming(
            Incoming(channel="telegram", sender_id=sender_id, text=payload, message_id=f"cb-{query.id}"),
            output,
            on_new_message,
            self._tracker,
        )

    # --- HTTP -----------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("telegram_webhook", __name__)
        channel = self

        @bp.listener("after_server_start")
        async def start(app: Sanic, _loop: Any) -> None:
            channel.app = app
            if channel.bot is None:
                log.info("telegram: no TELEGRAM_TOKEN, channel inactive")
                return
            channel._tasks.append(asyncio.create_task(channel._start(on_new_message)))

        @bp.listener("before_server_stop")
        async def stop(_app: Sanic, _loop: Any) -> None:
            for task in channel._tasks:
                task.cancel()
            if channel.bot is not None:
                with contextlib.suppress(Exception):
                    await channel.bot.shutdown()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if channel.bot is not None else "inactive"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            cfg = channel.cfg
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not cfg.telegram_secret_token or not hmac.compare_digest(
                given.encode(), cfg.telegram_secret_token.encode()
            ):
                log.warning("telegram webhook refused: wrong or missing secret token")
                return response.json({"error": "forbidden"}, status=403)
            if channel.bot is None:
                return response.json({"error": "telegram channel not configured"}, status=503)
            if len(request.body or b"") > cfg.max_body_bytes:
                return response.json({"error": "update too large"}, status=413)
            try:
                data = json.loads(request.body or b"{}")
                # de_json takes a dict on trust ("null" or a list would fail inside it)
                is_update = isinstance(data, dict) and "update_id" in data
                update = Update.de_json(data, channel.bot) if is_update else None
            except (ValueError, TypeError, KeyError):
                return response.json({"error": "not a Telegram update"}, status=400)
            if update is None:
                return response.json({"error": "not a Telegram update"}, status=400)
            try:
                await channel.process(update, on_new_message)
            except Exception:  # answered 200 anyway: a re-delivery would only be dropped as a duplicate
                log.exception("telegram update %s could not be handled", update.update_id)
            return response.json({"ok": True})

        return bp
