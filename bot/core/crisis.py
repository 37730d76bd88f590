"""Crisis screening: one function, run on every message before anything else.

Two stages, each framework-free:
1. The reviewed lexicon (data/crisis_lexicon.yml) for explicit statements. A match decides alone,
   except where its context says it is not a person in danger now: an emergency or child-welfare
   word in a sentence about past events ("上个月停电，有人被困在电梯里" in a complaint) is judged
   by the semantic stage and is at most the check question (`_past`, docs/crisis.md measures it).
2. The semantic stage (bot.core.crisis_semantic): the message's closeness to the reviewed crisis
   statements, for what people say without the lexicon's words.

`assess` gives one of three bands: CRISIS (the urgent ticket and the crisis script), CHECK (the
approved check question that carries the emergency numbers) or CLEAR. The NLU classifier's crisis
intents never decide on their own (bot.rasa.nlu.CrisisScreen).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path

import yaml

from bot.core import crisis_semantic as semantic
from bot.infra import embeddings, settings

ORDER = ("self_harm", "emergency", "child_welfare")  # most urgent first when several match
_NOISE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff，。！？、,.!?~～…·\-—_\"'“”‘’（）()\[\]【】]+")
_CLAUSES = re.compile(r"[。！？!?；;\n，,：:]+")
CONTEXT_CLAUSES = 2  # a time said in one of the two clauses before the match still dates it
PAST_LOOKBACK = 30  # characters before an embedded piece that may date it
# a clause about what happened before, not what is happening now
_PAST = re.compile(
    r"上个?月|上月|上个?学期|有一次|那一次|上周|上星期|上次|上回|上半年|年初|去年|前年|那年|当年|当时|那次|那天|那回|那会儿|之前|以前|曾经|"
    r"小时候|年前|个月前|前几年|前些年|前段时间|前阵子|前些日子|过去|事后|后来|\d+年\d+月|\d+月\d+[日号]|的时候"
)
_NOW = re.compile(r"(?<!到)现在|正在|刚刚|刚才|马上|快来|救命|还在|此刻|这会儿|眼下")
# 救命 is also an exclamation (救命，这个系统怎么这么难用): alone it is a cry for help, with other
# words it needs the semantic stage to agree
_EXCLAMATION = re.compile(r"救命(啊|呀|哪|啦|了)?")
EXCLAMATION_ALONE = 4  # characters left beside 救命 that still make it a bare cry for help
# a self-harm statement decides alone whatever the tense, unless the writer reports what somebody
# else said back then (a complaint: 去年欠薪的时候，有人说不想活了); that one gets the check question
_REPORTED = re.compile(r"(有人|他|她|他们|同事|工友|邻居|别人|大家|有的人)(也|都|还)?(说|讲|喊|嚷)")


class Band(str, Enum):
    CRISIS = "crisis"
    CHECK = "check"
    CLEAR = "clear"


class Source(str, Enum):
    LEXICON = "lexicon"  # a lexicon pattern decided alone
    LEXICON_PAST = "lexicon_past"  # a lexicon pattern in a sentence about past events
    SEMANTIC = "semantic"
    NONE = "none"


@dataclass(frozen=True)
class Verdict:
    intent: str
    pattern: str


@dataclass(frozen=True)
class Assessment:
    band: Band
    kind: str | None  # self_harm / emergency / child_welfare, None when CLEAR
    source: Source
    pattern: str | None = None
    semantic: semantic.Semantic | None = None

    @property
    def verdict(self) -> Verdict | None:
        """The crisis in the shape the channels and the NLU component have always read."""
        if self.band is not Band.CRISIS or self.kind is None:
            return None
        return Verdict(intent=self.kind, pattern=self.pattern or "semantic")

    def how_raised(self) -> str:
        """For the crisis ticket: which stage raised it and on what evidence."""
        parts: list[str] = []
        if self.pattern:
            where = "（所在句讲的是过去的事）" if self.source is Source.LEXICON_PAST else ""
            parts.append(f"词库规则 {self.pattern}{where}")
        if self.semantic is not None:
            s = self.semantic
            parts.append(
                f"语义相似度 {s.probability:.2f}（最接近的审核语句：“{s.closest.text}”，{s.closest.kind}，"
                f"{s.closest.reviewed} 审核）"
            )
        return "；".join(parts) or "无"


CLEAR = Assessment(band=Band.CLEAR, kind=None, source=Source.NONE)


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


def _lexicon_path(lexicon: str | None) -> Path:
    return Path(lexicon or settings.DATA / "crisis_lexicon.yml")


def _match(norm: str, lexicon: Path) -> Verdict | None:
    for intent, patterns, excludes in _compiled(str(lexicon), lexicon.stat().st_mtime):
        cleaned = norm
        for ex in excludes:  # remove known false alarms (跳楼价) before matching
            cleaned = ex.sub("", cleaned)
        for pat in patterns:
            if pat.search(cleaned):
                return Verdict(intent=intent, pattern=pat.pattern)
    return None


def lexicon_match(text: str, lexicon: str | None = None) -> Verdict | None:
    """The lexicon alone (first kind in ORDER whose patterns match), as it has always been."""
    norm = normalize(text)
    return _match(norm, _lexicon_path(lexicon)) if norm else None


def _past(text: str, verdict: Verdict, lexicon: Path) -> bool:
    """Whether every clause the match is in speaks of the past (a past time in it or in the two
    clauses before it, and nothing of now in it); for self-harm, also told as somebody else's words."""
    clauses = [c for c in _CLAUSES.split(unicodedata.normalize("NFKC", text)) if c.strip()]
    dated: list[bool] = []
    for i, clause in enumerate(clauses):
        m = _match(normalize(clause), lexicon)
        if m is None or m.intent != verdict.intent:
            continue
        context = "".join(clauses[max(0, i - CONTEXT_CLAUSES) : i + 1])
        reported = verdict.intent != "self_harm" or bool(_REPORTED.search(clause))
        dated.append(reported and bool(_PAST.search(context)) and not _NOW.search(clause))
    if not dated:  # the match spans clauses: the whole message is its context
        return verdict.intent != "self_harm" and bool(_PAST.search(text)) and not _NOW.search(text)
    return all(dated)


