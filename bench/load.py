"""Closed-loop (fixed concurrency) and open-loop (fixed arrival rate) runners, and their figures."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """One request as the citizen's platform saw it."""

    ok: bool
    kind: str  # rest: answer | busy | empty | error; wechat: passive | success | busy | error
    started: float  # time.monotonic() when it was sent
    elapsed: float
    sender: str = ""
    detail: str = ""


Send = Callable[[str, str], Coroutine[Any, Any, Outcome]]  # (sender, text) -> Outcome


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: a real request's latency)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))  # ceil(p/100 * n)
    return ordered[rank - 1]


@dataclass
class Level:
    channel: str
    mode: str  # "closed": concurrency; "open": arrivals per second
    concurrency: int
    rate: float
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latencies_ms(self) -> list[float]:
        return [o.elapsed * 1000 for o in self.outcomes]

    @property
    def errors(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    @property
    def throughput(self) -> float:
        return len(self.outcomes) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "channel": self.channel,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": round(self.rate, 2),
            "seconds": round(self.seconds, 2),
            "messages": len(self.outcomes),
            "msg_per_s": round(self.throughput, 2),
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(max(lat), 1) if lat else None,
            "errors": self.errors,
            "kinds": dict(Counter(o.kind for o in self.outcomes)),
            "loadavg_before": [round(x, 2) for x in self.load_before],
            "loadavg_after": [round(x, 2) for x in self.load_after],
            **self.extra,
        }


class Citizens:
    """Senders and their messages: each simulated citizen has a short conversation (a few
    messages, as real ones do), then the next citizen comes; trackers stay realistic in size."""

    def __init__(self, texts: list[str], prefix: str, per_citizen: int = 4) -> None:
        self._texts = itertools.cycle(texts)
        self.prefix = prefix
        self.per_citizen = per_citizen
        self._senders = itertools.count()

    def sender(self) -> str:
        return f"{self.prefix}-{next(self._senders)}"

    def text(self) -> str:
        return next(self._texts)


async def closed_loop(
    channel: str, send: Send, citizens: Citizens, concurrency: int, seconds: float, warmup: float = 1.0
) -> Level:
    """`concurrency` citizens' clients, each sending its next message as soon as it has the
    answer to the last, for `seconds` (after `warmup` seconds that are not counted)."""
    level = Level(channel, "closed", concurrency, 0.0, seconds)
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def worker(i: int) -> None:
        # one citizen at a time per worker: a person's messages are sequential
        sender, said = citizens.sender(), 0
        while loop.time() < stop_at:
            if said >= citizens.per_citizen:
                sender, said = citizens.sender(), 0
            t0 = loop.time()
            outcome = await send(sender, citizens.text())
            said += 1
            if t0 >= measure_from:
                level.outcomes.append(outcome)

    level.load_before = os.getloadavg()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    level.load_after = os.getloadavg()
    return level


async def open_loop(channel: str, send: Send, citizens: Citizens, rate: float, seconds: float) -> Level:
    """Messages arrive at `rate` per second for `seconds`, whether or not earlier ones were
    answered (as citizens do): the way to see what happens above saturation."""
    level = Level(channel, "open", 0, rate, seconds)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: list[asyncio.Task[Outcome]] = []
    level.load_before = os.getloadavg()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # one message per citizen: many citizens writing at once, not one citizen flooding
        tasks.append(asyncio.create_task(send(citizens.sender(), citizens.text())))
    level.outcomes = list(await asyncio.gather(*tasks))
    level.load_after = os.getloadavg()
    return level
