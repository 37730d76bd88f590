"""Tickets (工单): the ticket the core hands around, its life cycle, routing, words and store.

    model.py      Ticket, TranscriptLine, Note: typed values; to_json() is the API's JSON
    lifecycle.py  new → claimed → closed: who may do what in which status, and the errors
    routing.py    kind, department, priority per topic (data/topics.yml); SLA (data/sla.yml)
    texts.py      the summary an agent reads, why a ticket went to a person, the citizen's status line
    matter.py     one matter, one ticket: an open ticket on the same matter is taken up
    records.py    the tickets in SQL: file (idempotent), read, change

Callers use this package's names (`tickets.create`, `tickets.Ticket`), not the modules.
"""

from bot.core.tickets.lifecycle import ClaimedByOther, Closed, NotFound, TicketError
from bot.core.tickets.matter import take_up
from bot.core.tickets.model import SATISFACTION, Note, Speaker, Ticket, TranscriptLine
from bot.core.tickets.records import (
    add_attachment,
    add_note,
    append,
    append_once,
    claim,
    close,
    create,
    escalate,
    find,
    get,
    get_by_key,
    mark_handoff,
    open_for_sender,
    query,
    rate,
    set_reason,
)
from bot.core.tickets.routing import Route, Sla, callback_due, route, sla_for
from bot.core.tickets.texts import (
    CALLBACK,
    FALLBACK_OFFER,
    PHONE_CALLBACK,
    REASONS,
    REPEATED_ABUSE,
    REPORT,
    REPORT_DISCUSSION,
    REQUEST_HUMAN,
    SUMMARY_CHARS,
    crisis_reason,
    crisis_summary,
    handoff_summary,
    one_line,
    reason_text,
    report_description,
    report_summary,
    status_text,
)
from bot.core.tickets.timefmt import iso

__all__ = [
    "CALLBACK",
    "FALLBACK_OFFER",
    "PHONE_CALLBACK",
    "REASONS",
    "REPORT",
    "REPEATED_ABUSE",
    "REPORT_DISCUSSION",
    "REQUEST_HUMAN",
    "SATISFACTION",
    "SUMMARY_CHARS",
    "ClaimedByOther",
    "Closed",
    "Note",
    "NotFound",
    "Route",
    "Sla",
    "Speaker",
    "Ticket",
    "TicketError",
    "TranscriptLine",
    "add_attachment",
    "add_note",
    "append",
    "append_once",
    "callback_due",
    "claim",
    "close",
    "create",
    "crisis_reason",
    "crisis_summary",
    "escalate",
    "find",
    "get",
    "get_by_key",
    "handoff_summary",
    "iso",
    "mark_handoff",
    "one_line",
    "open_for_sender",
    "query",
    "rate",
    "reason_text",
    "report_description",
    "report_summary",
    "route",
    "set_reason",
    "sla_for",
    "status_text",
    "take_up",
]
