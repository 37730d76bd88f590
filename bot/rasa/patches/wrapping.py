"""How a patch puts its code in place of Rasa's.

`replace` swaps one attribute and returns what it replaced (`Replacement`), so that
bot/rasa/patches/__init__.py can keep a record of everything applied and undo it exactly.
`around` composes turn middlewares (`TurnMiddleware`) into the one function that takes the place
of `MessageProcessor.handle_message`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

# (processor, message) -> what MessageProcessor.handle_message returns
TurnHandler = Callable[[Any, Any], Awaitable[Any]]
# (processor, message, the rest of the turn) -> the same; a middleware calls `call_next` at most once
TurnMiddleware = Callable[[Any, Any, TurnHandler], Awaitable[Any]]

_ABSENT = object()


@dataclass(frozen=True)
class Replacement:
    """`owner.name` (a class or a module) was `original` (`_ABSENT`: inherited, not its own)."""

    owner: Any
    name: str
    original: Any
    patched: Any

    def undo(self) -> None:
        if self.original is _ABSENT:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.original)


def replace(owner: Any, name: str, patched: Any) -> Replacement:
    """Put `patched` in place of `owner.name`."""
    replacement = Replacement(owner, name, vars(owner).get(name, _ABSENT), patched)
    setattr(owner, name, patched)
    return replacement


def around(handler: TurnHandler, middlewares: Sequence[TurnMiddleware]) -> TurnHandler:
    """`handler` inside `middlewares`, the first outermost, as one function."""
    inner = handler
    for middleware in reversed(middlewares):
        inner = _step(middleware, inner)

    @functools.wraps(handler)
    async def handle_message(processor: Any, message: Any) -> Any:
        return await inner(processor, message)

    return handle_message


def _step(middleware: TurnMiddleware, call_next: TurnHandler) -> TurnHandler:
    async def step(processor: Any, message: Any) -> Any:
        return await middleware(processor, message, call_next)

    return step
