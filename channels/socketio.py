"""The web chat: socket.io on the Rasa server, the chat page and the one-tag widget.

Protocol (Rasa's socketio protocol, with what a public page needs added):
  client -> `session_request {session_id?, token?}`; server -> `session_confirm {session_id, token}`
  then `history {messages}`. The session id is issued here (random, 128 bits) and signed
  (HMAC-SHA256 with WEBCHAT_SECRET, else DESK_SECRET_KEY); a forged or unsigned id gets
  `session_refused` and a fresh session, never the other conversation.
  client -> `user_uttered {message, id, title?}` with an acknowledgement; the text goes through
  channels.common.handle_incoming as the socket's OWN session (whatever session_id the payload
  names). `id` is the page's message id: a message re-sent after a network drop is answered once.
  server -> `bot_uttered {id, at, from: bot|agent|system, text, quick_replies, agent?}` to the room
  of the session, on whichever Rasa process holds the socket (python-socketio's Redis manager).

Every message of a session is kept in a short Redis list (`webchat:history:<session>`, expiring)
so that a reload or a reconnect shows the conversation again, agents' replies included.

Rasa 3.6.21's own SocketIOInput does not await `enter_room` (a coroutine since python-socketio
5.10), so replies never reach the room (RasaHQ/rasa#13027); this module's own handler awaits it.
The websockets themselves work on Python 3.11 thanks to bot/rasa/patches/sanic_websockets.py
(applied by bot/rasa/run.py before the server starts).

The page is served by the Rasa server itself: `GET /` (for browsers; other clients still get
Rasa's "Hello from Rasa"), `GET /widget.js` and `/webhooks/socketio/static/<file>`.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import socketio
from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.infra import keys, settings, store
from channels.common import GuardedOutputChannel, Incoming, handle_incoming

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HISTORY_MAX = 200
SEEN_TTL_S = 24 * 3600
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# responses shown as a line across the chat (a person takes over / leaves), not as a bubble
SYSTEM_LINES = {"utter_agent_joined": "agent_joined", "utter_agent_left": "agent_left"}

# what the message being delivered is (set by send_response / send_agent_text, read by deliver)
_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("webchat_current", default=None)


# ------------------------------------------------------------------------------------ sessions
def _secret() -> bytes:
    cfg = settings.load()
    return (cfg.webchat_secret or cfg.desk_secret_key).encode()


def sign(session_id: str) -> str:
    # domain-separated, so that a desk token can never double as a chat session and vice versa
    return hmac.new(_secret(), b"webchat-session:" + session_id.encode(), hashlib.sha256).hexdigest()


def new_session() -> dict[str, str]:
    session_id = secrets.token_hex(16)
    return {"session_id": session_id, "token": sign(session_id)}


def valid_session(session_id: Any, token: Any) -> bool:
    if not isinstance(session_id, str) or not isinstance(token, str) or not SESSION_ID.match(session_id):
        return False
    return hmac.compare_digest(sign(session_id), token)


# ------------------------------------------------------------------------------------ history
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


async def append_history(session_id: str, entry: dict[str, Any]) -> None:
    ttl = settings.load().webchat_history_days * 86400
    r = store.async_client()
    try:
        pipe = r.pipeline()
        pipe.rpush(keys.webchat_history(session_id), json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(keys.webchat_history(session_id), -HISTORY_MAX, -1)
        pipe.expire(keys.webchat_history(session_id), ttl)
        await pipe.execute()
    finally:
        await r.close()


async def read_history(session_id: str) -> list[dict[str, Any]]:
    r = store.async_client()
    try:
        raw = await r.lrange(keys.webchat_history(session_id), 0, -1)
    finally:
        await r.close()
    out = []
    for item in raw:
        try:
            out.append(json.loads(item))
        except ValueError:
            continue
    return out


async def first_time_seen(session_id: str, message_id: str) -> bool:
    """False when this message of this session was already taken (a re-send after a drop)."""
    r = store.async_client()
    try:
        return bool(await r.set(keys.webchat_seen(session_id, message_id), "1", nx=True, ex=SEEN_TTL_S))
    finally:
        await r.close()


# ------------------------------------------------------------------------------------ output
class SocketIOOutput(GuardedOutputChannel):
    """Guarded output to a web chat session's room.

    Inside the Rasa server it emits through the server (local sockets first, then the other
    processes via Redis). Outside (the desk's sender) it is a write-only Redis manager: any Rasa
    process holding the citizen's socket delivers it. Either way the entry is kept in the
    session's history first, so a citizen who is offline sees it when the page comes back.
    """

    channel_name = "socketio"

    def __init__(self, sio: socketio.AsyncServer | None = None, bot_message_evt: str = "bot_uttered",
                 model_version: str | None = None) -> None:  # fmt: skip
        super().__init__(model_version)
        self.sio = sio
        self.bot_message_evt = bot_message_evt

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        token = _current.set({"response": message.get("utter_action")})
        try:
            await super().send_response(recipient_id, message)
        finally:
            _current.reset(token)

    async def send_agent_text(self, recipient_id: str, text: str, agent: str, ticket_id: str) -> None:
        token = _current.set({"agent": agent, "ticket_id": ticket_id})
        try:
            await super().send_agent_text(recipient_id, text, agent, ticket_id)
        finally:
            _current.reset(token)

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        current = _current.get() or {}
        entry: dict[str, Any] = {"id": uuid.uuid4().hex, "at": _now(), "from": "bot", "text": text}
        if current.get("agent") is not None:
            entry.update({"from": "agent", "agent": str(current["agent"])[:40]})
        elif current.get("response") in SYSTEM_LINES:
            entry.update({"from": "system", "event": SYSTEM_LINES[current["response"]]})
        if buttons:
            entry["quick_replies"] = [
                {"content_type": "text", "title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in buttons
            ]
        try:
            await append_history(recipient_id, entry)
        except store.ERRORS as e:
            if self.sio is None:  # the desk must know that the citizen may never see it
                from channels.senders import DeliveryError

                raise DeliveryError("redis_unavailable", channel="socketio") from e
            log.error("web chat history unavailable; delivering %s live only", entry["id"])
        await self.emit(recipient_id, entry)

    async def emit(self, room: str, entry: dict[str, Any]) -> None:
        if self.sio is not None:
            await self.sio.emit(self.bot_message_evt, entry, room=room)
            return
        manager = socketio.AsyncRedisManager(
            settings.load().effective_redis_url, channel=keys.SOCKETIO_CHANNEL, write_only=True
        )
        try:
            await manager.emit(self.bot_message_evt, entry, namespace="/", room=room)
        finally:
            if manager.redis is not None:
                await manager.redis.close()


def sender() -> SocketIOOutput:
    """For channels.senders: a web chat output usable outside the Rasa server (the desk)."""
    return SocketIOOutput(sio=None)


# ------------------------------------------------------------------------------------ static files
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml"}  # fmt: skip
STATIC_FILES = ("chat.js", "chat.css", "vendor/socket.io.min.js", "vendor/socket.io-client.LICENSE.txt")


def _frame_ancestors() -> str:
    origins = settings.load().cors_origins
    if not origins or "*" in origins:
        return "*"
    return "'self' " + " ".join(origins)


def _static(name: str) -> HTTPResponse:
    path = STATIC / name
    body = path.read_bytes()
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",  # revalidate: a new release must reach citizens at once
        "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    }
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {_frame_ancestors()}"
        )
    else:
        headers["Access-Control-Allow-Origin"] = "*"  # widget.js is loaded by the city's sites
    return response.raw(body, content_type=_TYPES.get(path.suffix, "application/octet-stream"), headers=headers)


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and request.path == "/" and "text/html" in request.headers.get("accept", "")


# ------------------------------------------------------------------------------------ input
class _Blueprint(Blueprint):
    """Attaches socket.io to the app and adds the page routes outside /webhooks/socketio."""

    def __init__(self, channel: SocketIOInput, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx.channel = channel

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        channel: SocketIOInput = self.ctx.channel
        channel.app = app
        assert channel.sio is not None
        channel.sio.attach(app, channel.socketio_path)

        # Rasa's own "/" answers "Hello from Rasa"; a browser asking for "/" gets the chat page
        # instead (a request middleware runs after routing, so Rasa's route stays for tools).
        async def chat_page(request: Request) -> HTTPResponse | None:
            return _static("chat.html") if _wants_page(request) else None

        app.register_middleware(chat_page, "request")

        async def widget(request: Request) -> HTTPResponse:
            return _static("widget.js")

        app.add_route(widget, "/widget.js", methods=["GET"], name="webchat_widget")
        super().register(app, options)


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socketio channel, fixed and hardened for a public page on several processes."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SocketIOInput:
        credentials = credentials or {}
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            True,  # sessions are what this channel is about; a socket id is not a conversation
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key"),
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app: Sanic | None = None

    def get_output_channel(self) -> SocketIOOutput:
        # used by Rasa's HTTP API (trigger_intent with output_channel=latest, e.g. when the desk
        # closes a ticket): with the Redis manager this works whichever process holds the socket
        return SocketIOOutput(self.sio, self.bot_message_evt)

    async def _tracker(self, sender_id: str) -> Any:
        agent = getattr(self.app.ctx, "agent", None) if self.app is not None else None
        return await agent.tracker_store.retrieve(sender_id) if agent and agent.tracker_store else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        cfg = settings.load()
        sio = socketio.AsyncServer(
            async_mode="sanic",
            # [] = engine.io leaves CORS to Sanic-CORS (Rasa's --cors), as Rasa does; sessions
            # are bound by signature, not by cookies, so another site's page gains nothing
            cors_allowed_origins=[],
            client_manager=socketio.AsyncRedisManager(cfg.effective_redis_url, channel=keys.SOCKETIO_CHANNEL),
            max_http_buffer_size=cfg.max_body_bytes,
        )
        self.sio = sio
        ns = self.namespace
        bp = _Blueprint(self, "socketio_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/static/<name:path>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            if name not in STATIC_FILES:  # a fixed list: no path ever reaches the file system
                return response.json({"error": "not found"}, status=404)
            return _static(name)

        @sio.on("connect", namespace=ns)
        async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None = None) -> bool:
            if not self.jwt_key:
                return True
            token = (auth or {}).get("token") if isinstance(auth, dict) else None
            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        @sio.on("session_request", namespace=ns)
        async def session_request(sid: str, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            asked, token = data.get("session_id"), data.get("token")
            previous = (await sio.get_session(sid, namespace=ns)).get("session_id")
            if asked and valid_session(asked, token):
                session = {"session_id": asked, "token": token}
                fresh = False
            else:
                if asked:
                    log.warning("web chat session refused (unsigned or forged id) for socket %s", sid)
                    await sio.emit("session_refused", {"reason": "invalid_session"}, room=sid, namespace=ns)
                session, fresh = new_session(), True
            if previous and previous != session["session_id"]:
                await sio.leave_room(sid, previous, namespace=ns)
            await sio.save_session(sid, {"session_id": session["session_id"]}, namespace=ns)
            await sio.enter_room(sid, session["session_id"], namespace=ns)  # awaited: RasaHQ/rasa#13027
            await sio.emit("session_confirm", session, room=sid, namespace=ns)
            try:
                history = [] if fresh else await read_history(session["session_id"])
            except store.ERRORS:
                log.error("web chat history unavailable for a reconnecting session")
                history = []
            await sio.emit("history", {"messages": history}, room=sid, namespace=ns)
            if fresh:
                try:
                    await SocketIOOutput(sio, self.bot_message_evt).send_approved(session["session_id"], "utter_greet")
                except Exception:
                    log.exception("web chat greeting could not be sent")

        @sio.on(self.user_message_evt, namespace=ns)
        async def handle_message(sid: str, data: Any) -> dict[str, Any]:
            session_id = (await sio.get_session(sid, namespace=ns)).get("session_id")
            if not session_id:
                return {"ok": False, "error": "no_session"}
            data = data if isinstance(data, dict) else {"message": data}
            if data.get("session_id") not in (None, session_id):
                # the payload names another conversation: never act on it
                log.warning("web chat message for a foreign session refused (socket %s)", sid)
                return {"ok": False, "error": "wrong_session"}
            text = data.get("message")
            if not isinstance(text, str):
                return {"ok": False, "error": "bad_message"}
            message_id = (
                data.get("id") if isinstance(data.get("id"), str) and MESSAGE_ID.match(data["id"]) else uuid.uuid4().hex
            )
            title = data.get("title") if isinstance(data.get("title"), str) else None
            try:
                if not await first_time_seen(session_id, message_id):
                    return {"ok": True, "id": message_id, "duplicate": True}
                entry = {"id": message_id, "at": _now(), "from": "citizen", "text": (title or text)[:2000]}
                await append_history(session_id, entry)
            except store.ERRORS:
                log.error("web chat: Redis unavailable for a message of a session")  # the pipeline answers politely
            output = SocketIOOutput(sio, self.bot_message_evt)
            await handle_incoming(
                Incoming(channel=self.name(), sender_id=session_id, text=text, message_id=message_id),
                output,
                on_new_message,
                self._tracker,
            )
            return {"ok": True, "id": message_id}

        @sio.on("disconnect", namespace=ns)
        async def disconnect(sid: str, *args: Any) -> None:
            log.debug("web chat socket %s disconnected", sid)

        return bp
