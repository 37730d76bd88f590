"""The desk web application (aiohttp). Placeholder until the handoff issue builds the console."""

from __future__ import annotations

from aiohttp import web

from bot import settings


def create_app(cfg: settings.Settings | None = None) -> web.Application:
    app = web.Application(client_max_size=(cfg or settings.load()).max_body_bytes)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><meta charset=utf-8><title>12345 坐席工作台</title><h1>12345 坐席工作台</h1>", content_type="text/html")

    app.router.add_get("/health", health)
    app.router.add_get("/", index)
    return app
