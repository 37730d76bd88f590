"""Abuse (issue 22): calm courtesy and an offer to help; the third abusive message of a session
goes to a person with a ticket that says why."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ConversationPaused, SlotSet

from actions import abuse as a
from bot.core import handoff, tickets
from tests.actions.test_handoff import _city
from tests.actions.trackers import make_tracker, responses, run


def _turns(*intents: str, session_start_after: int | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i, intent in enumerate(intents):
        if session_start_after is not None and i == session_start_after:
            events.append({"event": "session_started"})
        text = "蠢货" if intent == "abuse" else "社保卡怎么办"
        events.append(
            {"event": "user", "text": text, "timestamp": 1764000000.0 + i, "parse_data": {"intent": {"name": intent}}}
        )
        events.append({"event": "bot", "text": "…", "timestamp": 1764000000.5 + i})
    return events


def test_abusive_messages_are_counted_in_the_current_session_only() -> None:
    tracker = make_tracker("蠢货", "abuse", events=_turns("abuse", "abuse", "faq", "abuse"))
    assert a.abuse_count(tracker) == 3
    tracker = make_tracker("蠢货", "abuse", events=_turns("abuse", "abuse", "abuse", session_start_after=2))
    assert a.abuse_count(tracker) == 1


@pytest.mark.parametrize("before", [(), ("abuse",), ("abuse", "faq")])
async def test_first_and_second_abuse_get_the_calm_script_and_nothing_else(before: tuple[str, ...]) -> None:
    tracker = make_tracker("蠢货", "abuse", events=_turns(*before, "abuse"))
    dispatcher, events = await run(a.ActionAbuse(), tracker)
    assert responses(dispatcher) == ["utter_abuse"]
    assert events == []


async def test_third_abuse_goes_to_a_person_with_the_reason(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=True)
    tracker = make_tracker("蠢货", "abuse", sender="ab1", events=_turns("abuse", "faq", "abuse", "abuse"))
    dispatcher, events = await run(a.ActionAbuse(), tracker)
    assert responses(dispatcher) == ["utter_abuse_to_person", "utter_handoff"]
    [ticket] = tickets.query(sender_id="ab1")
    assert ticket.reason == tickets.REPEATED_ABUSE and ticket.handoff is True
    assert ticket.summary.startswith("情绪激动，转人工")
    assert SlotSet("handed_off", True) in events and ConversationPaused() in events
    assert handoff.current("ab1") == {"ticket_id": ticket.id, "channel": "rest"}


async def test_third_abuse_after_hours_is_a_call_back(
    db_url: str, redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(tmp_path, monkeypatch, open_=False)
    tracker = make_tracker("蠢货", "abuse", sender="ab2", events=_turns("abuse", "abuse", "abuse"))
    dispatcher, events = await run(a.ActionAbuse(), tracker)
    assert responses(dispatcher) == ["utter_abuse_to_person", "utter_handoff_after_hours"]
    [ticket] = tickets.query(sender_id="ab2")
    assert ticket.handoff is False
    assert SlotSet("handed_off", True) not in events
