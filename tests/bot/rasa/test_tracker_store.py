"""bot/rasa/tracker_store.py: a turn is saved without replaying the stored conversation, and nothing
Rasa's own save keeps (earlier sessions, events written in between) is lost."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlparse

import pytest
from rasa.core.tracker_store import RedisTrackerStore as RasaStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa.tracker_store import RedisTrackerStore

DOMAIN = Domain.from_yaml("version: '3.1'\nslots:\n  rating:\n    type: text\n    mappings: [{type: custom}]\n")


@pytest.fixture()
def store(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    url = urlparse(redis_url)
    s = RedisTrackerStore(DOMAIN, host=url.hostname or "127.0.0.1", port=url.port or 6379, key_prefix="hotline")
    replays: list[str] = []
    original = RasaStore.deserialise_tracker

    def counted(self: Any, sender_id: str, stored: Any) -> Any:
        replays.append(sender_id)
        return original(self, sender_id, stored)

    monkeypatch.setattr(RasaStore, "deserialise_tracker", counted)
    s.replays = replays
    return s


def _conversation(sender: str, *events: Any) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, list(events), slots=DOMAIN.slots)


def _turn(n: int) -> list[Any]:
    t = 1000.0 + 10 * n
    return [
        UserUttered(f"问题{n}", {"name": "faq", "confidence": 0.9}, timestamp=t),
        ActionExecuted("utter_faq", timestamp=t + 1),
        BotUttered(f"答复{n}", timestamp=t + 2),
        ActionExecuted("action_listen", timestamp=t + 3),
    ]


def test_each_turn_is_saved_without_replaying_the_stored_conversation(store: Any) -> None:
    events = [ActionExecuted("action_session_start", timestamp=999.0), SessionStarted(timestamp=999.1)]
    for n in range(3):
        events += _turn(n)
        asyncio.run(store.save(_conversation("c1", *events)))
    assert store.replays == []
    saved = asyncio.run(store.retrieve("c1"))
    assert [e.as_dict() for e in saved.events] == [e.as_dict() for e in events]
    assert saved.latest_message.text == "问题2"


def test_earlier_sessions_are_kept_as_rasa_keeps_them(store: Any) -> None:
    first = [ActionExecuted("action_session_start", timestamp=900.0), SessionStarted(timestamp=900.1), *_turn(0)]
    asyncio.run(store.save(_conversation("c2", *first)))
    second = [ActionExecuted("action_session_start", timestamp=2000.0), SessionStarted(timestamp=2000.1)]
    second += [SlotSet("rating", "good", timestamp=2000.2), *_turn(200)]
    # Rasa hands the turn the latest session only: the stored one is not its start
    asyncio.run(store.save(_conversation("c2", *second)))
    assert store.replays == ["c2"]  # Rasa's merge ran
    full = asyncio.run(store.retrieve_full_tracker("c2"))
    assert [e.as_dict() for e in full.events] == [e.as_dict() for e in first + second]
    assert asyncio.run(store.retrieve("c2")).get_slot("rating") == "good"


def test_events_saved_by_somebody_else_in_between_are_not_overwritten(store: Any) -> None:
    start = [ActionExecuted("action_session_start", timestamp=999.0), SessionStarted(timestamp=999.1)]
    asyncio.run(store.save(_conversation("c3", *start, *_turn(0))))
    # the desk wrote an agent's message meanwhile; this turn was computed from the older state
    asyncio.run(store.save(_conversation("c3", *start, *_turn(0), BotUttered("工作人员：您好", timestamp=1005.0))))
    asyncio.run(store.save(_conversation("c3", *start, *_turn(0), *_turn(1))))
    assert store.replays == ["c3"]
    texts = [e.text for e in asyncio.run(store.retrieve("c3")).events if isinstance(e, BotUttered | UserUttered)]
    assert texts == ["问题0", "答复0", "工作人员：您好", "问题1", "答复1"]
