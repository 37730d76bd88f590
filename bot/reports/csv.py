"""Every figure of the report as one flat table: section, dimension, key, metric, value.

One row per figure, so that a spreadsheet can filter and pivot them. A rate is two rows: the
ratio (0.8125), or 样本不足 when it is of fewer than 30 (rates.py), and `<metric>_n`, what it is
of. Written UTF-8 with a BOM by files.write and the desk (Excel, which most offices open CSVs
with, reads Chinese correctly only then).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from bot.reports.figures import AnswerRatings, Durations, Figures, SlaSummary, TicketRatings
from bot.reports.outcomes import OutcomeCounts
from bot.reports.rates import Rate

HEADER = ["section", "dimension", "key", "metric", "value"]
Add = Callable[[str, str, Any, str, Any], None]


def _rate(metric: str, value: float | None, n: int) -> list[tuple[str, Any]]:
    return [(metric, Rate(value, n).cell), (f"{metric}_n", n)]


def _durations(d: Durations) -> list[tuple[str, Any]]:
    return [("n", d.n), ("median_min", d.median_min), ("mean_min", d.mean_min), ("max_min", d.max_min)]


def _sla(s: SlaSummary) -> list[tuple[str, Any]]:
    return [("kept", s.kept), ("missed", s.missed), ("pending", s.pending), *_rate("kept_rate", s.kept_rate, s.n)]


def _answers(r: AnswerRatings) -> list[tuple[str, Any]]:
    return [("offered", r.offered), ("rated", r.rated), *_rate("participation", r.participation, r.offered),
            ("yes", r.yes), ("no", r.no), *_rate("helpful", r.helpful, r.rated)]  # fmt: skip


def _tickets(r: TicketRatings) -> list[tuple[str, Any]]:
    return [
        ("offered", r.offered),
        ("rated", r.rated),
        *_rate("participation", r.participation, r.offered),
        *r.by_value.items(),
        *_rate("satisfaction", r.satisfaction, r.rated),
    ]


def _outcome_counts(o: OutcomeCounts) -> list[tuple[str, Any]]:
    return [
        ("conversations", o.conversations),
        ("solved", o.solved),
        *_rate("solved_rate", o.solved_rate, o.conversations),
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


def _outcomes(fig: Figures, add: Add) -> None:
    """Outcomes (独立解决率: solved_rate), overall and by channel."""
    o = fig.outcomes
    for metric, val in _outcome_counts(o.overall):
        add("outcomes", "", "", metric, val)
    for outcome, n in o.overall.by_outcome.items():
        add("outcomes", "outcome", outcome, "conversations", n)
    for ch, counts in o.by_channel.items():
        for metric, val in _outcome_counts(counts):
            add("outcomes", "channel", ch, metric, val)
        for outcome, n in counts.by_outcome.items():
            add("outcomes", f"outcome@{ch}", outcome, "conversations", n)


def _handled(fig: Figures, add: Add) -> None:
    """Containment (not handed to a person: 转人工率's complement), handoffs and tickets."""
    c, t = fig.containment, fig.tickets
    for metric, val in [("conversations", c.conversations), ("contained", c.contained), ("escalated", c.escalated),
                        *_rate("rate", c.rate, c.conversations),
                        *_rate("escalated_rate", c.escalated_rate, c.conversations)]:  # fmt: skip
        add("containment", "", "", metric, val)
    for ch, row in c.by_channel.items():
        for metric, val in [("conversations", row.conversations), ("contained", row.contained),
                            *_rate("containment", row.containment, row.conversations)]:  # fmt: skip
            add("containment", "channel", ch, metric, val)
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
    for metric, val in [
        ("offered", s.offered),
        ("rated", s.rated),
        *_rate("participation", s.participation, s.offered),
    ]:
        add("satisfaction", "", "", metric, val)
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
    for metric, val in [
        ("bot_messages", g.bot_messages),
        ("blocked", g.blocked),
        *_rate("rate", g.rate, g.bot_messages),
    ]:
        add("guard", "", "", metric, val)
    for r in g.by_reason:
        add("guard", "reason", r.key, "blocked", r.count)
    u = fig.unanswered
    add("unanswered", "", "", "total", u.total)
    for metric, val in _rate("share_of_messages", u.share_of_messages, u.handled):
        add("unanswered", "", "", metric, val)
    for i, grp in enumerate(u.groups, 1):
        add("unanswered", "group", i, "count", grp.count)
        add("unanswered", "group", i, "keywords", " ".join(grp.keywords))
        add("unanswered", "group", i, "example", grp.example)


def _not_understood(fig: Figures, add: Add) -> None:
    """The conversations that ended not understood: the ops team's work list (masked)."""
    nu = fig.outcomes.not_understood
    add("not_understood", "", "", "conversations", nu.conversations)
    for ending, n in nu.by_ending.items():
        add("not_understood", "ending", ending, "conversations", n)
    for i, grp in enumerate(nu.groups, 1):
        add("not_understood", "group", i, "count", grp.count)
        add("not_understood", "group", i, "keywords", " ".join(grp.keywords))
        add("not_understood", "group", i, "example", grp.example)


def csv_rows(fig: Figures) -> list[list[Any]]:
    """Every figure as (section, dimension, key, metric, value), the header first."""
    rows: list[list[Any]] = [list(HEADER)]

    def add(section: str, dimension: str, key: Any, metric: str, value: Any) -> None:
        rows.append([section, dimension, "" if key is None else key, metric, "" if value is None else value])

    for part in (_volume, _outcomes, _handled, _timing, _satisfaction, _safety, _not_understood):
        part(fig, add)
    return rows


def to_csv(fig: Figures) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(csv_rows(fig))
    return buf.getvalue()
