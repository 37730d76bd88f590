"""`WeChatInput`: the 公众号 callback, `GET|POST /webhooks/wechat/`, and the 5-second rule.

A callback is authenticated (channels.wechat.protocol; failures get 400/403, never a 5xx), then
registered in its message's record (channels.wechat.delivery): only the first delivery starts a
bot turn, the others wait for that turn's reply and answer with it. The turn runs as its own task
(channels.wechat.turns); the request waits for it up to WECHAT_REPLY_BUDGET_S and then answers
passively, or, when the bot is slower, answers `success` at once and the reply goes out through
the customer-service message API (客服消息) when it is ready. Accounts without that API
(WECHAT_CUSTOMER_SERVICE=false) hold the first deliveries open so that WeChat's retries keep
waiting for the reply; after the last one the reply waits in the outbox and comes with the answer
to the citizen's next message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import catalogue, crisis
from bot.infra import keys, store
from channels.common import GuardedOutputChannel
from channels.senders import DeliveryError
from channels.wechat import delivery, turns
from channels.wechat.client import push_messages
from channels.wechat.config import CHANNEL, WECHAT_TIMEOUT_S, WeChatConfig
from channels.wechat.delivery import Claim, State
from channels.wechat.dispatch import Retrieve, attach_kept_media, dispatch
from channels.wechat.menu import load_menu
from channels.wechat.output import WeChatOutput
from channels.wechat.protocol import (
    Callback,
    Query,
    Refused,
    authenticate,
    encrypt_envelope,
    fresh,
    signature_ok,
    text_reply_xml,
)
from channels.wechat.text import pack

log = logging.getLogger(__name__)

HOLD_MARGIN_S = 1.0  # passive-only mode holds a delivery this long past WeChat's timeout
FINAL_ATTEMPT = 3  # WeChat delivers a message at most three times (about 15 s)
POLL_S = 0.05  # how often a delivery whose turn runs elsewhere looks at Redis
BUSY_RESPONSE = "utter_service_busy"
MORE_RESPONSE = "utter_wechat_more"

Start = Callable[[bool], asyncio.Task[Any]]  # runs the message's turn here (True: taken over)


def _retrieve(request: Request) -> Retrieve | None:
    """The bot's tracker lookup (Rasa's agent), None when this server has no tracker store."""
    agent = getattr(request.app.ctx, "agent", None)
    return agent.tracker_store.retrieve if agent and agent.tracker_store else None


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
                cb = self.authenticate(request, arrival)
            except Refused as e:
                log.warning("wechat: refused a callback (%s): %s", e.status, e.reason)
                return response.text("bad request" if e.status == 400 else "forbidden", status=e.status)
            try:
                return await self.serve(cb, on_new_message, request)
            except Exception:  # a bug must not become a 5xx (WeChat would show an error to the citizen)
                log.exception("wechat: unexpected error answering %s", cb.openid)
                return response.text("success")

        return bp

    def authenticate(self, request: Request, arrival: float) -> Callback:
        args = request.args
        query = Query(*(args.get(k) for k in ("signature", "timestamp", "nonce", "msg_signature", "encrypt_type")))
        return authenticate(self.cfg, query, request.body or b"", arrival)

    def _xml(self, cb: Callback, text: str) -> HTTPResponse:
        xml = text_reply_xml(cb.openid, cb.account, text)
        if cb.encrypted:
            xml = encrypt_envelope(self.cfg, xml, cb.nonce)
        return response.text(xml, content_type="application/xml; charset=utf-8")

    # -------------------------------------------------------------------------------- one delivery
    async def serve(
        self, cb: Callback, on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request
    ) -> HTTPResponse:
        key = keys.wechat_msg(cb.dedupe_id)
        event = str(cb.fields.get("Event", "")).lower()
        try:
            seen = cb.openid if event != "unsubscribe" else None
            attempts = await delivery.begin(key, turns.lease_until(time.time()), seen)
        except store.ERRORS:
            log.error("wechat: Redis unavailable; cannot de-duplicate a message from %s", cb.openid)
            busy = WeChatOutput(collect=True)
            await busy.send_approved(cb.openid, BUSY_RESPONSE)
            return self._xml(cb, "\n\n".join(busy.texts))
        turn = turns.running(key)

        def start(taken_over: bool = False) -> asyncio.Task[Any]:
            turn_cb = dataclasses.replace(cb, taken_over=True) if taken_over else cb
            return turns.start(key, self._owned_turn(key, turn_cb, on_new_message, request))

        if attempts == 1:
            turn = start()
        else:
            log.info("wechat: delivery %d of %s (a retry): answering with the first one's reply", attempts, key)
        return await self._answer(key, cb, attempts, turn, start)

    async def _owned_turn(
        self, key: str, cb: Callback, on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request
    ) -> None:
        turns.keep_leases()  # the turn is running here from its start (serve) to its end
        await self._turn(key, cb, on_new_message, request)

    async def _take_over_if_orphaned(
        self, key: str, turn: asyncio.Task[Any] | None, start: Start
    ) -> asyncio.Task[Any] | None:
        """A retry whose turn runs in no process any more (its lease ran out) runs the turn itself."""
        if turn is not None:
            return turn
        try:
            now = time.time()
            won = await delivery.take_over(key, now, turns.lease_until(now))
        except store.ERRORS:
            return None
        if not won:
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
        self, key: str, cb: Callback, attempts: int, turn: asyncio.Task[Any] | None, start: Start
    ) -> HTTPResponse:
        loop = asyncio.get_running_loop()
        budget_end = cb.arrival + self.cfg.budget_s
        if attempts > 1:
            turn = await self._take_over_if_orphaned(key, turn, start)
        elif self.cfg.can_push and turns.hopeless(loop.time(), budget_end):
            # admission: the turns ahead of this one already take longer than its budget, so its
            # reply will be pushed whatever happens; answering now frees the connection (and
            # nginx's slot) instead of holding it for seconds of an overloaded loop
            return await self._handed_on(key, cb, await delivery.give_up(key, State.PUSH))
        claim = await delivery.claim(key, State.ANSWERED)
        while claim.reply is None and claim.state is State.PENDING and loop.time() < budget_end:
            await self._wait(turn, budget_end - loop.time())
            if attempts > 1:
                turn = await self._take_over_if_orphaned(key, turn, start)
            claim = await delivery.claim(key, State.ANSWERED)
        if claim.reply is not None:
            return await self._passive(key, cb, claim)
        if claim.state is not State.PENDING:  # pushed, queued ...: this message's reply goes another way
            return await self._passive(key, cb, Claim(claim.state, []))
        # the budget is spent and the bot is still busy
        if self.cfg.can_push:
            return await self._handed_on(key, cb, await delivery.give_up(key, State.PUSH))
        if attempts >= FINAL_ATTEMPT:
            return await self._handed_on(key, cb, await delivery.give_up(key, State.QUEUED))
        # passive-only: hold this delivery until WeChat gives up on it; its retry waits again
        hold_end = cb.arrival + WECHAT_TIMEOUT_S + HOLD_MARGIN_S
        while loop.time() < hold_end:
            await self._wait(turn, hold_end - loop.time())
            turn = await self._take_over_if_orphaned(key, turn, start)
            claim = await delivery.claim(key, State.ANSWERED)
            if claim.reply is not None:
                return await self._passive(key, cb, claim)
            if claim.state is not State.PENDING:
                break
        return response.text("success")

    async def _handed_on(self, key: str, cb: Callback, claim: Claim) -> HTTPResponse:
        """After give_up: `success` (the reply goes to the API or the outbox), unless the turn
        finished meanwhile and its reply was claimed."""
        return await self._passive(key, cb, claim) if claim.reply is not None else response.text("success")

    async def _passive(self, key: str, cb: Callback, claim: Claim) -> HTTPResponse:
        """One passive reply: this message's texts, after anything still owed to the citizen.

        Only the delivery that took the reply (state done -> answered) decides how it goes out;
        the others repeat its decision (`_follow`), so a reply is never sent twice."""
        if claim.state is State.ANSWERED:
            return await self._follow(key, cb, claim)
        # the owner of this message's reply; or a delivery whose reply went another way (pushed,
        # queued ...), which only carries what is still owed from before
        owner = claim.state is State.DONE
        own = claim.reply or []
        try:
            earlier = await self._sweep(cb.openid, key)
            queued = await delivery.outbox_drain(cb.openid)
        except store.ERRORS:
            earlier, queued = [], []
        messages = pack([*queued, *earlier, *own])
        if not messages:
            if owner:
                await self._mark(key, State.SILENT)
            return response.text("success")
        if len(messages) > 1 and self.cfg.can_push:
            # one passive message cannot carry them all, and parts must arrive in order: all by API
            if owner:
                await self._mark(key, State.PUSHED)
            turns.spawn(self._push_or_keep(cb.openid, messages))
            return response.text("success")
        first = messages[0]
        if len(messages) > 1:  # passive-only: the rest when the citizen asks for more
            await delivery.outbox_add(cb.openid, messages[1:], front=True)
            first += "\n\n" + catalogue.load().text(MORE_RESPONSE)
        if owner:
            await self._mark(key, passive=first)
        return self._xml(cb, first)

    async def _mark(self, key: str, state: State | None = None, passive: str | None = None) -> None:
        """Record how this message was answered, for its other deliveries to repeat."""
        try:
            if state is not None:
                await delivery.mark_state(key, state)
            else:
                await delivery.mark_passive(key, passive or "")
        except store.ERRORS:
            log.warning("wechat: could not record how %s was answered", key)

    async def _follow(self, key: str, cb: Callback, claim: Claim) -> HTTPResponse:
        """Another delivery of this message took the reply: answer what it answered."""
        if claim.passive:
            return self._xml(cb, claim.passive)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0  # the owner decides within milliseconds
        while loop.time() < deadline:
            try:
                state, passive = await delivery.answered_with(key)
            except store.ERRORS:
                break
            if passive:
                return self._xml(cb, passive)
            if state is not State.ANSWERED:
                break  # pushed or silent: nothing to repeat
            await asyncio.sleep(POLL_S)
        return response.text("success")

    async def _sweep(self, openid: str, key: str) -> list[str]:
        """Replies to earlier messages that finished when nobody was waiting (their deliveries gave up)."""
        texts: list[str] = []
        for other in reversed(await delivery.recent(openid)):  # oldest first
            if other == key:
                continue
            claim = await delivery.claim(other, State.SWEPT)
            if claim.reply:
                texts.extend(claim.reply)
        return texts

    async def _push_or_keep(self, openid: str, messages: list[str]) -> None:
        try:
            await push_messages(openid, messages, self.cfg)
        except DeliveryError as e:
            log.error("wechat: customer-service message to %s failed (%s); kept for the next message", openid, e.reason)
            try:
                await delivery.outbox_add(openid, messages[e.delivered_parts :])
            except store.ERRORS:
                log.error("wechat: reply to %s lost: Redis unavailable", openid)

    # -------------------------------------------------------------------------------- the bot turn
    async def _turn(
        self, key: str, cb: Callback, on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request
    ) -> None:
        output = WeChatOutput(collect=True)
        try:
            await dispatch(cb, output, on_new_message, _retrieve(request), self.menu)
        except Exception:
            log.exception("wechat: the turn for %s failed", cb.openid)
            try:
                await output.send_approved(cb.openid, BUSY_RESPONSE)
            except Exception:
                log.exception("wechat: could not even say that the service is busy")
        try:
            await attach_kept_media(cb.openid, _retrieve(request))
        except Exception:  # the citizen's answer does not depend on it; the media stay kept
            log.exception("wechat: kept media of %s could not join their ticket", cb.openid)
        try:
            if not output.buttons_seen and output.texts:  # a new answer without choices: old numbers mean nothing
                await delivery.redis_call(lambda r: r.delete(keys.wechat_buttons(cb.openid)))
            outcome = await delivery.finish(key, cb.openid, output.texts)
        except store.ERRORS:
            log.error("wechat: reply to %s could not be handed over (Redis unavailable)", cb.openid)
            return
        if outcome is State.PUSH and output.texts:
            await self._push_or_keep(cb.openid, pack(output.texts))
