"""What the simulated citizens say: the held-out NLU test set (tests/nlu/heldout.yml).

Those sentences were written apart from the training data, so the model sees them the way it
sees real citizens. Left out: crisis statements, requests for a person and reports, which file
tickets and hand the conversation to the desk (after which the bot, rightly, stays silent); the
load is the common case, questions the bot answers itself.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
LEFT_OUT = ("report_", "request_human", "self_harm", "abuse", "child_welfare", "emergency", "suggestion")


def messages(path: Path = HELDOUT, seed: int = 12345) -> list[str]:
    """The sentences, shuffled reproducibly."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for block in data.get("nlu", []):
        intent = str(block.get("intent", ""))
        if intent.startswith(LEFT_OUT):
            continue
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- ") and line[2:].strip():
                out.append(line[2:].strip())
    random.Random(seed).shuffle(out)
    return out
