"""The questions the bot could not answer, grouped for the ops team (未能回答的问题)."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.core.privacy import mask
from bot.infra import settings

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# words that say nothing about what was asked: two questions sharing only these are not alike
GENERIC_WORDS = frozenset(
    "请问 你好 您好 我们 你们 他们 自己 怎么 怎么办 怎样 如何 什么 哪里 在哪 哪个 哪些 能不能 可不可以 可以 行不行 是不是 "
    "有没有 需要 应该 为什么 多少 几点 一下 这个 那个 这样 现在 今天 明天 昨天 时候 问题 情况 事情 办理 申请 "
    "谢谢 麻烦 小区 路边 楼下 门口 家里 附近 政府 市民 工作 部门 手续 东西 一个 还是 已经 没有 不能 不是 电话 手机 号码".split()
)


@dataclass(frozen=True)
class QuestionGroup:
    count: int
    keywords: tuple[str, ...]  # at most 3, the most shared first
    example: str  # the most frequent wording, masked
    variants: tuple[str, ...]  # up to 4 wordings, the example first


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    terms = settings.DATA / "jieba" / "gov_terms.txt"
    if terms.exists():  # the same government terms as the NLU pipeline (社保卡, 公积金 ...)
        jieba.load_userdict(str(terms))
    return jieba


def _normalize(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text or "").lower())


@lru_cache(maxsize=20000)  # the same question comes again and again
def _keywords(text: str) -> frozenset[str]:
    words = _jieba().lcut(_normalize(text))
    return frozenset(
        w for w in words if len(w) >= 2 and w not in GENERIC_WORDS and not any(ch.isdigit() or ch == "*" for ch in w)
    )


def _clusters(items: list[tuple[str, str, frozenset[str]]], too_common: set[str]) -> list[list[int]]:
    """Indexes of the items that share a normalized wording or a keyword, transitively."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, (_, norm, words) in enumerate(items):
        for key in [f"={norm}", *sorted(words - too_common)]:
            if key in first_with:
                parent[root(i)] = root(first_with[key])
            else:
                first_with[key] = i
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        groups[root(i)].append(i)
    return list(groups.values())


def group_questions(texts: list[str], top: int = 20) -> list[QuestionGroup]:
    """Masked questions grouped for the ops team: the same wording (punctuation aside), or a
    shared keyword (jieba words of 2+ characters, generic words and numbers left out). A word
    found in more than half of the questions says too little to group by."""
    items = [(t, _normalize(t), _keywords(t)) for t in (mask(raw or "").strip() for raw in texts) if t]
    df = Counter(w for _, _, words in items for w in words)
    too_common = {w for w, n in df.items() if len(items) >= 6 and n > len(items) / 2}
    out = []
    for members in _clusters(items, too_common):
        texts_in = Counter(items[i][0] for i in members)
        shared = Counter(w for i in members for w in items[i][2] - too_common)
        keywords = sorted((w for w, n in shared.items() if n > 1), key=lambda w: (-shared[w], w))
        out.append(
            QuestionGroup(
                count=len(members),
                keywords=tuple(keywords[:3]),
                example=texts_in.most_common(1)[0][0],
                variants=tuple(t for t, _ in texts_in.most_common(4)),
            )
        )
    out.sort(key=lambda g: (-g.count, g.example))
    return out[:top]
