"""Trackers for the action tests, in the style of financial-demo: a tracker built from a message
and its events, CollectingDispatcher, and the exact events and responses an action produces.
Tickets go to a real SQLite database and handoff flags to a real Redis (fixtures `db_url`,
`redis_url`)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

DOMAIN: dict[str, Any] = {}


def make_tracker(
    text: str = "",
    intent: str = "greet",
    *,
    sender: str = "citizen-1",
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    parse: dict[str, Any] | None = None,
    active_loop: str | None = None,
    channel: str = "rest",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": [],
        "metadata": metadata or {},
        "message_id": f"mid-{abs(hash((sender, text))) % 10**8}",
        **(parse or {}),
    }
    if events is None:
        events = [
            {"event": "action", "name": "action_listen"},
            {
                "event": "user",
                "text": text,
                "timestamp": 1764000000.0,
                "parse_data": latest,
                "input_channel": channel,
                "metadata": metadata or {},
            },
        ]
    return Tracker(
        sender_id=sender,
        slots=slots or {},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


async def run(action: Any, tracker: Tracker) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher, events
