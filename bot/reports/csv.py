"""Every figure of the report as one flat table: section, dimension, key, metric, value.

One row per figure, so that a spreadsheet can filter and pivot them; an empty value is a rate
with nothing to divide by. Written UTF-8 with a BOM by files.write and the desk (Excel, which
most offices open CSVs with, reads Chinese correctly only then).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from bot.reports.figures import AnswerRatings, Durations, Figures, SlaSummary, TicketRatings

HEADER = ["section", "dimension", "key", "metric", "value"]
Add = Callable[[str, str, Any, str, Any], None]


def _durations(d: Durations) -> list[tuple[str, Any]]:
    return [("n", d.n), ("median_min", d.median_min), ("mean_min", d.mean_min), ("max_min", d.max_min)]


def _sla(s: SlaSummary) -> list[tuple[str, Any]]:
    return [("kept", s.kept), ("missed", s.missed), ("pending", s.pending), ("kept_rate", s.kept_rate)]


def _answers(r: AnswerRatings) -> list[tuple[str, Any]]:
    return [("offered", r.offered), ("rated", r.rated), ("participation", r.participation), ("yes", r.yes),
            ("no", r.no), ("helpful", r.helpful)]  # fmt: skip


def _tickets(r: TicketRatings) -> list[tuple[str, Any]]:
    return [
        ("offered", r.offered),
        ("rated", r.rated),
        ("participation", r.participation),
        *r.by_value.items(),
        ("satisfaction", r.satisfaction),
    ]


def _volume(fig: Figures, add: Add) -> None:
    p, v = fig.period, fig.volume
    add("period", "", "", "from", p.first_day.isoformat())
    add("period", "", "", "to", p.last_day.isoformat())
    add("period", "", "", "generated_at", p.generated_at.isoformat(timespec="seconds"))
    for metric in ("conversations", "citizen_messages", "bot_messages", "agent_messages"):
        add("volume", "", "", metric, getattr(v, metric))
    for ch, n in v.conversations_by_channel.items():
        add("volume", "channel", ch, "conversations", n)
    for ch, n in v.messages_by_channel.items():
        add("volume", "channel", ch, "citizen_messages", n)
    for h, n in enumerate(v.messages_by_hour):
        add("volume", "hour", h, "citizen_messages", n)
    for ch, per_hour in v.conversations_by_hour.items():
        for h, n in enumerate(per_hour):
            if n:
                add("volume", f"hour@{ch}", h, "conversations", n)


def _handled(fig: Figures, add: Add) -> None:
    """Containment, handoffs and tickets."""
    c, t = fig.containment, fig.tickets
    for metric in ("conversations", "contained", "escalated", "rate"):
        add("containment", "", "", metric, getattr(c, metric))
    for ch, row in c.by_channel.items():
        for metric in ("conversations", "contained", "containment"):
            add("containment", "channel", ch, metric, getattr(row, metric))
    add("handoffs", "", "", "total", fig.handoffs.total)
    for reason in fig.handoffs.reasons:
        add("handoffs", "reason", reason.reason, "count", reason.count)
    for metric in ("total", "handoff", "filed_by_bot"):
        add("tickets", "", "", metric, getattr(t, metric))
    for dept in t.by_department:
        add("tickets", "department", dept.department, "count", dept.count)
    for kind in t.by_kind:
        add("tickets", "kind", kind.kind, "count", kind.count)
    for p, n in t.by_priority.items():
        add("tickets", "priority", p, "count", n)
    for st, n in t.by_status.items():
        add("tickets", "status", st, "count", n)


def _timing(fig: Figures, add: Add) -> None:
    """SLA and the agents' times."""
    sla, a = fig.sla, fig.agents
    for dim, table in (("all", {"": sla.overall}), ("department", sla.by_department),
                       ("priority", sla.by_priority), ("type", sla.by_type)):  # fmt: skip
        for key, summary in table.items():
            for metric, val in _sla(summary):
                add("sla", dim, key, metric, val)
    for which, times in (("first_response", a.first_response), ("resolution", a.resolution)):
        for metric, val in _durations(times):
            add("agents", "all", "", f"{which}_{metric}", val)
    for agent in a.rows:
        for metric in ("tickets", "replied", "closed"):
            add("agents", "agent", agent.agent, metric, getattr(agent, metric))
        for which, times in (("claim_wait", agent.claim_wait), ("first_response", agent.first_response),
                             ("resolution", agent.resolution)):  # fmt: skip
            for metric, val in _durations(times):
                add("agents", "agent", agent.agent, f"{which}_{metric}", val)


def _satisfaction(fig: Figures, add: Add) -> None:
    s = fig.satisfaction
    for metric in ("offered", "rated", "participation"):
        add("satisfaction", "", "", metric, getattr(s, metric))
    for metric, val in _answers(s.answers):
        add("satisfaction", "answers", "", metric, val)
    for metric, val in _tickets(s.tickets):
        add("satisfaction", "tickets", "", metric, val)
    for dim, table in (("topic", s.by_topic), ("department", s.by_department)):
        for key, group in table.items():
            for metric, val in _answers(group.answers):
                add("satisfaction", f"{dim}/answers", key, metric, val)
            for metric, val in _tickets(group.tickets):
                add("satisfaction", f"{dim}/tickets", key, metric, val)


def _safety(fig: Figures, add: Add) -> None:
    """Deflections, crises, blocked replies and the unanswered questions."""
    add("deflections", "", "", "total", fig.deflections.total)
    for d in fig.deflections.by_category:
        add("deflections", "category", d.intent, "messages", d.messages)
        add("deflections", "category", d.intent, "conversations", d.conversations)
    cr = fig.crises
    for metric in ("messages", "conversations", "escalated"):
        add("crisis", "", "", metric, getattr(cr, metric))
    for k, n in cr.by_type.items():
        add("crisis", "type", k, "messages", n)
    for t in cr.tickets:
        add("crisis", "ticket", t.id, "first_response_min", t.first_response_min)
        add("crisis", "ticket", t.id, "sla", t.sla)
    g = fig.blocked_replies
    for metric in ("bot_messages", "blocked", "rate"):
        add("guard", "", "", metric, getattr(g, metric))
    for r in g.by_reason:
        add("guard", "reason", r.key, "blocked", r.count)
    u = fig.unanswered
    add("unanswered", "", "", "total", u.total)
    add("unanswered", "", "", "share_of_messages", u.share_of_messages)
    for i, grp in enumerate(u.groups, 1):
        add("unanswered", "group", i, "count", grp.count)
        add("unanswered", "group", i, "keywords", " ".join(grp.keywords))
        add("unanswered", "group", i, "example", grp.example)


def csv_rows(fig: Figures) -> list[list[Any]]:
    """Every figure as (section, dimension, key, metric, value), the header first."""
    rows: list[list[Any]] = [list(HEADER)]

    def add(section: str, dimension: str, key: Any, metric: str, value: Any) -> None:
        rows.append([section, dimension, "" if key is None else key, metric, "" if value is None else value])

    for part in (_volume, _handled, _timing, _satisfaction, _safety):
        part(fig, add)
    return rows


def to_csv(fig: Figures) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(csv_rows(fig))
    return buf.getvalue()
