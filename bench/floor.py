"""The floor: the model's own parse time for the bench's messages, without HTTP, channel,
tracker store, policies or actions. Runs in a process of its own (TensorFlow stays out of the
load generator): `python -m bench.floor MODEL N` prints one JSON line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

from bench.corpus import messages
from bench.load import percentile


async def measure(model: str, count: int) -> dict[str, float | list[float]]:
    from rasa.core.agent import Agent

    from bot.rasa.patches import graph_runner

    # the graph runs as in the Rasa server (bot/rasa/patches/graph_runner.py), so that the floor
    # is the server's own parse time
    graph_runner.install()
    started = time.monotonic()
    agent = Agent.load(model)
    load_s = time.monotonic() - started
    texts = messages()
    await agent.parse_message("你好")  # the first parse builds the graph's functions
    times: list[float] = []
    for i in range(count):
        t0 = time.perf_counter()
        await agent.parse_message(texts[i % len(texts)])
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "model_load_s": round(load_s, 2),
        "parses": count,
        "parse_p50_ms": round(percentile(times, 50), 2),
        "parse_p95_ms": round(percentile(times, 95), 2),
        "parse_p99_ms": round(percentile(times, 99), 2),
        "parse_mean_ms": round(sum(times) / len(times), 2),
        "parses_per_s": round(1000 * len(times) / sum(times), 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    model, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
    result = asyncio.run(measure(model, count))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
