"""The words on a ticket: its one-line summary for the agent, why it went to a person, and the
one line a citizen is told about its progress.

A summary is what an agent reads in two seconds in the queue: what the ticket is about (the
topic's title) and, quoted, the citizen's own words, on one line of at most SUMMARY_CHARS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core import topics
from bot.core.tickets.timefmt import iso
from bot.core.vocabulary import Status

if TYPE_CHECKING:
    from bot.core.tickets.model import Ticket

SUMMARY_CHARS = 48
REPORT_WORDS = 40  # of the citizen's story in a report's summary; the description keeps it whole
CRISIS_HEAD = "【危机】"
ESCALATED_HEAD = "【危机升级】"  # a crisis during a handoff: the agent must see it at a glance
CALLBACK_HEAD = "回访｜"
# why a ticket was filed or went to a person (tickets.reason; a crisis is "crisis:<intent>")
REQUEST_HUMAN = "request_human"
FALLBACK_OFFER = "fallback_offer"
REPORT_DISCUSSION = "report_discussion"
CALLBACK = "after_hours_callback"
REPORT = "report"
PHONE_CALLBACK = "phone_callback"
REPEATED_ABUSE = "repeated_abuse"
# ... in the words of the desk and the reports
REASONS = {
    REQUEST_HUMAN: "市民要求人工",
    FALLBACK_OFFER: "两次未能理解，市民同意转人工",
    REPORT_DISCUSSION: "市民希望就所报事项与工作人员沟通",
    CALLBACK: "非人工服务时间，待回访",
    REPORT: "事项登记",
    PHONE_CALLBACK: "渠道无法送达，改为电话回访",
    REPEATED_ABUSE: "市民多次情绪激动，转人工安抚",
}
# the head of a handoff ticket's summary by reason; any other reason: the citizen asked
HANDOFF_HEADS = {
    FALLBACK_OFFER: "未能理解，转人工",
    REPORT_DISCUSSION: "登记中转人工",
    REPEATED_ABUSE: "情绪激动，转人工",
}
HANDOFF_HEAD = "要求人工"


def crisis_reason(intent: str) -> str:
    return f"crisis:{intent}"


def reason_text(reason: str | None) -> str | None:
    if not reason:
        return None
    if reason.startswith("crisis:"):
        t = topics.load().get(reason.split(":", 1)[1])
        return f"危机：{t.title}" if t else "危机"
    return REASONS.get(reason, reason)


def one_line(head: str, words: str = "", limit: int = SUMMARY_CHARS) -> str:
    """`head：“the citizen's words”` on one line, cut to what an agent reads in two seconds."""
    words = " ".join((words or "").split())
    if not words:
        return head[:limit]
    room = limit - len(head) - 3
    if room < 6:
        return head[:limit]
    quoted = words if len(words) <= room else words[: room - 1] + "…"
    return f"{head}：“{quoted}”"


def handoff_summary(reason: str, topic_title: str | None, words: str, *, in_hours: bool) -> str:
    """A request for a person: why, about what (when known), in the citizen's words; a call-back
    filed outside service hours says so first."""
    head = HANDOFF_HEADS.get(reason, HANDOFF_HEAD)
    if topic_title:
        head = f"{head}｜{topic_title}"
    elif not words:
        head = f"{head}（尚未说明事由）"
    if not in_hours:
        head = CALLBACK_HEAD + head
    return one_line(head, words)


def crisis_summary(topic_title: str, words: str) -> str:
    return one_line(CRISIS_HEAD + topic_title, words)


def escalated_summary(summary: str) -> str:
    """The summary of a ticket a crisis raised to P0 (once: a crisis ticket already says so)."""
    return summary if summary.startswith("【危机") else ESCALATED_HEAD + summary


def report_summary(topic_title: str, what: str) -> str:
    return f"{topic_title}：{what[:REPORT_WORDS]}"


def report_description(what: str, when: str | None, id_number: str | None) -> str:
    """The citizen's story with its time, and the ID number where the department needs it."""
    description = f"{what}（时间：{when}）" if when else what
    if id_number:
        description += f"\n身份证号：{id_number}"
    return description


def status_text(ticket: Ticket) -> str:
    """One line for the citizen (check_ticket_status)."""
    dept = ticket.department_name or ticket.department
    if ticket.status is Status.CLOSED:
        return f"已办结（{dept}），处理结果：{ticket.resolution or '已答复'}"
    if ticket.status is Status.CLAIMED:
        return f"正在办理中，已由{dept}工作人员受理"
    due = (iso(ticket.sla_due_at) or "")[:16].replace("T", " ")
    return f"已登记，等待{dept}受理，预计 {due} 前答复"
