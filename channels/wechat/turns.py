"""The bot turns this process runs: their leases, and admission (is a turn hopeless in time?).

The process running a turn holds a renewed lease on it; when that process dies mid-turn,
WeChat's retry (on another process) finds the lease run out, takes the turn over and answers it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Coroutine
from typing import Any

from bot.infra import store
from bot.rasa.patches.turn_limit import max_turns
from channels.wechat import delivery

log = logging.getLogger(__name__)

# The process running a turn renews a lease on it every TURN_LEASE_S / 4; a retry that finds the
# lease run out takes the turn over (the owner died: SIGKILL, OOM, a node lost). WeChat's first
# retry comes about 5 s after the first delivery, so a dead owner's message is answered by it.
# Processes compare wall clocks: keep them in sync (NTP), as for the lock store's leases.
TURN_LEASE_S = 4.0
RATE_WINDOW_S = 5.0

# background tasks of this process (strong references, so that they are not collected)
_TASKS: set[asyncio.Task[Any]] = set()
# the turns running here, by message record
_LOCAL_TURNS: dict[str, asyncio.Task[Any]] = {}
# when this process's recent turns finished (loop time), and whether others were waiting for a
# place then (the process was saturated): its capacity, for admission (hopeless)
_FINISHED: deque[tuple[float, bool]] = deque(maxlen=4096)
_RENEWERS: dict[int, asyncio.Task[Any]] = {}  # one per event loop


def spawn(coro: Awaitable[Any]) -> None:
    """Run `coro` in the background (a push that must not hold the HTTP answer)."""
    task = asyncio.ensure_future(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def start(key: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run the turn of message record `key` here; it counts for the leases and for admission."""
    task = asyncio.create_task(coro)
    _TASKS.add(task)
    _LOCAL_TURNS[key] = task

    def done(t: asyncio.Task[Any]) -> None:
        _TASKS.discard(t)
        _LOCAL_TURNS.pop(key, None)
        _finished(t)

    task.add_done_callback(done)
    return task


def running(key: str) -> asyncio.Task[Any] | None:
    """The turn of `key`, if this process runs it."""
    return _LOCAL_TURNS.get(key)


def lease_until(now: float) -> float:
    return now + TURN_LEASE_S


# ------------------------------------------------------------------------------------ leases
def keep_leases() -> None:
    """Make sure this process renews the leases of the turns it runs (see TURN_LEASE_S)."""
    loop = asyncio.get_running_loop()
    task = _RENEWERS.get(id(loop))
    if task is None or task.done() or task.get_loop() is not loop:
        _RENEWERS[id(loop)] = loop.create_task(_renew_leases(loop))


async def _renew_leases(loop: asyncio.AbstractEventLoop) -> None:
    """One task renews every local turn's lease, in one round trip to Redis each time. A task per
    turn, each with its own connection every second, took most of the event loop at 4x saturation,
    when hundreds of turns wait for their place (docs/performance.md)."""
    while True:
        await asyncio.sleep(TURN_LEASE_S / 4)  # three renewals may fail before another process takes over
        keys = [k for k, t in _LOCAL_TURNS.items() if not t.done() and t.get_loop() is loop]
        if not keys:
            _RENEWERS.pop(id(loop), None)  # no await since the check: the next turn starts a new one
            return
        now = time.time()
        try:
            await delivery.renew_leases(keys, now, lease_until(now))
        except store.ERRORS:
            log.warning("wechat: could not renew the leases of %d turn(s) (Redis unavailable)", len(keys))


# ------------------------------------------------------------------------------------ admission
def _finished(task: asyncio.Task[Any]) -> None:
    saturated = len(_LOCAL_TURNS) > max_turns()  # turns still waiting for a place
    _FINISHED.append((task.get_loop().time(), saturated))


def _turns_per_s(now: float) -> float | None:
    """The turns this process finishes per second when saturated, if it has been saturated over
    the last RATE_WINDOW_S. At lower load the finishing rate is the arrival rate, not what the
    process can do: a burst after a quiet minute must not be turned away on that guess."""
    while _FINISHED and _FINISHED[0][0] < now - RATE_WINDOW_S:
        _FINISHED.popleft()
    busy = [t for t, saturated in _FINISHED if saturated]
    if len(busy) < 10 or len(busy) < 0.8 * len(_FINISHED):
        return None
    return len(busy) / max(now - busy[0], 1.0)


def hopeless(now: float, budget_end: float) -> bool:
    """Whether the turns in this process (this message's included) cannot all finish before
    this message's reply budget runs out, at the rate turns have been finishing."""
    rate = _turns_per_s(now)
    return rate is not None and len(_LOCAL_TURNS) / rate > budget_end - now
