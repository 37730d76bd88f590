"""What became of each conversation (会话结果): exactly one outcome each, defined here only.

`judge()` gives a conversation its outcome: the first of these that holds, in this order
(PRECEDENCE; 口径说明 prints the same in Chinese):

    crisis escalated     a crisis message, or a crisis ticket filed or escalated in it
    handed to a person   a handoff ticket (after-hours call-backs included), or a message that
                         went to an agent
    ticket filed         the bot filed a ticket by itself (a report)
    deflected            it ended on a deflection (out of scope, a private matter, ...)
    answered, confirmed  it ended on something the bot served (an FAQ answer, a ticket's status,
                         a rating or comment recorded; thanks and goodbyes after it aside), and
                         the citizen said 有帮助 to an answer, or moved on to another matter that
                         the bot then served too
    answered, no reply   it ended on something the bot served and the citizen said nothing more
                         (or only thanks or goodbye)
    not understood       anything else: it ended on a fallback, a request to rephrase, a question
                         of the bot's left open, an answer rated 没帮助, or nothing was answered

独立解决率 counts the two "answered" outcomes only (SOLVED), and both need the conversation to end
on something served: one that ended on a fallback is never solved, whatever came before it. An
answer is counted only where the audit trail shows the bot sent it; an intent alone never makes
one.

How the records are read: each citizen message the bot handled is a turn; the bot's replies and
the citizen's ratings belong to the first turn recorded at or after them (a turn's inbound record
is written after its replies), those after the last turn to the last. A turn is what its last
telling reply says (Step), or, without one, what its intent says (not understood, deflected).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.core import topics
from bot.reports.conversations import FALLBACK_INTENT, Conversation, Rating, Reply, Said
from bot.reports.questions import QuestionGroup, group_questions
from bot.reports.rates import ratio


class Outcome(str, Enum):
    """In the order of precedence: a conversation has the first that holds."""

    CRISIS_ESCALATED = "crisis_escalated"
    HANDED_TO_PERSON = "handed_to_person"
    TICKET_FILED = "ticket_filed"
    DEFLECTED = "deflected"
    ANSWERED_CONFIRMED = "answered_confirmed"
    ANSWERED_NO_REPLY = "answered_no_reply"
    NOT_UNDERSTOOD = "not_understood"

    def __str__(self) -> str:
        return self.value


PRECEDENCE: tuple[Outcome, ...] = tuple(Outcome)
SOLVED: frozenset[Outcome] = frozenset({Outcome.ANSWERED_CONFIRMED, Outcome.ANSWERED_NO_REPLY})
OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.CRISIS_ESCALATED: "危机转介",
    Outcome.HANDED_TO_PERSON: "转人工",
    Outcome.TICKET_FILED: "登记工单",
    Outcome.DEFLECTED: "劝导分流",
    Outcome.ANSWERED_CONFIRMED: "解答并获确认",
    Outcome.ANSWERED_NO_REPLY: "解答后未再回复",
    Outcome.NOT_UNDERSTOOD: "未能理解",
}


class Ending(str, Enum):
    """How a conversation that was not understood ended."""

    FALLBACK = "fallback"
    REPHRASE = "rephrase"
    CHECK = "check"
    NOT_HELPFUL = "not_helpful"
    NO_ANSWER = "no_answer"

    def __str__(self) -> str:
        return self.value


ENDING_LABELS: dict[Ending, str] = {
    Ending.FALLBACK: "没能理解或无法答复（兜底答复）",
    Ending.REPHRASE: "请市民换个说法",
    Ending.CHECK: "机器人的追问未获回应",
    Ending.NOT_HELPFUL: "回答被评“没帮助”",
    Ending.NO_ANSWER: "机器人未作任何解答",
}


class Step(str, Enum):
    """What one turn, or one rating, did for the citizen."""

    SERVED = "served"
    DEFLECTED = "deflected"
    FALLBACK = "fallback"
    REPHRASE = "rephrase"
    CHECK = "check"
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"


# the bot's replies that tell what a turn did; any other (greetings, thanks, "有帮助吗？", the
# handoff and crisis scripts, whose tickets decide instead) leaves the ending as it was
SERVED_PREFIXES = ("utter_faq/",)
SERVED_REPLIES = frozenset({"utter_ticket_status"})
FALLBACK_REPLIES = frozenset(
    {"utter_default", "utter_safe_fallback", "utter_service_busy", "utter_voice_not_recognized",
     "utter_empty_message", "utter_unsupported_media"}
)  # fmt: skip
REPHRASE_REPLIES = frozenset(
    {"utter_rephrase_ok", "utter_feedback_sorry", "utter_ticket_not_found", "utter_message_truncated"}
)
CHECK_PREFIXES = ("utter_ask_report_",)  # the report form's questions
CHECK_REPLIES = frozenset(
    {"utter_ask_which_topic", "utter_offer_human", "utter_ask_ticket_id", "utter_invalid_phone",
     "utter_invalid_id_number", "utter_report_confirm", "utter_report_which_fix"}
)  # fmt: skip
# answers to the bot's own questions, not what the citizen came to ask: the ops list names the
# question before them
REPLY_INTENTS = frozenset(
    {"affirm", "deny", "feedback", "skip", "stop", "inform", "rate_service", "rating_comment", "form_answer",
     "report_fix"}
)  # fmt: skip


def deflect_intents(catalogue: topics.Catalogue | None = None) -> frozenset[str]:
    """The intents answered with a deflection (topics.yml, section deflect)."""
    return frozenset(t.intent for t in (catalogue or topics.load()).of_kind("deflect"))


def _reply_step(response: str, deflections: frozenset[str]) -> Step | None:
    if response.startswith(SERVED_PREFIXES) or response in SERVED_REPLIES:
        return Step.SERVED
    if response in FALLBACK_REPLIES:
        return Step.FALLBACK
    if response in REPHRASE_REPLIES:
        return Step.REPHRASE
    if response.startswith(CHECK_PREFIXES) or response in CHECK_REPLIES:
        return Step.CHECK
    # each deflection has its one approved reply, utter_<intent> (data/rules/deflect.yml)
    if response.startswith("utter_") and response[len("utter_") :] in deflections:
        return Step.DEFLECTED
    return None


# ------------------------------------------------------------------------------- turns and steps
@dataclass(frozen=True)
class _Turn:
    said: Said
    replies: tuple[Reply, ...]
    ratings: tuple[Rating, ...]


@dataclass(frozen=True)
class _Move:
    step: Step
    key: str  # what was served (a response's name, or rating:<kind>): "another matter" differs
    turn: int


def _turns(c: Conversation) -> list[_Turn]:
    said = [s for s in c.said if s.by_bot]
    if not said:
        return []
    times = [s.at for s in said]

    def owner(at: datetime) -> int:
        return min(bisect_left(times, at), len(times) - 1)

    replies: list[list[Reply]] = [[] for _ in said]
    ratings: list[list[Rating]] = [[] for _ in said]
    for r in c.replies:
        replies[owner(r.at)].append(r)
    for f in c.ratings:
        ratings[owner(f.at)].append(f)
    return [_Turn(s, tuple(r), tuple(f)) for s, r, f in zip(said, replies, ratings, strict=True)]


def _turn_moves(i: int, turn: _Turn, deflections: frozenset[str]) -> Iterable[_Move]:
    told = [(step, r.response) for r in turn.replies if (step := _reply_step(r.response, deflections))]
    if told:
        yield _Move(told[-1][0], told[-1][1], i)
    elif turn.said.intent == FALLBACK_INTENT:
        yield _Move(Step.FALLBACK, "", i)
    elif turn.said.intent in deflections:
        yield _Move(Step.DEFLECTED, "", i)
    for f in turn.ratings:  # the rating row is the proof it was recorded, audited reply or not
        if f.kind == "helpful":
            yield _Move(Step.HELPFUL if f.value == "yes" else Step.NOT_HELPFUL, "", i)
        elif f.kind in ("ticket", "comment"):
            yield _Move(Step.SERVED, f"rating:{f.kind}", i)


def _confirmed(moves: list[_Move]) -> tuple[bool, _Move | None]:
    """(有帮助 or moved on to another served matter, the answer rated 没帮助 last if any)."""
    served: list[_Move] = []  # not rated 没帮助
    rejected: _Move | None = None
    helpful = False
    for m in moves:
        if m.step is Step.SERVED:
            served.append(m)
        elif m.step is Step.HELPFUL and served:
            helpful = True
        elif m.step is Step.NOT_HELPFUL and served:
            rejected = served.pop()
    return helpful or len({m.key for m in served}) >= 2, rejected


# ------------------------------------------------------------------------------------- judge
@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    ending: Ending | None = None  # for not understood only
    question: str = ""  # not understood: what the citizen had asked (masked when stored), for the ops list


def judge(c: Conversation, deflections: frozenset[str]) -> Verdict:
    """The one outcome of a conversation (the module's docstring says how)."""
    if c.crisis:
        return Verdict(Outcome.CRISIS_ESCALATED)
    if c.escalated:
        return Verdict(Outcome.HANDED_TO_PERSON)
    if c.filed:
        return Verdict(Outcome.TICKET_FILED)
    turns = _turns(c)
    moves = [m for i, t in enumerate(turns) for m in _turn_moves(i, t, deflections)]
    last = moves[-1] if moves else None
    if last is not None and last.step is Step.DEFLECTED:
        return Verdict(Outcome.DEFLECTED)
    confirmed, rejected = _confirmed(moves)
    ended_served = last is not None and last.step in (Step.SERVED, Step.HELPFUL)
    if ended_served and confirmed:
        return Verdict(Outcome.ANSWERED_CONFIRMED)
    if last is not None and last.step is Step.SERVED:
        return Verdict(Outcome.ANSWERED_NO_REPLY)
    if last is None or last.step is Step.HELPFUL:  # 有帮助 with no answer before it: none given
        text = turns[-1].said.text if turns else (c.said[-1].text if c.said else "")
        return Verdict(Outcome.NOT_UNDERSTOOD, Ending.NO_ANSWER, text)
    if last.step is Step.NOT_HELPFUL and rejected is not None:
        return Verdict(Outcome.NOT_UNDERSTOOD, Ending.NOT_HELPFUL, _question(turns, rejected.turn))
    return Verdict(Outcome.NOT_UNDERSTOOD, Ending(last.step.value), _question(turns, last.turn))


def _question(turns: list[_Turn], upto: int) -> str:
    """What the citizen had asked by that turn: the latest message that was not a reply to the
    bot's own question (a button, 跳过, an address given to the form)."""
    for t in reversed(turns[: upto + 1]):
        if t.said.intent not in REPLY_INTENTS:
            return t.said.text
    return turns[upto].said.text


# ------------------------------------------------------------------------------------ counted
@dataclass(frozen=True)
class OutcomeCounts:
    conversations: int
    by_outcome: Mapping[Outcome, int]  # every outcome, in the order of precedence
    solved: int  # answered, confirmed + answered, no reply
    solved_rate: float | None  # 机器人独立解决率 (n: conversations)


@dataclass(frozen=True)
class NotUnderstood:
    """The conversations that ended not understood, for the ops team: the work list for intake
    and the knowledge base, grouped by what the citizens had asked (masked)."""

    conversations: int
    by_ending: Mapping[Ending, int]  # every ending
    groups: tuple[QuestionGroup, ...]


@dataclass(frozen=True)
class Outcomes:
    overall: OutcomeCounts
    by_channel: Mapping[str, OutcomeCounts]
    not_understood: NotUnderstood


def _counts(outcomes: list[Outcome]) -> OutcomeCounts:
    n = Counter(outcomes)
    solved = sum(n[o] for o in SOLVED)
    return OutcomeCounts(len(outcomes), {o: n[o] for o in PRECEDENCE}, solved, ratio(solved, len(outcomes)))


def count_outcomes(conversations: list[Conversation], deflections: frozenset[str]) -> Outcomes:
    judged = [(c, judge(c, deflections)) for c in conversations]
    channels = sorted({c.channel for c in conversations})
    lost = [v for _, v in judged if v.outcome is Outcome.NOT_UNDERSTOOD]
    endings = Counter(v.ending for v in lost)
    return Outcomes(
        overall=_counts([v.outcome for _, v in judged]),
        by_channel={ch: _counts([v.outcome for c, v in judged if c.channel == ch]) for ch in channels},
        not_understood=NotUnderstood(
            conversations=len(lost),
            by_ending={e: endings[e] for e in Ending},
            groups=tuple(group_questions([v.question for v in lost])),
        ),
    )
