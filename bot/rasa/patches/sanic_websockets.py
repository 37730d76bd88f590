"""Sanic 21.12's websockets run on Python 3.11.

Sanic 21.12 (pinned by Rasa 3.6) passes a bare coroutine to `asyncio.wait` in its websocket `recv`;
Python 3.11 forbids that (TypeError), so every websocket closed right after opening and socket.io
(the web chat, channels/socketio.py) silently fell back to long-polling, which needs sticky
sessions behind a load balancer. Only that module's `asyncio.wait` is wrapped: coroutines become
tasks, the rest is unchanged.
"""

from __future__ import annotations

import types
from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace


def install() -> list[Replacement]:
    from sanic.server.websockets import impl

    real = impl.asyncio

    class _Asyncio(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        async def wait(fs: Any, *args: Any, **kwargs: Any) -> Any:
            return await real.wait([real.ensure_future(f) if real.iscoroutine(f) else f for f in fs], *args, **kwargs)

    return [replace(impl, "asyncio", _Asyncio("asyncio"))]
