"""Canned replies for agents, drawn from the approved catalogue (bot.core.catalogue).

Every FAQ answer (its topic title as the label), the general responses an agent may need in a
conversation, and any response whose metadata says `canned: true`. Placeholders are filled with
the city profile and the ticket (ticket number, SLA); a response that would still contain an
unfilled placeholder is not offered.
"""

from __future__ import annotations

from typing import Any

from bot.core import catalogue, tickets, topics

# general responses that read naturally from a person, with the label agents see
GENERAL = {
    "utter_how_can_i_help": "请市民说明诉求",
    "utter_out_of_scope": "不属于12345受理范围",
    "utter_private_matter": "个人私事",
    "utter_unreasonable_demand": "超出法律政策范围的要求",
    "utter_thank": "不客气",
    "utter_goodbye": "告别",
}


def replies(ticket: tickets.Ticket | None = None, query: str = "", limit: int = 50) -> list[dict[str, str]]:
    cat = catalogue.load()
    tcat = topics.load()
    slots: dict[str, Any] = {}
    if ticket:
        slots = {"ticket_id": ticket.id, "sla_text": tickets.sla_for(ticket.kind, ticket.priority).text}
    items: list[tuple[int, dict[str, str]]] = []
    department = ticket.department if ticket else None
    for name in cat.names():
        variations = cat.variations(name)
        if not variations:
            continue
        label: str | None = None
        rank = 2
        if name.startswith("utter_faq/"):
            topic = tcat.get("faq/" + name.split("/", 1)[1])
            label = topic.title if topic else name.split("/", 1)[1]
            rank = 0 if topic and topic.department == department else 1  # the ticket's department first
        elif name in GENERAL:
            label = GENERAL[name]
        elif variations[0].metadata.get("canned"):
            label = str(variations[0].metadata.get("title") or name)
        if label is None:
            continue
        text = cat.render(name, **slots)["text"]
        if catalogue.PLACEHOLDER.search(text):
            continue
        if query and query not in label and query not in text:
            continue
        items.append((rank, {"name": name, "title": label, "text": text}))
    items.sort(key=lambda x: (x[0], x[1]["title"]))
    return [i for _, i in items[:limit]]
