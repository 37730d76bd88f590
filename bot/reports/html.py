"""The report page: templates/report.html (Jinja2, autoescaped) filled with the figures and charts.

Standalone by default (the style sheet inline, the charts as data: URIs: the file can be mailed);
the desk passes `css_href` instead, since its Content-Security-Policy allows no inline style.
Every value is escaped by the template: a citizen's comment is text, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from bot.core import city, topics
from bot.core.vocabulary import CHANNEL_LABELS, PRIORITY_LABELS, STATUS_LABELS, Priority
from bot.reports.charts import Charts, Segment
from bot.reports.definitions import DEFINITIONS
from bot.reports.figures import SLA_LABELS, Figures, SlaState, SlaSummary, topic_title
from bot.reports.outcomes import ENDING_LABELS, OUTCOME_LABELS, SOLVED, Outcome
from bot.reports.rates import Rate, pct, rate

TEMPLATES = Path(__file__).parent / "templates"
CSS = (TEMPLATES / "report.css").read_text(encoding="utf-8")


def dur(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    if minutes < 1:
        return f"{round(minutes * 60)}秒"
    if minutes < 120:
        return f"{minutes:.1f}分钟"
    return f"{minutes / 60:.1f}小时"


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_blank_none,
    )
    env.filters["pct"] = pct
    env.filters["rate"] = rate
    env.filters["dur"] = dur
    return env


@dataclass(frozen=True)
class Chart:
    src: str  # a data: URI
    alt: str


@dataclass(frozen=True)
class Kpi:
    value: object  # a count, or a rate's percentage or 样本不足
    name: str
    n: int | None = None  # a rate's n


def _kpi_rate(value: float | None, n: int, name: str) -> Kpi:
    return Kpi(Rate(value, n).short, name, n)


def _kpis(fig: Figures) -> list[Kpi]:
    o, s = fig.outcomes.overall, fig.satisfaction
    return [
        Kpi(fig.volume.conversations, "会话"),
        Kpi(fig.volume.citizen_messages, "市民消息"),
        _kpi_rate(o.solved_rate, o.conversations, "机器人独立解决率"),
        Kpi(o.by_outcome[Outcome.NOT_UNDERSTOOD], "未能理解的会话"),
        Kpi(fig.handoffs.total, "转人工"),
        Kpi(fig.tickets.total, "工单"),
        _kpi_rate(fig.sla.overall.kept_rate, fig.sla.overall.n, "SLA 按时率"),
        _kpi_rate(s.participation, s.offered, "参评率"),
        _kpi_rate(s.tickets.satisfaction, s.tickets.rated, "工单满意率"),
        _kpi_rate(s.answers.helpful, s.answers.rated, "回答有帮助率"),
        Kpi(fig.crises.escalated, "危机转介工单"),
        Kpi(fig.blocked_replies.blocked, "拦截回复"),
        Kpi(fig.unanswered.total, "未能回答"),
    ]


def _sla_rows(fig: Figures) -> list[tuple[str, SlaSummary]]:
    """Overall, by type, then by priority: the rows that have tickets."""
    sla = fig.sla
    rows = [("全部", sla.overall)]
    rows += [
        (label, sla.by_type[k]) for k, label in (("handoff", "转人工"), ("report", "机器人登记")) if k in sla.by_type
    ]
    rows += [(PRIORITY_LABELS[p], sla.by_priority[p]) for p in Priority if p in sla.by_priority]
    return rows


def _charts(fig: Figures, ch: Charts, cat: topics.Catalogue) -> Mapping[str, Chart | None]:
    v, t, reasons = fig.volume, fig.tickets, fig.handoffs.reasons
    names = {k: ch.label(CHANNEL_LABELS.get(k, k), k) for k in v.conversations_by_channel}
    states = [
        Segment(state, ch.label(SLA_LABELS[state], state.value), color)
        for state, color in ((SlaState.KEPT, "#2e7d32"), (SlaState.MISSED, "#c62828"), (SlaState.PENDING, "#90a4ae"))
    ]
    sla_rows = [
        (ch.label(cat.department_name(d), d), {"kept": r.kept, "missed": r.missed, "pending": r.pending})
        for d, r in sorted(fig.sla.by_department.items())
    ]
    tk, ans = fig.satisfaction.tickets, fig.satisfaction.answers
    ratings = [
        ("满意", "satisfied", tk.by_value["满意"]),
        ("基本满意", "fairly satisfied", tk.by_value["基本满意"]),
        ("不满意", "dissatisfied", tk.by_value["不满意"]),
        ("回答有帮助", "answer helpful", ans.yes),
        ("回答没帮助", "not helpful", ans.no),
    ]
    title = ch.label
    return {
        "hours": Chart(
            ch.stacked_hours(v.conversations_by_hour, names, title("各时段会话数（按渠道）", "Conversations by hour and channel")),
            "各时段会话数",
        ),
        "reasons": Chart(
            ch.hbar([title(r.text, r.reason) for r in reasons], [r.count for r in reasons], title("转人工原因", "Handoff reasons")),
            "转人工原因",
        ) if reasons else None,
        "departments": Chart(
            ch.hbar([title(r.name, r.department) for r in t.by_department], [r.count for r in t.by_department],
                    title("各部门工单", "Tickets by department")),
            "各部门工单",
        ) if t.by_department else None,
        "sla": Chart(
            ch.stacked_states(sla_rows, states, title("各部门办理时限（SLA）", "SLA by department")), "各部门SLA"
        ) if sla_rows else None,
        "ratings": Chart(
            ch.hbar([title(zh, en) for zh, en, _ in ratings], [n for _, _, n in ratings], title("评价分布", "Ratings"),
                    color="#2e7d32"),
            "评价分布",
        ),
    }  # fmt: skip


def render_html(
    fig: Figures,
    *,
    css_href: str | None = None,
    form_action: str | None = None,
    csv_href: str | None = None,
    charts: Charts | None = None,
) -> str:
    """The report page. Standalone (inline CSS) unless `css_href` is given (the desk's CSP)."""
    ch = charts or Charts()
    cat = topics.load()
    v = fig.volume
    return (
        _environment()
        .get_template("report.html")
        .render(
            fig=fig,
            title=f"{city.profile().get('city_name', '')}12345 智能服务监督报告",
            css=Markup(CSS),  # our own style sheet, a file of the package: not to be escaped
            css_href=css_href,
            form_action=form_action,
            csv_href=csv_href,
            kpis=_kpis(fig),
            charts=_charts(fig, ch, cat),
            channels=sorted(set(v.conversations_by_channel) | set(v.messages_by_channel)),
            channel_labels=CHANNEL_LABELS,
            status_labels=STATUS_LABELS,
            priority_labels=PRIORITY_LABELS,
            sla_labels=SLA_LABELS,
            sla_rows=_sla_rows(fig),
            crisis_names={k: topic_title(cat, k) for k in topics.CRISIS_INTENTS},
            definitions=DEFINITIONS,
            outcome_labels=OUTCOME_LABELS,
            ending_labels=ENDING_LABELS,
            solved=SOLVED,
            not_understood=Outcome.NOT_UNDERSTOOD,
            font=ch.font,
        )
    )
