"""Crisis: the approved script, a P0 ticket, a person at once."""

from __future__ import annotations

from rasa_sdk.events import ActiveLoop, ConversationPaused

from actions import crisis as a
from bot.core import handoff, tickets
from tests.actions.trackers import make_tracker, responses, run


async def test_crisis_files_a_p0_ticket_and_hands_off_at_once(db_url: str, redis_url: str) -> None:
    tracker = make_tracker("剪坏了不给恢复我就跳楼", "self_harm", sender="c-crisis", active_loop="report_form")
    dispatcher, events = await run(a.ActionCrisis(), tracker)
    ticket = tickets.query(sender_id="c-crisis")[0]
    assert (ticket.priority, ticket.topic, ticket.status) == ("P0", "self_harm", "new")
    assert ticket.description == "剪坏了不给恢复我就跳楼"
    assert responses(dispatcher) == ["utter_crisis_self_harm"]
    assert ActiveLoop(None) in events and ConversationPaused() in events
    assert handoff.current("c-crisis") == {"ticket_id": ticket.id, "channel": "rest"}


async def test_every_crisis_is_p0_with_the_citizens_words_in_the_summary(db_url: str, redis_url: str) -> None:
    for intent, text in (("emergency", "楼道里全是煤气味"), ("child_welfare", "邻居家小孩被锁在家三天没人管")):
        await run(a.ActionCrisis(), make_tracker(text, intent, sender=f"cr-{intent}"))
        [ticket] = tickets.query(sender_id=f"cr-{intent}")
        assert ticket.priority == "P0" and ticket.summary.startswith("【危机】") and text in ticket.summary
        assert handoff.current(f"cr-{intent}")["ticket_id"] == ticket.id
