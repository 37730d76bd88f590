"""What the tracker says: the citizen's words, the conversation's topic, who is talking where.

Pure reading of rasa-sdk's Tracker (no SQL, no Redis): the actions hand what they read here to
the core, in a worker thread (actions/filing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from bot.core import topics
from bot.core.tickets import TranscriptLine
from bot.core.transcript import from_events

# messages that say nothing about the matter itself (asking for a person, yes, hello)
NOT_THE_MATTER = frozenset(
    {"request_human", "affirm", "deny", "greet", "goodbye", "thank", "bot_challenge", "skip", "stop"}
)


@dataclass(frozen=True)
class Conversation:
    """Who is talking, where, and what was said: everything a ticket needs from the tracker."""

    sender_id: str
    channel: str
    marker: str  # the latest message's id (or time): a retried action files the same ticket
    transcript: tuple[TranscriptLine, ...]

    def key(self, what: str) -> str:
        """Idempotency key: a retried action or a re-delivered message files the same ticket."""
        return f"{self.sender_id}:{what}:{self.marker}"


def channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "rest"


def _marker(tracker: Tracker) -> str:
    marker = tracker.latest_message.get("message_id") or ""
    if not marker:
        for e in reversed(tracker.events):
            if e.get("event") == "user":
                return str(e.get("timestamp"))
    return str(marker)


def conversation(tracker: Tracker) -> Conversation:
    return Conversation(
        sender_id=tracker.sender_id,
        channel=channel(tracker),
        marker=_marker(tracker),
        transcript=tuple(from_events(tracker.events)),
    )


def intent(tracker: Tracker) -> str | None:
    name = (tracker.latest_message.get("intent") or {}).get("name")
    return str(name) if name else None


def latest_text(tracker: Tracker) -> str:
    """The citizen's own words: the whole text when the channel cut it for NLU."""
    meta = tracker.latest_message.get("metadata") or {}
    return str(meta.get("full_text") or tracker.latest_message.get("text") or "")


def latest_words(tracker: Tracker) -> str:
    """The latest message as words for a transcript: "" for a button press (/payload)."""
    words = latest_text(tracker)
    return "" if words.startswith("/") else words


def latest_user_index(tracker: Tracker) -> int:
    for i in range(len(tracker.events) - 1, -1, -1):
        if tracker.events[i].get("event") == "user":
            return i
    return len(tracker.events)


def last_topic(tracker: Tracker) -> str | None:
    """The most recent intent the citizen expressed that is a contract topic (faq or report)."""
    catalogue = topics.load()
    for e in reversed(tracker.events):
        if e.get("event") != "user":
            continue
        parse = e.get("parse_data") or {}
        name = (parse.get("intent") or {}).get("name")
        if name == "faq":
            key = ((parse.get("response_selector") or {}).get("faq", {}).get("response", {}) or {}).get(
                "intent_response_key"
            )
            name = key or name
        topic = catalogue.get(name) if name else None
        if topic is not None and topic.kind in ("faq", "report"):
            return str(name)
    return None


def citizen_words(tracker: Tracker) -> str:
    """The citizen's own words about their matter for the summary: their latest message that
    is not just asking for a person (or yes, or hello)."""
    said: list[tuple[str, str]] = []
    for e in tracker.events:
        if e.get("event") != "user":
            continue
        text = (e.get("metadata") or {}).get("full_text") or e.get("text") or ""
        if text and not text.startswith("/"):
            said.append((((e.get("parse_data") or {}).get("intent") or {}).get("name") or "", text))
    matter = [text for name, text in said[-8:] if name not in NOT_THE_MATTER]
    return matter[-1] if matter else ""


def describe(tracker: Tracker) -> str:
    """What the citizen said before asking for a person (their own words)."""
    lines = [e.get("text") or "" for e in tracker.events if e.get("event") == "user" and (e.get("text") or "")]
    lines = [x for x in lines if not x.startswith("/")]
    return "\n".join(lines[-5:])


def entity(tracker: Tracker, name: str) -> Any:
    entities = tracker.latest_message.get("entities") or []
    return next((e.get("value") for e in entities if e.get("entity") == name), None)
