"""`python -m bench crisis`: the crisis screening's cost per message, by length.

Screens distinct messages of 10, 100 and 500 characters with bot.core.crisis.assess (lexicon,
context, semantic stage) in this process, each with an empty embedding cache (the cost of a
message never seen before), and prints p50 / p95 / max per length beside the targets of issue 17
(p95 <= 30 ms at 100 characters, <= 150 ms at 500, on 2 cores). Messages are everyday training
sentences joined into the length, a third of them with a reviewed crisis statement inside (more
clauses carry cues, so more is embedded: the expensive case).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import Any

from bench.load import percentile

LENGTHS = (10, 100, 500)
TARGETS_MS = {100: 30.0, 500: 150.0}


def corpus(length: int, count: int, seed: int = 12345) -> list[str]:
    from bot.core import crisis_semantic
    from bot.ops.crisis_fit import everyday_messages

    rng = random.Random(seed)
    everyday = everyday_messages()
    statements = [s.text for s in crisis_semantic.read_bank()]
    out: list[str] = []
    while len(out) < count:
        parts = [rng.choice(statements)] if len(out) % 3 == 0 else []
        while sum(len(p) + 1 for p in parts) < length:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(everyday))
        text = "，".join(parts)[:length]
        if text not in out:
            out.append(text)
    return out


def measure(count: int) -> dict[str, Any]:
    from bot.core import crisis
    from bot.infra import embeddings

    crisis.warm()
    result: dict[str, Any] = {"threads": embeddings.THREADS, "loadavg": []}
    result["loadavg"].append(round(os.getloadavg()[0], 2))
    for length in LENGTHS:
        times: list[float] = []
        cpu: list[float] = []  # this process's own CPU time: what the cost is when nobody else runs
        bands: dict[str, int] = {}
        for text in corpus(length, count):
            embeddings.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            a = crisis.assess(text)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            bands[a.band.value] = bands.get(a.band.value, 0) + 1
        result[str(length)] = {
            "messages": len(times),
            "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1),
            "cpu_p50_ms": round(percentile(cpu, 50), 1),
            "cpu_p95_ms": round(percentile(cpu, 95), 1),
            "bands": bands,
        }
    result["loadavg"].append(round(os.getloadavg()[0], 2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crisis", description=__doc__)
    parser.add_argument("--messages", type=int, default=60, help="distinct messages per length")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    result = measure(args.messages)
    print(f"crisis screening, {result['threads']} engine thread(s), load {result['loadavg']}")
    for length in LENGTHS:
        r = result[str(length)]
        target = f"(target p95 <= {TARGETS_MS[length]:.0f} ms)" if length in TARGETS_MS else ""
        print(
            f"  {length:>4} characters: p50 {r['p50_ms']:>6.1f} ms  p95 {r['p95_ms']:>6.1f} ms  "
            f"max {r['max_ms']:>6.1f} ms  (CPU p50 {r['cpu_p50_ms']:>6.1f} p95 {r['cpu_p95_ms']:>6.1f} ms)  "
            f"{r['bands']} {target}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
