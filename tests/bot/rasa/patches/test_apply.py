"""bot/rasa/patches/__init__.py: every patch applied once, in one place, whatever the number of calls."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bot.infra import settings
from bot.rasa import patches
from bot.rasa.patches import action_failure, replay, saved_tracker, turn_limit

CFG = dataclasses.replace(settings.Settings(), action_timeout_s=7.5)
EVERY_PATCH = {
    "timeouts",
    "model_loading",
    "action_schema",
    "action_failure",
    "message_ids",
    "saved_tracker",
    "graph_runner",
    "rule_matching",
    "sanic_websockets",
    "turn_middlewares",
}


class _Store:
    def __init__(self) -> None:
        self.reads = 0

    async def retrieve(self, sender_id: str) -> Any:
        self.reads += 1
        return None  # nothing saved yet: the message is handled


@pytest.fixture()
def rasa_turn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A stand-in for Rasa's own turn, recording each message it handles and the turns in it at once."""
    from rasa.core.processor import MessageProcessor

    handled: list[Any] = []
    running = [0, 0]  # now, most at once

    async def handle_message(self: Any, message: Any) -> list[str]:
        running[0] += 1
        running[1] = max(running)
        await asyncio.sleep(0.01)
        running[0] -= 1
        handled.append(message)
        return ["answered"]

    monkeypatch.setattr(MessageProcessor, "handle_message", handle_message)
    return [handled, running, handle_message]


def _installed() -> dict[tuple[int, str], Any]:
    return {(id(r.owner), r.name): getattr(r.owner, r.name) for rs in patches.applied().values() for r in rs}


def test_the_turn_middlewares_are_in_one_order() -> None:
    assert patches.turn_middlewares(2)[1:] == [
        saved_tracker.remember_output,
        replay.answer_from_saved,
        action_failure.abandon_failed_turn,
    ]
    assert isinstance(patches.turn_middlewares(2)[0], turn_limit.TurnLimit)


async def test_applied_twice_is_applied_once(
    fresh_process: None, rasa_turn: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.processor import MessageProcessor

    handled, running, rasas_own = rasa_turn
    monkeypatch.setenv(turn_limit.MAX_TURNS_ENV, "1")
    patches.apply(CFG)
    once = patches.applied()
    installed = _installed()
    handle_message = MessageProcessor.handle_message
    assert set(once) == EVERY_PATCH

    patches.apply(CFG)
    assert patches.applied() == once  # nothing more applied ...
    assert _installed() == installed  # ... and nothing replaced again
    assert MessageProcessor.handle_message is handle_message
    assert handle_message.__wrapped__ is rasas_own  # one wrapper around Rasa's turn
    assert not hasattr(rasas_own, "__wrapped__")
    [turns] = once["turn_middlewares"]
    assert turns.original is rasas_own

    # and it behaves as applied once: one check of the saved conversation per message, one turn
    processor = type("Processor", (), {"tracker_store": _Store()})()
    messages = [
        UserMessage(
            "谢谢",
            CollectingOutputChannel(),
            "citizen-1",
            message_id=f"rest:m-{i}",
            metadata={replay.CHECK_SAVED: True},
        )  # fmt: skip
        for i in range(3)
    ]
    assert (
        await asyncio.gather(*(MessageProcessor.handle_message(processor, m) for m in messages)) == [["answered"]] * 3
    )
    assert processor.tracker_store.reads == 3
    assert sorted(m.message_id for m in handled) == ["rest:m-0", "rest:m-1", "rest:m-2"]
    assert running[1] == 1  # RASA_MAX_CONCURRENT_TURNS=1


def test_nothing_is_patched_when_rasa_is_not_the_pinned_version(
    fresh_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rasa
    from rasa.core.processor import MessageProcessor

    rasas_own = MessageProcessor.handle_message
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(SystemExit):
        patches.apply(CFG)
    assert patches.applied() == {}
    assert MessageProcessor.handle_message is rasas_own
