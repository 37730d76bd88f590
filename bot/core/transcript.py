"""A ticket's transcript from Rasa tracker events: what the citizen and the bot said."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bot.core.tickets import TranscriptLine


def from_events(events: list[dict[str, Any]], limit: int = 50) -> list[TranscriptLine]:
    out: list[TranscriptLine] = []
    for e in events:
        kind = e.get("event")
        if kind not in ("user", "bot"):
            continue
        text = e.get("text") or ""
        if kind == "user":
            meta = e.get("metadata") or {}
            text = meta.get("full_text") or text
            if text.startswith("/"):  # a button press: keep what the citizen saw, not the payload
                continue
        if not text:
            continue
        at = datetime.fromtimestamp(float(e.get("timestamp") or 0), tz=timezone.utc)
        out.append(TranscriptLine(at=at, sender="citizen" if kind == "user" else "bot", text=str(text)))
    return out[-limit:]
