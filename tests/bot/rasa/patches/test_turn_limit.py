"""bot/rasa/patches/turn_limit.py: a cap on the turns one Rasa process runs at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.rasa import patches
from bot.rasa.patches import turn_limit


async def test_no_more_turns_run_at_once_than_the_limit_and_none_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.processor import MessageProcessor

    running, peak, done = 0, 0, []

    async def fake_turn(self: Any, message: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(message)
        return message

    monkeypatch.setattr(MessageProcessor, "handle_message", fake_turn)
    patches.wrap_turns([turn_limit.TurnLimit(3)])
    results = await asyncio.gather(*(MessageProcessor.handle_message(None, f"m{i}") for i in range(20)))  # type: ignore[arg-type]
    assert results == [f"m{i}" for i in range(20)]
    assert sorted(done) == sorted(results)
    assert peak == 3


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(turn_limit.MAX_TURNS_ENV, raising=False)
    assert turn_limit.max_turns() == turn_limit.DEFAULT_MAX_TURNS
    monkeypatch.setenv(turn_limit.MAX_TURNS_ENV, "0")
    assert turn_limit.max_turns() == 0


async def test_a_limit_of_0_lets_every_turn_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.processor import MessageProcessor

    running, peak = 0, 0

    async def fake_turn(self: Any, message: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return message

    monkeypatch.setattr(MessageProcessor, "handle_message", fake_turn)
    patches.wrap_turns([turn_limit.TurnLimit(0)])
    await asyncio.gather(*(MessageProcessor.handle_message(None, f"m{i}") for i in range(20)))  # type: ignore[arg-type]
    assert peak == 20