def _exclamation_only(norm: str, lexicon: Path) -> bool:
    """The lexicon matched only because of 救命."""
    return _match(_EXCLAMATION.sub("", norm), lexicon) is None


def _judged(text: str, verdict: Verdict, found: semantic.Semantic | None) -> Assessment:
    """A lexicon match about the past: never an alarm alone; the check question only when the
    semantic stage, too, finds the message as close to a crisis as one it would raise itself."""
    # somebody's words of self-harm, even reported from the past, are always asked about
    if verdict.intent != "self_harm" and (found is None or found.probability < semantic.CRISIS):
        return Assessment(
            band=Band.CLEAR, kind=None, source=Source.LEXICON_PAST, pattern=verdict.pattern, semantic=found
        )
    return Assessment(
        band=Band.CHECK, kind=verdict.intent, source=Source.LEXICON_PAST, pattern=verdict.pattern, semantic=found
    )


def _exclaimed(norm: str, verdict: Verdict, found: semantic.Semantic | None) -> Assessment:
    """救命 alone is a cry for help; beside other words, a crisis only if the semantic stage agrees."""
    rest = _EXCLAMATION.sub("", norm)
    if len(rest) <= EXCLAMATION_ALONE or (found is not None and found.probability >= semantic.CHECK):
        return Assessment(
            band=Band.CRISIS, kind=verdict.intent, source=Source.LEXICON, pattern=verdict.pattern, semantic=found
        )
    return Assessment(band=Band.CLEAR, kind=None, source=Source.NONE, pattern=verdict.pattern, semantic=found)


def _dated(text: str, piece: str) -> bool:
    """Whether an embedded piece of a long message speaks of the past: a past time in it or just
    before it (the clauses it was cut from), nothing of now in it."""
    whole = " ".join(text.split())
    at = whole.find(piece)
    before = whole[max(0, at - PAST_LOOKBACK) : at] if at > 0 else ""
    return bool(_PAST.search(before + piece)) and not _NOW.search(piece)


def _semantic_band(text: str, found: list[semantic.Semantic]) -> Assessment:
    """The band from the semantic stage. In a long message a sentence about what happened before
    is not a person in danger now: it is passed over, except a self-harm one as sure as a crisis,
    which is asked about (docs/crisis.md: the long complaints of the dev set)."""
    best: semantic.Semantic | None = None
    capped = False
    for f in found:
        if f.piece == text.strip() or not _dated(text, f.piece):
            best, capped = f, False
            break
        if f.kind == "self_harm" and f.probability >= semantic.CRISIS and best is None:
            best, capped = f, True
    if best is None or best.probability < semantic.CHECK:
        return Assessment(
            band=Band.CLEAR, kind=None, source=Source.NONE, semantic=best or (found[0] if found else None)
        )
    band = Band.CRISIS if best.probability >= semantic.CRISIS and not capped else Band.CHECK
    return Assessment(band=band, kind=best.kind, source=Source.SEMANTIC, semantic=best)


def assess(text: str, lexicon: str | None = None) -> Assessment:
    """The screening of one message: band, kind and how it was decided."""
    norm = normalize(text)
    if not norm:
        return CLEAR
    path = _lexicon_path(lexicon)
    verdict = _match(norm, path)
    exclaimed = verdict is not None and _exclamation_only(norm, path)
    past = verdict is not None and not exclaimed and _past(text, verdict, path)
    if verdict is not None and not exclaimed and not past:
        return Assessment(band=Band.CRISIS, kind=verdict.intent, source=Source.LEXICON, pattern=verdict.pattern)
    scored = semantic.score_all(text)
    found = scored[0] if scored else None
    if verdict is not None and exclaimed:
        return _exclaimed(norm, verdict, found)
    if verdict is not None:  # about the past: only what the message says of now may raise it
        now = next((f for f in scored if f.piece == text.strip() or not _dated(text, f.piece)), None)
        return _judged(text, verdict, now)
    return _semantic_band(text, scored)


def screen(text: str, lexicon: str | None = None) -> Verdict | None:
    """The crisis, if the screening says this message is one (band CRISIS); None otherwise."""
    return assess(text, lexicon).verdict


def warm() -> None:
    """Load the lexicon, the probe and the embedding engine now (a process's start-up)."""
    assess("你好")
    semantic.probe()
    embeddings.warm()
