"""Rasa's Redis tracker store, saving a turn without re-reading the whole conversation.

Rasa 3.6's `RedisTrackerStore.save` reads the stored conversation back, rebuilds it event by
event (every slot, every message replayed), rebuilds the new one once more at the time of the
stored one's last event, and compares the two, so that earlier conversation sessions that
`retrieve` left out are kept. That was about 4 % of the Rasa process's CPU per message
(docs/performance.md). Almost always the stored events are simply the start of the new
conversation: that is checked on the stored JSON as it is, and the new conversation is written.
Anything else (an earlier session, a write by somebody else in between) goes through Rasa's own
merge, unchanged. Configured in endpoints.yml (`type: bot.rasa.tracker_store.RedisTrackerStore`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa.core.tracker_store import RedisTrackerStore as RasaRedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

log = logging.getLogger(__name__)


class RedisTrackerStore(RasaRedisTrackerStore):
    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        await self.stream_events(tracker)
        if not timeout and self.record_exp:
            timeout = self.record_exp
        key = self.key_prefix + tracker.sender_id
        dialogue: dict[str, Any] = tracker.as_dialogue().as_dict()
        stored = self.red.get(key)
        if stored is not None and not self._continues(stored, dialogue["events"]):
            prior = self.deserialise_tracker(tracker.sender_id, stored)
            if prior is not None:
                dialogue = self._merge_trackers(prior, tracker).as_dialogue().as_dict()
        self.red.set(key, json.dumps(dialogue), ex=timeout)

    @staticmethod
    def _continues(stored: str, events: list[dict[str, Any]]) -> bool:
        """Whether the stored conversation is the start of this one (then nothing is lost)."""
        try:
            prior = json.loads(stored).get("events") or []
        except (ValueError, AttributeError):
            return False
        return len(prior) <= len(events) and events[: len(prior)] == prior
