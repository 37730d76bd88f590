"""The machine and the processes: what the figures were taken on, resident memory, py-spy."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    """CPU, memory and how busy the machine was (load average: others' work counts too)."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603, S607
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "uptime": uptime,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process and its children (a launcher's exec keeps the same pid)."""
    if not pid:
        return None
    try:
        p = psutil.Process(pid)
        total = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
    except psutil.Error:
        return None
    return round(total / 2**20, 1)


def training_time(model_dir: Path = ROOT / "models") -> dict[str, Any]:
    """Seconds of the last `make train` (bot.ops.training records them with the model)."""
    state = model_dir / "fingerprint.json"
    if not state.exists():
        return {}
    data = json.loads(state.read_text())
    return {"model": data.get("model"), "seconds": data.get("seconds")}


# ------------------------------------------------------------------------------------ py-spy
def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else None


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """py-spy samples the process from outside (100 Hz, without pausing it) as collapsed stacks."""
    binary = py_spy()
    if binary is None:
        return None
    cmd = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
           "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


# Where a sample's time goes. OWNERS first: the first of them with a frame anywhere in the stack
# owns the sample (ResponseSelector runs DIET's code: its stacks hold both files, and it is the
# owner). Otherwise the innermost frame of one of GENERIC.
OWNERS: list[tuple[str, tuple[str, ...]]] = [
    ("audit trail, inbound records (SQL)", ("bot/core/guard.py", "bot/infra/db.py", "sqlalchemy/", "sqlite3/")),
    ("NLU: ResponseSelector (FAQ answers)", ("classifiers/response_selector.py", "selectors/response_selector.py")),
    ("NLU: DIET intent classifier", ("classifiers/diet_classifier.py",)),
    ("NLU: linear classifier (intents, FAQ topics)", ("bot/rasa/nlu/linear_classifier.py",)),
    ("NLU: featurizers", ("count_vectors_featurizer", "lexical_syntactic_featurizer", "regex_featurizer")),
    ("NLU: tokenizer (jieba)", ("jieba",)),
    ("NLU: other components (crisis screen, fallback, entities)", ("rasa/nlu/", "bot/rasa/nlu/")),
    ("policies: TED", ("ted_policy",)),
    ("policies: rules and memoization", ("rule_policy", "memoization")),
    ("policies: ensemble, featurization", ("rasa/core/policies", "core/featurizers")),
    ("tracker store (Redis, JSON)", ("tracker_store",)),
    ("lock store", ("lock_store",)),
    ("action server call (tracker and domain as JSON)", ("core/actions/action.py",)),
    ("NLG (responses)", ("rasa/core/nlg", "bot/rasa/nlg.py")),
    ("approved-reply guard, catalogue", ("bot/core/catalogue.py",)),
    ("crisis screening", ("bot/core/crisis.py",)),
]
GENERIC: list[tuple[str, tuple[str, ...]]] = [
    (
        "tracker bookkeeping (events, slots)",
        ("shared/core/trackers.py", "shared/core/events.py", "shared/core/slots.py", "shared/core/domain.py"),
    ),
    ("graph runner", ("rasa/engine",)),
    (
        "channel pipeline",
        ("channels/", "bot/core/handoff.py", "bot/infra/store.py", "bot/core/privacy.py", "bot/infra/settings.py"),
    ),
    ("Redis client", ("redis/",)),
    ("HTTP server (Sanic), aiohttp", ("sanic", "aiohttp", "httptools")),
    ("JSON", ("json/", "ujson")),
    ("asyncio event loop", ("asyncio", "uvloop")),
]


def _frame_file(frame: str) -> str:
    m = re.search(r"\(([^()]*)\)\s*$", frame)
    return (m.group(1) if m else frame).lower()


def categorise(raw: Path, top: int = 15) -> dict[str, Any]:
    """Aggregate py-spy's collapsed stacks: share of CPU samples per category and the functions
    with the most inclusive time."""
    by_category: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        files = [_frame_file(f) for f in frames]
        chosen = next((name for name, pats in OWNERS if any(p in f for f in files for p in pats)), None)
        if chosen is None:
            chosen = next(
                (name for f in reversed(files) for name, pats in GENERIC if any(p in f for p in pats)), "other"
            )
        by_category[chosen] += n
        for frame in set(frames):
            name = re.sub(r"\s*\(.*\)$", "", frame).strip()
            file = _frame_file(frame).split(":")[0]
            inclusive[f"{name} ({file})"] += n
    return {
        "samples": total,
        "categories": [
            {"category": c, "share": round(n / total, 3) if total else 0.0, "samples": n}
            for c, n in by_category.most_common()
        ],
        "top_inclusive": [
            {"function": f, "share": round(n / total, 3) if total else 0.0} for f, n in inclusive.most_common(top)
        ],
    }
