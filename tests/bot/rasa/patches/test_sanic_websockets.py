"""bot/rasa/patches/sanic_websockets.py: Sanic 21.12's websocket `recv` works on Python 3.11."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.rasa.patches import sanic_websockets


async def test_a_bare_coroutine_handed_to_wait_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from sanic.server.websockets import impl

    monkeypatch.setattr(impl, "asyncio", impl.asyncio)  # the real module again after the test

    async def frame() -> str:
        return "frame"

    bare = frame()
    wait: Any = impl.asyncio.wait  # handed a coroutine, as Sanic's recv does
    with pytest.raises(TypeError):  # what Python 3.11 does to Sanic 21.12's recv
        await wait([bare])
    bare.close()
    sanic_websockets.install()
    wait = impl.asyncio.wait
    done, pending = await wait([frame()], return_when=asyncio.FIRST_COMPLETED)
    assert [t.result() for t in done] == ["frame"] and not pending
    assert impl.asyncio.sleep is asyncio.sleep  # everything else is asyncio's own
