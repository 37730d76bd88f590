"""Texts within WeChat's 2048 bytes per message: long ones split where a reader pauses, short ones
packed together (a passive reply is one message)."""

from __future__ import annotations

import unicodedata

TEXT_LIMIT_BYTES = 2048  # WeChat's limit for one text message
PART_LIMIT_BYTES = TEXT_LIMIT_BYTES - 128  # room for a part marker and the "reply 继续" hint
MARKER_BYTES = 24  # "（12/12）" and then some

# where a long text may be cut, best first: paragraph, line, sentence end, clause, space
_BREAKS = ("\n\n", "\n", "。", "！", "？", "!", "?", "；", ";", "…", "，", ",", "、", " ")


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> int:
    """How many characters of `text` go into the next part: at most `limit` bytes, at a break if possible."""
    size, fit = 0, 0
    for ch in text:
        size += nbytes(ch)
        if size > limit:
            break
        fit += 1
    if fit >= len(text):
        return len(text)
    window = text[:fit]
    for brk in _BREAKS:
        at = window.rfind(brk)
        if at >= fit // 2:  # a break in the second half: the parts stay reasonably even
            return at + len(brk)
    while fit > 1 and unicodedata.combining(text[fit]):  # never strip an accent from its letter
        fit -= 1
    return max(fit, 1)


def split_text(text: str, limit: int = PART_LIMIT_BYTES) -> list[str]:
    """Parts of at most `limit` bytes, each with a "（i/n）" marker when there are several."""
    if nbytes(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while rest:
        n = _cut(rest, limit - MARKER_BYTES)
        parts.append(rest[:n])
        rest = rest[n:]
    total = len(parts)
    return [f"（{i}/{total}）{p}" for i, p in enumerate(parts, 1)]


def pack(texts: list[str], limit: int = PART_LIMIT_BYTES) -> list[str]:
    """The messages to send for `texts`: short ones joined (a passive reply is one message), long ones split."""
    out: list[str] = []
    joinable = False
    for text in texts:
        if not text:
            continue
        parts = split_text(text, limit)
        if len(parts) == 1 and joinable and nbytes(out[-1]) + 2 + nbytes(parts[0]) <= limit:
            out[-1] += "\n\n" + parts[0]
            continue
        out.extend(parts)
        joinable = len(parts) == 1
    return out
