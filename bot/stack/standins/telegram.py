"""A local stand-in for Telegram's Bot API (the real one cannot be reached from here).

It answers the methods the channel uses (getMe, setWebhook, deleteWebhook, getUpdates,
sendMessage, answerCallbackQuery, editMessageReplyMarkup) at `/bot<token>/<method>` on a
loopback port, records every call with its parameters, and can be told to answer the next
calls of a method with flood control (429 + retry_after) or an error, or to hand out updates to
a polling client. It runs in its own thread, so that synchronous tests, asyncio tests and
other processes (a Rasa server started with TELEGRAM_API_BASE pointing here) can all use it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.stack.processes import free_port

TOKEN = "123456789:TEST-token_for-the-standin"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    # python-telegram-bot sends form fields; structured values (reply_markup, lists) as JSON
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, str) and v[:1] in "[{":
            try:
                out[k] = json.loads(v)
                continue
            except ValueError:
                pass
        out[k] = v
    return out


class TelegramStandIn:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.port = free_port()
        self.calls: list[Call] = []
        self._failures: dict[str, list[dict[str, Any]]] = {}
        self._updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._message_id = 1000

    # --- what tests use ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The value for TELEGRAM_API_BASE (the token is appended by python-telegram-bot)."""
        return f"{self.url}/bot"

    def calls_of(self, method: str, **match: Any) -> list[Call]:
        with self._lock:
            found = [c for c in self.calls if c.method == method]
        return [c for c in found if all(str(c.params.get(k)) == str(v) for k, v in match.items())]

    def sent_texts(self, chat_id: int | str) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.calls_of("sendMessage", chat_id=chat_id)]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0, **match: Any) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_of(method, **match)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} {method} calls matching {match}, got {self.calls_of(method, **match)}")

    def fail_next(self, method: str, *, retry_after: int | None = None, code: int = 400,
                  description: str = "Bad Request: test failure", times: int = 1) -> None:  # fmt: skip
        """The next `times` calls of `method` fail (429 with retry_after, or `code`)."""
        with self._lock:
            for _ in range(times):
                self._failures.setdefault(method, []).append(
                    {
                        "retry_after": retry_after,
                        "code": 429 if retry_after is not None else code,
                        "description": description,
                    }
                )

    def queue_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append(update)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()
            self._updates.clear()

    # --- server ----------------------------------------------------------------------------------
    def start(self) -> TelegramStandIn:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/bot{token}/{method}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="telegram-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise TimeoutError("telegram stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        params = _decode({**dict(request.query), **params})
        with self._lock:
            self.calls.append(Call(method, params))
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure["code"], "description": failure["description"]}
            if failure["retry_after"] is not None:
                body["description"] = f"Too Many Requests: retry after {failure['retry_after']}"
                body["parameters"] = {"retry_after": failure["retry_after"]}
            return web.json_response(body, status=failure["code"])
        return web.json_response({"ok": True, "result": await self._result(method, params)})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": int(self.token.split(":")[0]),
                "is_bot": True,
                "first_name": "12345热线",
                "username": "hotline12345_test_bot",
            }
        if method in ("setWebhook", "deleteWebhook", "answerCallbackQuery"):
            return True
        if method == "getUpdates":
            timeout = float(params.get("timeout") or 0)
            offset = int(params.get("offset") or 0)
            deadline = time.monotonic() + min(timeout, 2.0)  # short long-polls keep tests quick
            while True:
                with self._lock:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                    ready = list(self._updates)
                if ready or time.monotonic() >= deadline:
                    return ready
                await asyncio.sleep(0.05)
        if method in ("sendMessage", "editMessageReplyMarkup"):
            with self._lock:
                self._message_id += 1
                message_id = self._message_id if method == "sendMessage" else int(params.get("message_id", 0))
            chat_id = int(params.get("chat_id", 0))
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "12345热线"},
                "text": params.get("text", ""),
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        return True


# --- updates as Telegram sends them ---------------------------------------------------------------
def text_update(update_id: int, chat_id: int, text: str, message_id: int | None = None) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "市民", "language_code": "zh-hans"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id or update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "市民"},
            "from": user,
            "text": text,
        },
    }


def callback_update(
    update_id: int, chat_id: int, data: str, message_id: int = 1, query_id: str | None = None
) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "市民"}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id or f"q{update_id}",
            "from": user,
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "市民"},
                "from": {"id": 123456789, "is_bot": True, "first_name": "12345热线"},
                "text": "以上解答对您有帮助吗？",
            },
        },
    }
