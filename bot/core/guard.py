"""The approved-reply guard, the phrase check and the audit trail.

`check_bot_text`: a text the bot is about to send must be an instance of an approved response
(after slot and city filling) and its own wording must pass the phrase check; anything else is
replaced by `utter_safe_fallback` and recorded as blocked, with the blocked text (masked), for
supervisors. What the citizen wrote and the bot echoes back (a report's description in the
confirmation) is the citizen's, not the bot's: it is not phrase-checked, so a citizen who quotes
an insult they received still gets their confirmation.
`check_agent_text`: what an agent types passes the same phrase check as the catalogue
(data/forbidden_phrases.yml); the desk shows the agent why and lets them edit or confirm.
`record` / `audit`: one row per outgoing (or blocked) message, queryable by supervisors.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core import catalogue
from bot.core.privacy import mask
from bot.infra import db, settings

log = logging.getLogger(__name__)
SAFE_FALLBACK = "utter_safe_fallback"
MAX_TEXT_BYTES = 2048 * 8  # channels split at their own limit; this bounds absurd texts
PHRASES_FILE = "forbidden_phrases.yml"
# quoted words (what a citizen may type: 回复“人工”) and titles (《…》) are not the bot's register
_QUOTED = re.compile(r"“[^”]*”|「[^」]*」|『[^』]*』|《[^》]*》|\"[^\"]*\"")
# white space and invisible characters someone could put inside a word to slip past the list
_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]+")


@dataclass(frozen=True)
class Verdict:
    text: str  # what may be sent
    response: str | None  # the approved response it is, or the safe fallback
    blocked: bool
    reason: str | None = None
    original: str | None = None  # the blocked text


@dataclass(frozen=True)
class Phrase:
    pattern: re.Pattern[str]
    why: str
    outside_quotes: bool


def check_bot_text(text: str | None, hint: str | None = None) -> Verdict:
    cat = catalogue.load()
    if text and len(text.encode("utf-8")) <= MAX_TEXT_BYTES:
        found = cat.match_detail(text, hint)
        if found is not None:
            problems = phrase_problems(found.own_words)
            if not problems:
                return Verdict(text=text, response=found.name, blocked=False)
            reason = "forbidden phrase: " + "; ".join(problems)
        else:
            reason = "not an approved response"
    else:
        reason = "empty or oversized text"
    safe = cat.text(SAFE_FALLBACK)
    return Verdict(text=safe, response=SAFE_FALLBACK, blocked=True, reason=reason[:200], original=text)


def approved_buttons(buttons: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Buttons whose titles are approved (catalogue buttons or topic titles)."""
    if not buttons:
        return []
    from bot.core import topics

    titles = catalogue.load().button_titles | {t.title for t in topics.load().topics.values()}
    return [b for b in buttons if str(b.get("title", "")) in titles]


@lru_cache(maxsize=4)
def _phrases(path: str, mtime: float) -> list[Phrase]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for entry in raw.get("forbidden", []):
        if isinstance(entry, dict):
            pattern, why = str(entry["pattern"]), str(entry.get("why", entry["pattern"]))
            outside = bool(entry.get("outside_quotes", False))
        else:
            pattern, why, outside = str(entry), str(entry), False
        out.append(Phrase(re.compile(pattern), why, outside))
    return out


def phrases(path: Path | None = None) -> list[Phrase]:
    p = path or settings.DATA / PHRASES_FILE
    return _phrases(str(p), p.stat().st_mtime) if p.exists() else []


def normalize(text: str) -> str:
    """The form the list is matched on: NFKC (full-width letters), no spaces or invisible marks."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def phrase_hits(text: str, path: Path | None = None) -> list[tuple[str, str]]:
    """(the words found, why they are not acceptable) for each entry of the list that matches."""
    compact = normalize(text)
    unquoted = normalize(_QUOTED.sub("|", text))
    hits: list[tuple[str, str]] = []
    for ph in phrases(path):
        m = ph.pattern.search(unquoted if ph.outside_quotes else compact)
        if m and all(ph.why != why for _, why in hits):
            hits.append((m.group(0), ph.why))
    return hits


def phrase_problems(text: str, path: Path | None = None) -> list[str]:
    """Why a text is not acceptable for a citizen (rude, sarcastic, blaming), empty if fine."""
    return [why for _, why in phrase_hits(text, path)]


def check_agent_text(text: str) -> list[str]:
    """Problems with an agent's reply, in Chinese for the agent; empty when it may go out."""
    # the list's reasons are "中文 / English": agents read the words found and the Chinese part
    problems = [f"“{words}”：{why.split(' / ')[0]}" for words, why in phrase_hits(text)]
    if not text.strip():
        problems.append("回复内容为空")
    elif len(text.encode("utf-8")) > 2048:
        problems.append("回复过长（超过2048字节），请分成几条发送")
    return problems


def audit_row(
    *,
    channel: str,
    sender_id: str,
    text: str,
    response: str | None,
    blocked: bool = False,
    reason: str | None = None,
    agent: str | None = None,
    ticket_id: str | None = None,
    model_version: str | None = None,
) -> db.AuditRecord:
    """The audit row of one outgoing (or blocked) message. Text is masked.

    `model_version`: the model that answered, as the caller knows it (channels/common.py asks the
    Rasa server; an agent's words and the desk's own rows have none)."""
    return db.AuditRecord(
        channel=channel,
        sender_id=sender_id,
        response=response,
        text=mask(text or "")[:4000],
        model_version=model_version,
        agent=agent,
        ticket_id=ticket_id,
        blocked=blocked,
        blocked_reason=mask(reason)[:200] if reason else None,
    )


def write(rows: list[Any]) -> None:
    """Audit and inbound rows in one transaction (a turn's rows are written together: one commit
    instead of one per reply was measured, docs/performance.md)."""
    if not rows:
        return
    try:
        with db.session() as s:
            s.add_all(rows)
    except Exception:  # the audit must never stop a citizen's answer; the error is visible
        log.exception("%d audit/inbound record(s) could not be written", len(rows))


def record(**fields: Any) -> None:
    """One row of the audit trail per outgoing (or blocked) message (see `audit_row`)."""
    write([audit_row(**fields)])


def audit(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    sender_id: str | None = None,
    agent: str | None = None,
    response: str | None = None,
    blocked: bool | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The audit trail for supervisors, newest first (texts are stored masked)."""
    A = db.AuditRecord
    with db.session() as s:
        q = s.query(A)
        if since is not None:
            q = q.filter(A.at >= since)
        if until is not None:
            q = q.filter(A.at < until)
        if channel:
            q = q.filter(A.channel == channel)
        if sender_id:
            q = q.filter(A.sender_id == sender_id)
        if agent:
            q = q.filter(A.agent == agent)
        if response:
            q = q.filter(A.response == response)
        if blocked is not None:
            q = q.filter(A.blocked.is_(blocked))
        rows = q.order_by(A.at.desc(), A.id.desc()).offset(max(offset, 0)).limit(min(max(limit, 1), 1000)).all()
        return [
            {
                "id": r.id,
                "at": db.aware(r.at).isoformat(timespec="seconds") if r.at else None,
                "channel": r.channel,
                "sender_id": r.sender_id,
                "response": r.response,
                "text": mask(r.text),
                "model_version": r.model_version,
                "agent": r.agent,
                "ticket_id": r.ticket_id,
                "blocked": bool(r.blocked),
                "blocked_reason": r.blocked_reason,
            }
            for r in rows
        ]
