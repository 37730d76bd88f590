"""What several tests of bot/rasa/patches build."""

from __future__ import annotations

from typing import Any


def saved_conversation(*events: Any) -> Any:
    from rasa.shared.core.trackers import DialogueStateTracker

    return DialogueStateTracker.from_events("citizen-1", list(events))
