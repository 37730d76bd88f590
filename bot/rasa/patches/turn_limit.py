"""At most RASA_MAX_CONCURRENT_TURNS turns (default 2) run at once in one process.

A turn's NLU and policies run on the event loop (TensorFlow, synchronously); with dozens of turns
in flight every loop iteration runs dozens of those steps, so timers and new requests wait
seconds. The WeChat channel must answer WeChat within 5 s (passively, or `success` and push later)
and could not above saturation. With the limit, the turns beyond it wait their turn without using
the CPU, and the channels' own deadlines keep working. Throughput does not change (the work is
CPU-bound; two turns in flight overlap one's action server or Redis round trip with the other's
CPU): measured, REST at concurrency 8 made 17.4 messages/s with 2 and 18.5 with 4 (noise), while
WeChat at 4x saturation answered 824 of 824 callbacks within 5 s with 2 and 561 of 754 with 4
(docs/performance.md). The limit is taken inside the conversation lock, so a turn waiting for its
conversation's lock never holds a place. 0 turns the limit off.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.infra import settings
from bot.rasa.patches.wrapping import TurnHandler

MAX_TURNS_ENV = "RASA_MAX_CONCURRENT_TURNS"
DEFAULT_MAX_TURNS: int = settings.Settings.rasa_max_concurrent_turns


def max_turns() -> int:
    """RASA_MAX_CONCURRENT_TURNS, read through settings (0: no limit)."""
    return settings.load().rasa_max_concurrent_turns


class TurnLimit:
    """The turn middleware: at most `limit` turns inside it at once (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphores: dict[int, asyncio.Semaphore] = {}  # per event loop (Rasa runs one)

    async def __call__(self, processor: Any, message: Any, call_next: TurnHandler) -> Any:
        if self.limit <= 0:
            return await call_next(processor, message)
        loop_id = id(asyncio.get_running_loop())
        sem = self._semaphores.get(loop_id)
        if sem is None:
            sem = self._semaphores[loop_id] = asyncio.Semaphore(self.limit)
        async with sem:
            return await call_next(processor, message)
