"""bot/rasa/patches/wrapping.py: replacements that can be undone, and middlewares composed in order."""

from __future__ import annotations

import types
from typing import Any

from bot.rasa.patches.wrapping import TurnHandler, around, replace


async def test_middlewares_run_in_their_order_around_the_turn_once_each() -> None:
    calls: list[str] = []

    async def rasa_turn(processor: Any, message: str) -> str:
        calls.append(f"turn {message}")
        return f"answer to {message}"

    def middleware(name: str) -> Any:
        async def step(processor: Any, message: str, call_next: TurnHandler) -> Any:
            calls.append(f"{name} in")
            try:
                return await call_next(processor, message)
            finally:
                calls.append(f"{name} out")

        return step

    handle = around(rasa_turn, [middleware("outer"), middleware("middle"), middleware("inner")])
    assert await handle(None, "m1") == "answer to m1"
    assert calls == ["outer in", "middle in", "inner in", "turn m1", "inner out", "middle out", "outer out"]
    assert handle.__wrapped__ is rasa_turn  # type: ignore[attr-defined]  # set by functools.wraps
    assert await around(rasa_turn, [])(None, "m2") == "answer to m2"


def test_a_replacement_puts_back_what_was_there() -> None:
    class Rasa:
        def own(self) -> str:
            return "rasa"

    class Subclass(Rasa):
        pass

    module = types.ModuleType("m")
    module.LIMIT = 300  # type: ignore[attr-defined]  # a stand-in for a module's constant

    replacements = [
        replace(Rasa, "own", lambda self: "patched"),
        replace(Subclass, "own", lambda self: "patched too"),  # inherited, not its own
        replace(module, "LIMIT", 7.5),
    ]
    assert (Rasa().own(), Subclass().own(), module.LIMIT) == ("patched", "patched too", 7.5)  # type: ignore[attr-defined]
    for replacement in reversed(replacements):
        replacement.undo()
    assert (Rasa().own(), Subclass().own(), module.LIMIT) == ("rasa", "rasa", 300)  # type: ignore[attr-defined]
    assert "own" not in vars(Subclass)
