"""The semantic stage of the crisis screening: how close a message is to the reviewed crisis statements.

A logistic probe over sentence embeddings (bot.infra.embeddings), fitted by `python -m
bot.ops.crisis_fit` on data/crisis_bank.yml (crisis) against data/crisis_negatives.yml and the
everyday training messages (no crisis), stored as numbers in data/crisis_semantic.npz. Raw cosine
similarities of this model are compressed (unrelated texts about 0.80, related 0.86-0.93), so no
fixed cosine cut decides; the probe's probability does, in bands tuned on tests/nlu/crisis_dev.yml.
The closest reviewed statement is kept to tell the agent why.

Long messages: embedding costs about linearly in length (docs/crisis.md), so a long message is cut
into sentences and only those a cheap lexical cue marks are embedded, the most marked first, up to
a budget that grows with the length (`pieces`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from bot.infra import embeddings, settings

BANK = settings.DATA / "crisis_bank.yml"
NEGATIVES = settings.DATA / "crisis_negatives.yml"
PROBE = settings.DATA / "crisis_semantic.npz"
KINDS = ("self_harm", "emergency", "child_welfare")

# Bands of the probe's probability, tuned on tests/nlu/crisis_dev.yml (docs/crisis.md): at or above
# CRISIS the message is a crisis; from CHECK up the bot asks the check question; below, no crisis.
CRISIS = 0.99
CHECK = 0.62

WHOLE_CHARS = 40  # a message this short is embedded whole (about 30 ms here)
PIECE_CHARS = 26  # a long message's sentences are cut to clauses of about this length
# characters embedded for a long message: 20 at 100 characters, 108 at 500 and after (`python -m
# bench crisis`: p95 under 30 / 150 ms on one core, docs/crisis.md)
BUDGET_BASE, BUDGET_PER_CHAR, BUDGET_MAX = 20, 0.22, 108

MIN_PIECE = 6  # fewer characters left than this: nothing more is embedded
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n…])")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])")
# What a crisis sentence almost always has, direct or indirect: death, life, leaving, pain, means
# and places, danger now, a child and its care. Broad on purpose: it only chooses what to embed.
_CUE = re.compile(
    "死|活|命|杀|药|跳|楼顶|天台|阳台|窗台|窗户|窗边|窗外|桥|河|江|湖|海|水|信|遗|告别|再见|别了|走了|走一步|离开|结束|了结|"
    "解脱|消失|撑|熬|累|痛苦|绝望|希望|意义|留恋|拖累|累赘|后事|醒|睡|绳|刀|血|伤|割|划|烧|炭|火|烟|味|"
    "气|晕|倒|昏|抽|吐|动静|呼吸|喘|胸口|救|喊|叫|哭|打|骂|踹|砸|掐|锁|关|困|饿|孩子|小孩|娃|婴|宝宝|"
    "女儿|儿子|姑娘|男孩|女孩|弃|不要了|养不|接走|送走|领走|一个人|大人|父母|爸|妈|后妈|继|摸|带走|"
    "不见|找不到|联系不上|危险|害怕|怕|吓|急|快"
)


# What a crisis sentence says when it says it at all: these choose first within the budget.
_STRONG = re.compile(
    "死|活着|活下去|不想活|没意思|意义|信|遗|告别|再见|就这样吧|解脱|消失|离开这个|结束|撑不|熬不|坚持不|"
    "拖累|累赘|后事|绳|割|药|跳|楼顶|天台|救命|血|晕|昏|不醒|没反应|呼吸|着火|烟|煤气|燃气|刀|打孩子|挨打|"
    "饿|锁在|关在|弃|不要了|养不|福利院|一个人在|不见了|走丢|危险"
)


@dataclass(frozen=True)
class Statement:
    text: str
    kind: str
    directness: str
    reviewer: str
    reviewed: str


@dataclass(frozen=True)
class Semantic:
    """The semantic stage's view of a message: the probability that it states a crisis, the kind
    of the closest reviewed statements, and the closest one itself (with its cosine)."""

    probability: float
    kind: str
    closest: Statement
    similarity: float
    piece: str  # the part of the message that scored highest


@dataclass(frozen=True)
class Probe:
    coef: npt.NDArray[np.float32]
    intercept: float
    bank: npt.NDArray[np.float32]  # one row per statement, in the file's order
    statements: tuple[Statement, ...]


def read_bank(path: Path = BANK) -> list[Statement]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        Statement(
            text=str(s["text"]),
            kind=str(s["kind"]),
            directness=str(s["directness"]),
            reviewer=str(s["reviewer"]),
            reviewed=str(s["reviewed"]),
        )
        for s in raw.get("statements") or []
    ]


def read_negatives(path: Path = NEGATIVES) -> list[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(s["text"]) for s in raw.get("negatives") or []]


def fingerprint(statements: list[Statement], negatives: list[str]) -> str:
    """What the stored probe was fitted on (the model and both reviewed files' texts and kinds)."""
    h = hashlib.sha256(embeddings.MODEL.encode())
    for s in statements:
        h.update(f"\n{s.kind}\t{s.text}".encode())
    for t in negatives:
        h.update(f"\nnone\t{t}".encode())
    return h.hexdigest()


@lru_cache(maxsize=2)
def _probe(path: str, mtime: float) -> Probe:
    with np.load(path, allow_pickle=False) as stored:
        coef = np.asarray(stored["coef"], dtype=np.float32)
        intercept = float(stored["intercept"])
        bank = np.asarray(stored["bank"], dtype=np.float32)
    statements = tuple(read_bank())
    if len(statements) != bank.shape[0]:
        raise ValueError(f"{path} does not match {BANK}: run `python -m bot.ops.crisis_fit`")
    return Probe(coef=coef, intercept=intercept, bank=bank, statements=statements)


def probe(path: Path = PROBE) -> Probe:
    return _probe(str(path), path.stat().st_mtime)


def budget(length: int) -> int:
    return min(BUDGET_MAX, max(BUDGET_BASE, int(BUDGET_BASE + BUDGET_PER_CHAR * (length - 100))))


def _clauses(sentence: str) -> list[str]:
    if len(sentence) <= PIECE_CHARS:
        return [sentence]
    out: list[str] = []
    current = ""
    for clause in _CLAUSE_END.split(sentence):
        if current and len(current) + len(clause) > PIECE_CHARS:
            out.append(current)
            current = ""
        current += clause
        while len(current) > PIECE_CHARS * 2:  # a run with no punctuation (voice input)
            out.append(current[:PIECE_CHARS])
            current = current[PIECE_CHARS:]
    if current:
        out.append(current)
    return out


def cues(text: str) -> int:
    """How strongly a piece of text is marked: every cue counts, a strong one three times."""
    return len(_CUE.findall(text)) + 2 * len(_STRONG.findall(text))


def pieces(text: str) -> list[str]:
    """What of a message to embed: all of a short one; of a long one, the clauses with the most
    cues first, within budget(len). A long message with no cue at all gives none."""
    # the text as written (full-width punctuation kept): the bank was embedded that way
    text = " ".join((text or "").split())
    if len(text) <= WHOLE_CHARS:
        return [text] if text else []
    parts = [c.strip() for s in _SENTENCE_END.split(text) for c in _clauses(s.strip()) if c.strip()]
    # the most marked first, the shorter of two as marked first (more of the budget left)
    marked = sorted(((cues(p), -len(p), -i, p) for i, p in enumerate(parts) if cues(p)), reverse=True)
    chosen: list[str] = []
    left = budget(len(text))
    for *_, part in marked:
        if left < MIN_PIECE:
            break
        if len(part) > left:  # a long clause: the window around its first cue
            cue = _CUE.search(part)
            start = max(0, (cue.start() if cue else 0) - left // 3)
            part = part[start : start + left]
        chosen.append(part)
        left -= len(part)
    return chosen


def probability(vectors: npt.NDArray[np.float32], p: Probe) -> npt.NDArray[np.float64]:
    # einsum, not @: these products are tiny, and BLAS would wake its threads, which then spin on
    # the core the embedding engine needs (bench crisis: CPU time twice the wall time)
    logits = np.einsum("ij,j->i", vectors.astype(np.float64), p.coef.astype(np.float64)) + p.intercept
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def _kind(vector: npt.NDArray[np.float32], p: Probe) -> tuple[str, int]:
    """The kind of the closest reviewed statements (the three nearest vote, by similarity), and
    the index of the closest one."""
    sims = np.einsum("ij,j->i", p.bank, vector)
    nearest = np.argsort(-sims)[:3]
    votes: dict[str, float] = {}
    for i in nearest:
        votes[p.statements[i].kind] = votes.get(p.statements[i].kind, 0.0) + float(sims[i])
    kind = max(votes, key=lambda k: votes[k])
    best = next(int(i) for i in nearest if p.statements[i].kind == kind)
    return kind, best


def score_all(text: str) -> list[Semantic]:
    """The semantic stage on each embedded piece of a message, the most likely crisis first."""
    parts = pieces(text)
    if not parts:
        return []
    p = probe()
    vectors = embeddings.embed_many(parts)  # one call: the engine spreads a batch over both cores
    probs = probability(vectors, p)
    out: list[Semantic] = []
    for i in np.argsort(-probs, kind="stable"):
        kind, best = _kind(vectors[i], p)
        out.append(
            Semantic(
                probability=float(probs[i]),
                kind=kind,
                closest=p.statements[best],
                similarity=float(np.einsum("i,i->", p.bank[best], vectors[i])),
                piece=parts[i],
            )
        )
    return out


def score(text: str) -> Semantic | None:
    """The semantic stage on one message (its most likely piece); None when nothing is embedded."""
    found = score_all(text)
    return found[0] if found else None
