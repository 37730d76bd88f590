"""Crisis screening: one function, run on every message before anything else.

The reviewed lexicon (data/crisis_lexicon.yml) is the first line and decides alone when it
matches: an explicit statement of self-harm, an emergency or a child at risk is never left to
a classifier's confidence. The NLU classifier's crisis intents are the second line
(bot.rasa.nlu.CrisisScreen merges both).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.infra import settings

ORDER = ("self_harm", "emergency", "child_welfare")  # most urgent first when several match
_NOISE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff，。！？、,.!?~～…·\-—_\"'“”‘’（）()\[\]【】]+")


@dataclass(frozen=True)
class Verdict:
    intent: str
    pattern: str


@lru_cache(maxsize=2)
def _compiled(path: str, mtime: float) -> list[tuple[str, list[re.Pattern[str]], list[re.Pattern[str]]]]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for intent in ORDER:
        spec = raw.get(intent) or {}
        pats = [re.compile(p) for p in spec.get("patterns", [])]
        excl = [re.compile(p) for p in spec.get("exclude", [])]
        out.append((intent, pats, excl))
    return out


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, no spaces, punctuation or zero-width characters."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def screen(text: str, lexicon: str | None = None) -> Verdict | None:
    p = Path(lexicon or settings.DATA / "crisis_lexicon.yml")
    norm = normalize(text)
    if not norm:
        return None
    for intent, patterns, excludes in _compiled(str(p), p.stat().st_mtime):
        cleaned = norm
        for ex in excludes:  # remove known false alarms (跳楼价) before matching
            cleaned = ex.sub("", cleaned)
        for pat in patterns:
            if pat.search(cleaned):
                return Verdict(intent=intent, pattern=pat.pattern)
    return None
