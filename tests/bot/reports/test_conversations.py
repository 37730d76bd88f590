"""Conversations (bot/reports/conversations.py): 30 minutes of silence end one."""

from __future__ import annotations

from datetime import timedelta

from bot.reports.conversations import build
from bot.reports.figures import ChannelContainment, Containment, compute
from bot.reports.records import bounds, read
from tests.bot.reports.conftest import T0, Day, inbound


def test_a_pause_of_more_than_30_minutes_starts_a_new_conversation(db_url: str) -> None:
    for minutes in (0, 10, 39):  # 29 minutes between the 2nd and 3rd: one conversation
        inbound("a", T0 + timedelta(minutes=minutes))
    inbound("a", T0 + timedelta(minutes=39 + 31))  # 31 minutes later: a second one
    inbound("b", T0 + timedelta(minutes=5), channel="socketio")
    fig = compute(db_url, T0.date(), T0.date())
    assert fig.volume.conversations == 3
    assert fig.volume.citizen_messages == 5
    assert fig.volume.conversations_by_channel == {"rest": 2, "socketio": 1}
    assert fig.volume.messages_by_hour[10] == 4 and fig.volume.messages_by_hour[11] == 1
    assert fig.containment == Containment(
        conversations=3, contained=3, escalated=0, rate=1.0,
        by_channel={"rest": ChannelContainment(conversations=2, contained=2, containment=1.0),
                    "socketio": ChannelContainment(conversations=1, contained=1, containment=1.0)},
    )  # fmt: skip


def test_tickets_and_ratings_belong_to_their_conversation(known_day: Day, db_url: str) -> None:
    convs = build(read(db_url, *bounds(T0.date(), T0.date())))
    by_sender = {s: cs for s, cs in convs.by_sender.items()}
    assert [len(by_sender[s]) for s in ("A", "C", "D")] == [1, 2, 1]
    a, d, h, e = by_sender["A"][0], by_sender["D"][0], by_sender["H"][0], by_sender["E"][0]
    assert (a.helpful_offered, a.helpful_topic, a.helpful_value) == (True, "faq/shebao_card_apply", "yes")
    assert (d.tickets, d.handoff, d.to_agent) == ([known_day.crisis], True, True)
    assert h.escalated and not e.escalated  # a call-back is a handoff, a report filed by the bot is not
    assert by_sender["C"][0].helpful_offered and not by_sender["C"][1].helpful_offered
    # a record just before a conversation's first message (the inbound row is written last) is in it
    assert convs.find("E", e.start - timedelta(minutes=4)) is e
    assert convs.find("E", e.start - timedelta(minutes=6)) is None
