"""The approved-reply guard and the audit trail.

`check_bot_text`: a text the bot is about to send must be an instance of an approved response
(after slot and city filling); anything else is replaced by `utter_safe_fallback` and recorded
as blocked, with the blocked text (masked), for supervisors.
`check_agent_text`: what an agent types passes the same phrase check as the catalogue
(data/forbidden_phrases.yml); the desk shows the agent why and lets them edit or confirm.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot import catalogue, db, settings
from bot.privacy import mask

log = logging.getLogger(__name__)
SAFE_FALLBACK = "utter_safe_fallback"
MAX_TEXT_BYTES = 2048 * 8  # channels split at their own limit; this bounds absurd texts


@dataclass(frozen=True)
class Verdict:
    text: str  # what may be sent
    response: str | None  # the approved response it is, or the safe fallback
    blocked: bool
    reason: str | None = None
    original: str | None = None  # the blocked text


def check_bot_text(text: str | None, hint: str | None = None) -> Verdict:
    cat = catalogue.load()
    if text is not None and len(text.encode("utf-8")) <= MAX_TEXT_BYTES:
        name = cat.match(text, hint)
        if name is not None:
            problems = phrase_problems(text)
            if not problems:
                return Verdict(text=text, response=name, blocked=False)
            reason = "forbidden phrase: " + "; ".join(problems)
        else:
            reason = "not an approved response"
    else:
        reason = "empty or oversized text"
    safe = cat.text(SAFE_FALLBACK)
    return Verdict(text=safe, response=SAFE_FALLBACK, blocked=True, reason=reason, original=text)


def approved_buttons(buttons: list[dict] | None) -> list[dict]:
    """Buttons whose titles are approved (catalogue buttons or topic titles)."""
    if not buttons:
        return []
    from bot import topics

    titles = catalogue.load().button_titles | {t.title for t in topics.load().topics.values()}
    return [b for b in buttons if str(b.get("title", "")) in titles]


@lru_cache(maxsize=2)
def _phrases(path: str, mtime: float) -> list[tuple[re.Pattern[str], str]]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for entry in raw.get("forbidden", []):
        pattern = entry["pattern"] if isinstance(entry, dict) else str(entry)
        why = entry.get("why", pattern) if isinstance(entry, dict) else pattern
        out.append((re.compile(pattern), why))
    return out


def phrase_problems(text: str) -> list[str]:
    """Why a text is not acceptable for a citizen (rude, sarcastic, blaming), empty if fine."""
    p = settings.DATA / "forbidden_phrases.yml"
    if not p.exists():
        return []
    compact = re.sub(r"\s+", "", text)
    return [why for pattern, why in _phrases(str(p), p.stat().st_mtime) if pattern.search(compact)]


def check_agent_text(text: str) -> list[str]:
    problems = phrase_problems(text)
    if not text.strip():
        problems.append("回复内容为空")
    return problems


def record(
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
) -> None:
    """One row of the audit trail per outgoing (or blocked) message. Text is masked."""
    try:
        with db.session() as s:
            s.add(
                db.AuditRecord(
                    channel=channel,
                    sender_id=sender_id,
                    response=response,
                    text=mask(text)[:4000],
                    model_version=model_version,
                    agent=agent,
                    ticket_id=ticket_id,
                    blocked=blocked,
                    blocked_reason=reason,
                )
            )
    except Exception:  # the audit must never stop a citizen's answer; the error is visible
        log.exception("audit record could not be written (channel=%s)", channel)
