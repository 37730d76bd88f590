"""Who is calling the desk: a bearer token (API) or a console session (cookie), else 401.

- `Authorization: Bearer <DESK_API_TOKEN>`: the service token of CONTRACT.md; the acting agent
  is the `X-Agent` header when given (e.g. the name in the city's own tool), else "api".
- `Authorization: Bearer <personal token>`: an agent's own token (`python -m bot.desk.users token`).
- Console: a random session id in an HttpOnly, SameSite=Strict cookie; the session lives in
  Redis (shared by every desk process, revocable by logout). State-changing requests made with
  the cookie must also carry the session's CSRF token in `X-CSRF-Token`.
Failed logins are limited per account and per address (Redis), so passwords cannot be guessed
at speed.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.desk import users
from bot.infra import keys, settings, store

log = logging.getLogger(__name__)
COOKIE = "desk_session"
# failed logins allowed per 15 minutes: per account (guessing one password), and per address,
# higher, because behind a proxy every agent may share one address
LOGIN_FAILURES = {"u": 10, "a": 50}
PUBLIC = ("/health", "/login", "/static/", "/favicon.ico")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
_AGENT_HEADER = re.compile(r"[\w.\-@\u4e00-\u9fff]{1,64}")


@dataclass(frozen=True)
class Identity:
    agent: str  # recorded on tickets, transcript and audit
    display_name: str
    role: str
    departments: tuple[str, ...]
    via: str  # token | personal_token | session
    csrf: str = ""

    def may_see(self, department: str) -> bool:
        return not self.departments or department in self.departments

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "display_name": self.display_name,
            "role": self.role,
            "departments": list(self.departments),
            "csrf": self.csrf,
        }


async def create_session(user: users.User) -> tuple[str, str]:
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    ttl = int(settings.load().desk_session_hours * 3600)
    r = store.async_client()
    try:
        await r.set(keys.desk_session(sid), json.dumps({"u": user.name, "csrf": csrf}), ex=ttl)
    finally:
        await r.close()
    return sid, csrf


async def drop_session(sid: str) -> None:
    r = store.async_client()
    try:
        await r.delete(keys.desk_session(sid))
    finally:
        await r.close()


async def _from_session(sid: str) -> Identity | None:
    if not sid or len(sid) > 100:
        return None
    r = store.async_client()
    try:
        raw = await r.get(keys.desk_session(sid))
    finally:
        await r.close()
    if not raw:
        return None
    data = json.loads(raw)
    user = users.load().get(data.get("u", ""))
    if user is None:  # the account was removed: its sessions end with it
        return None
    return Identity(user.name, user.display_name, user.role, user.departments, "session", data.get("csrf", ""))


def _from_bearer(request: web.Request) -> Identity | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    if not token:
        return None
    expected = settings.load().desk_api_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        agent = request.headers.get("X-Agent", "").strip()
        agent = agent if _AGENT_HEADER.fullmatch(agent) else "api"
        return Identity(agent, agent, "supervisor", (), "token")
    user = users.by_token(token)
    if user is not None:
        return Identity(user.name, user.display_name, user.role, user.departments, "personal_token")
    return None


def unauthorized(message: str = "未登录或令牌无效") -> web.Response:
    return web.json_response(
        {"error": "unauthorized", "message": message}, status=401, headers={"WWW-Authenticate": 'Bearer realm="desk"'}
    )


@web.middleware
async def middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    path = request.path
    if any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC):
        return await handler(request)
    is_api = path.startswith("/api/") or path == "/api"
    ident = _from_bearer(request)
    if ident is None and request.headers.get("Authorization") and is_api:
        return unauthorized()
    if ident is None:
        ident = await _from_session(request.cookies.get(COOKIE, ""))
        if ident is not None and request.method in UNSAFE:
            sent = request.headers.get("X-CSRF-Token", "")
            if not sent or not hmac.compare_digest(sent.encode(), ident.csrf.encode()):
                return web.json_response({"error": "csrf", "message": "页面已过期，请刷新后重试"}, status=403)
    if ident is None:
        if is_api:
            return unauthorized()
        raise web.HTTPFound("/login")
    request["identity"] = ident
    return await handler(request)


async def login_allowed(name: str, remote: str) -> bool:
    r = store.async_client()
    try:
        counts = {k: await r.get(keys.desk_login_failures(k, v)) for k, v in (("u", name), ("a", remote))}
    finally:
        await r.close()
    return all(int(c or 0) < LOGIN_FAILURES[k] for k, c in counts.items())


async def login_failed(name: str, remote: str) -> None:
    r = store.async_client()
    try:
        for kind, value in (("u", name), ("a", remote)):
            key = keys.desk_login_failures(kind, value)
            await r.incr(key)
            await r.expire(key, 900)
    finally:
        await r.close()


def identity(request: web.Request) -> Identity:
    return request["identity"]
