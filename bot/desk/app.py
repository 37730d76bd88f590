"""The desk web application (aiohttp): the console pages, login, the JSON API, live events,
and the forwarding worker.

    GET  /            the console (queue and ticket pages; a session is required)
    GET  /login       login page · POST /login · POST /logout
    /api/...          JSON API (bot/desk/api.py), live events (bot/desk/live.py)
    GET  /health      for the launcher and load balancers
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict

from bot.core import forwarding
from bot.desk import api, auth, live, supervisor, users
from bot.infra import db, settings
from bot.ops import retention

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
WORKER = web.AppKey("forwarding_worker", asyncio.Task)
STOP = web.AppKey("forwarding_stop", asyncio.Event)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _secure(headers: CIMultiDict[str], request: web.Request) -> None:
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", CSP)
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400 and exc.content_type != "application/json":
            # every API answer is JSON, also aiohttp's own 404/405
            resp = web.json_response(
                {"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason}, status=exc.status
            )
        else:
            _secure(exc.headers, request)
            raise
    _secure(resp.headers, request)
    return resp


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})


async def login(request: web.Request) -> web.Response:
    is_json = request.content_type == "application/json"
    data = await (request.json() if is_json else request.post())
    name = str(data.get("username") or "").strip()[:64]
    password = str(data.get("password") or "")[:256]
    remote = request.remote or "?"

    def refuse(code: str, message: str, status: int) -> web.Response:
        if is_json:
            return web.json_response({"error": code, "message": message}, status=status)
        raise web.HTTPFound(f"/login?error={code}")

    if not await auth.login_allowed(name, remote):
        return refuse("locked", "登录失败次数过多，请15分钟后再试", 429)
    user = await asyncio.to_thread(users.authenticate, name, password)
    if user is None:
        await auth.login_failed(name, remote)
        log.info("desk login refused for an account (from %s)", remote)
        return refuse("invalid", "账号或密码错误", 401)
    sid, _csrf = await auth.create_session(user)
    log.info("desk login: %s", user.name)
    resp: web.Response = web.json_response({"ok": True, "agent": user.name}) if is_json else web.HTTPFound("/")
    resp.set_cookie(
        auth.COOKIE,
        sid,
        httponly=True,
        samesite="Strict",
        secure=settings.load().production,
        max_age=int(settings.load().desk_session_hours * 3600),
        path="/",
    )
    if is_json:
        return resp
    raise resp  # type: ignore[misc]


async def logout(request: web.Request) -> web.Response:
    await auth.drop_session(request.cookies.get(auth.COOKIE, ""))
    resp = web.HTTPFound("/login")
    resp.del_cookie(auth.COOKIE, path="/")
    raise resp


async def _start_worker(app: web.Application) -> None:
    await asyncio.to_thread(db.migrate)
    if settings.load().forward_url:
        app[STOP] = asyncio.Event()
        app[WORKER] = asyncio.create_task(forwarding.worker(app[STOP]))


async def _stop_worker(app: web.Application) -> None:
    if WORKER in app:
        app[STOP].set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(app[WORKER], timeout=15)


def create_app(cfg: settings.Settings | None = None) -> web.Application:
    cfg = cfg or settings.load()
    app = web.Application(client_max_size=cfg.max_body_bytes, middlewares=[security_headers, auth.middleware])
    app[live.CLIENTS] = set()
    app.router.add_get("/health", health)
    app.router.add_get("/", index)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_static("/static/", STATIC, append_version=True)
    app.add_routes(api.routes)
    app.add_routes(live.routes)
    app.on_startup.append(_start_worker)  # type: ignore[arg-type]  # aiohttp 3.9 types its signals for aiosignal<1.4; rasa pins aiohttp, aiosignal 1.4 is what resolves
    # 个人信息保护法: expired tickets, audit and conversation records are purged once a day
    retention.start_retention_task(app)
    app.on_shutdown.append(live.close_all)  # type: ignore[arg-type]  # aiohttp 3.9 types its signals for aiosignal<1.4; rasa pins aiohttp, aiosignal 1.4 is what resolves
    app.on_cleanup.append(_stop_worker)  # type: ignore[arg-type]  # aiohttp 3.9 types its signals for aiosignal<1.4; rasa pins aiohttp, aiosignal 1.4 is what resolves
    supervisor.add_routes(app)  # the supervision report (/supervisor)
    return app
