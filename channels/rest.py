"""Rasa's REST channel (`POST /webhooks/rest/webhook`), through the shared pipeline and guard.

Same request and answer as Rasa's own (`{"sender", "message"}` -> `[{"recipient_id", "text"}]`)
so existing clients keep working; an optional `message_id` makes sending a message again safe. REST cannot push: an agent's reply for a REST citizen waits
in a Redis outbox and comes with the answer to the citizen's next message (or `GET .../poll`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.infra import keys, settings, store
from bot.rasa.patches.replay import CHECK_SAVED
from channels.common import GuardedOutputChannel, Incoming, handle_incoming, model_version

log = logging.getLogger(__name__)
OUTBOX_TTL_S = 7 * 24 * 3600


class RestOutput(GuardedOutputChannel):
    """Collects the answers of one request; outside a request it queues them in Redis."""

    channel_name = "rest"

    def __init__(self, collect: bool = True, model_version: str | None = None) -> None:
        super().__init__(model_version)
        self.collect = collect
        # the answers leave in the HTTP response, after handle_incoming: its records go in one commit
        self.holds_records = collect
        self.messages: list[dict[str, Any]] = []

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        message: dict[str, Any] = {"recipient_id": recipient_id, "text": text}
        if buttons:
            message["buttons"] = buttons
        if self.collect:
            self.messages.append(message)
            return
        r = store.async_client()
        try:
            await r.rpush(keys.rest_outbox(recipient_id), json.dumps(message, ensure_ascii=False))
            await r.expire(keys.rest_outbox(recipient_id), OUTBOX_TTL_S)
        finally:
            await r.close()


async def take_outbox(sender_id: str) -> list[dict[str, Any]]:
    r = store.async_client()
    try:
        pipe = r.pipeline()
        pipe.lrange(keys.rest_outbox(sender_id), 0, -1)
        pipe.delete(keys.rest_outbox(sender_id))
        raw, _ = await pipe.execute()
    finally:
        await r.close()
    return [json.loads(x) for x in raw]


class RestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def get_output_channel(self) -> GuardedOutputChannel:
        return RestOutput(collect=False)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("rest_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if len(request.body or b"") > settings.load().max_body_bytes:
                return response.json({"error": "message too large"}, status=413)
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return response.json({"error": "body must be JSON"}, status=400)
            if not isinstance(body, dict):
                return response.json({"error": "body must be a JSON object"}, status=400)
            sender = str(body.get("sender") or "").strip()[:200]
            text = body.get("message")
            if not sender or not isinstance(text, str | None):
                return response.json({"error": "sender and message are required"}, status=400)
            given = body.get("metadata")
            metadata: dict[str, Any] = given if isinstance(given, dict) else {}
            # a client may name its message: sent again with the same id (no answer came), it is
            # answered from the saved conversation instead of being handled twice (bot/rasa/patches/replay.py)
            client_id = body.get("message_id")
            message_id = None
            if client_id is not None:
                if not isinstance(client_id, str | int) or not str(client_id).strip() or len(str(client_id)) > 64:
                    return response.json({"error": "message_id must be a string of 1 to 64 characters"}, status=400)
                message_id = f"rest:{str(client_id).strip()}"
                metadata = {**metadata, CHECK_SAVED: True}
            output = RestOutput(collect=True, model_version=model_version(request.app))
            agent = request.app.ctx.agent

            async def lookup(sender_id: str) -> Any:
                return await agent.tracker_store.retrieve(sender_id) if agent and agent.tracker_store else None

            await handle_incoming(
                Incoming(channel="rest", sender_id=sender, text=text or "", message_id=message_id, metadata=metadata),
                output,
                on_new_message,
                lookup,
            )
            try:
                pending = await take_outbox(sender)
            except Exception:
                log.warning("REST outbox unavailable for %s", sender)
                pending = []
            return response.json(pending + output.messages)

        @bp.route("/poll", methods=["GET"])
        async def poll(request: Request) -> HTTPResponse:
            sender = (request.args.get("sender") or "").strip()
            if not sender:
                return response.json({"error": "sender is required"}, status=400)
            return response.json(await take_outbox(sender))

        return bp
