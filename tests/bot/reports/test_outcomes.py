"""Outcomes (bot/reports/outcomes.py): each conversation gets exactly one, and 独立解决率 counts only
the conversations that ended on something the bot served."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core import tickets
from bot.reports.conversations import Conversation, Rating, Reply, Said
from bot.reports.figures import Figures, compute
from bot.reports.outcomes import PRECEDENCE, SOLVED, Ending, Outcome, deflect_intents, judge
from tests.bot.reports.conftest import NOW, T0, audit, feedback, inbound

DEFLECTIONS = deflect_intents()


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _faq(sender: str, minute: float, topic: str, text: str, *, ask: bool = True, channel: str = "rest") -> None:
    """A question the bot answered (the audit holds the answer), asked "有帮助吗？" after it."""
    audit(sender, _at(minute), f"utter_faq/{topic}", channel=channel)
    if ask:
        audit(sender, _at(minute), "utter_ask_helpful", channel=channel)
    inbound(sender, _at(minute), f"faq/{topic}", text=text, channel=channel)  # written after the replies


def _said(sender: str, minute: float, intent: str | None, text: str, *replies: str, channel: str = "rest") -> None:
    for r in replies:
        audit(sender, _at(minute), r, channel=channel)
    inbound(sender, _at(minute), intent, text=text, channel=channel)


def _helpful(sender: str, minute: float, value: str, topic: str) -> None:
    feedback(sender, _at(minute), "helpful", value, topic=f"faq/{topic}")
    _said(sender, minute, "feedback", "有帮助" if value == "yes" else "没帮助",
          "utter_feedback_thanks" if value == "yes" else "utter_feedback_sorry")  # fmt: skip


def _seed_every_outcome() -> None:
    # crisis escalated: a crisis ticket, which is also a handoff
    _said("crisis", 0, "self_harm", "我不想活了", "utter_crisis_self_harm")
    tickets.create(idempotency_key="o-crisis", channel="rest", sender_id="crisis", topic="self_harm", summary="危机",
                   handoff=True, reason="crisis:self_harm", now=_at(0))  # fmt: skip
    # handed to a person, after an answer
    _faq("person", 0, "passport_apply", "护照怎么办")
    _said("person", 1, "request_human", "转人工", "utter_handoff")
    tickets.create(idempotency_key="o-person", channel="rest", sender_id="person", topic="request_human",
                   summary="转人工", handoff=True, reason="request_human", now=_at(1))  # fmt: skip
    # ticket filed: the form's questions were answered, the report filed
    _said("report", 0, "report_noise", "楼上装修太吵", "utter_ask_report_where")
    _said("report", 1, "form_answer", "幸福小区3栋", "utter_report_confirm")
    _said("report", 2, "affirm", "确认", "utter_report_filed")
    tickets.create(idempotency_key="o-report", channel="rest", sender_id="report", topic="report_noise",
                   summary="噪音", reason="report", now=_at(2))  # fmt: skip
    # deflected: out of scope; and an answer, then abuse to end with
    _said("scope", 0, "out_of_scope", "帮我写作业", "utter_out_of_scope", channel="socketio")
    _faq("abuse", 0, "hpf_loan", "公积金贷款")
    _said("abuse", 1, "abuse", "你们都是废物", "utter_abuse")
    # answered and confirmed: 有帮助; and moved on to another matter the bot served
    _faq("yes", 0, "shebao_card_apply", "社保卡怎么办")
    _helpful("yes", 1, "yes", "shebao_card_apply")
    _faq("moved", 0, "shebao_card_apply", "社保卡怎么办", channel="wechat")
    _faq("moved", 1, "passport_apply", "护照怎么办", ask=False, channel="wechat")
    # answered, no reply: said nothing more; or only thanks
    _faq("silent", 0, "id_card_lost", "身份证丢了")
    _faq("thanks", 0, "id_card_lost", "身份证丢了")
    _said("thanks", 1, "thank", "谢谢", "utter_thank")
    # not understood, every way
    _said("fallback", 0, "nlu_fallback", "小区门口能装个快递柜吗", "utter_default")
    _said("rephrase", 0, "nlu_fallback", "快递柜", "utter_default")
    _said("rephrase", 1, "nlu_fallback", "快递柜放哪", "utter_offer_human")
    _said("rephrase", 2, "deny", "我再换个说法", "utter_rephrase_ok")
    _said("which", 0, "nlu_fallback", "公积金那个", "utter_ask_which_topic")
    _faq("unhelpful", 0, "hpf_balance_query", "公积金余额怎么查")
    _helpful("unhelpful", 1, "no", "hpf_balance_query")
    _said("hello", 0, "greet", "你好", "utter_greet", channel="wechat")
    _faq("late", 0, "shebao_card_apply", "社保卡怎么办")
    _said("late", 1, "nlu_fallback", "养犬登记在哪 电话13812345678", "utter_default")
    # the answer was blocked by the guard: the citizen got the safe answer, not the answer
    audit("blocked", _at(0), None, blocked=True, reason="forbidden phrase: 无可奉告")
    _said("blocked", 0, "faq/passport_apply", "护照加急", "utter_safe_fallback")


def _figures(db_url: str) -> Figures:
    return compute(db_url, T0.date(), T0.date(), now=NOW)


def test_each_outcome_is_counted(db_url: str) -> None:
    _seed_every_outcome()
    o = _figures(db_url).outcomes
    assert list(o.overall.by_outcome) == list(PRECEDENCE) == list(Outcome)
    assert o.overall.by_outcome == {
        Outcome.CRISIS_ESCALATED: 1, Outcome.HANDED_TO_PERSON: 1, Outcome.TICKET_FILED: 1, Outcome.DEFLECTED: 2,
        Outcome.ANSWERED_CONFIRMED: 2, Outcome.ANSWERED_NO_REPLY: 2, Outcome.NOT_UNDERSTOOD: 7,
    }  # fmt: skip
    assert (o.overall.conversations, o.overall.solved, o.overall.solved_rate) == (16, 4, 0.25)
    assert {ch: (c.conversations, c.solved) for ch, c in o.by_channel.items()} == {
        "rest": (13, 3), "socketio": (1, 0), "wechat": (2, 1)
    }  # fmt: skip
    assert o.by_channel["wechat"].by_outcome[Outcome.NOT_UNDERSTOOD] == 1  # the greeting alone
    nu = o.not_understood
    assert nu.conversations == 7
    assert nu.by_ending == {Ending.FALLBACK: 3, Ending.REPHRASE: 1, Ending.CHECK: 1, Ending.NOT_HELPFUL: 1,
                            Ending.NO_ANSWER: 1}  # fmt: skip
    # what the citizens had asked, not the buttons they pressed last ("我再换个说法", "没帮助")
    asked = {v for g in nu.groups for v in g.variants}
    assert asked == {"小区门口能装个快递柜吗", "快递柜放哪", "公积金那个", "公积金余额怎么查", "你好",
                     "养犬登记在哪 电话138****5678", "护照加急"}  # fmt: skip
    assert sum(g.count for g in nu.groups) == 7


def test_the_counts_are_in_the_csv_and_on_the_page(db_url: str) -> None:
    from bot.reports.csv import csv_rows
    from bot.reports.html import render_html

    _seed_every_outcome()
    fig = _figures(db_url)
    rows = csv_rows(fig)
    for row in (
        ["outcomes", "", "", "conversations", 16],
        ["outcomes", "", "", "solved", 4],
        ["outcomes", "", "", "solved_rate", "样本不足"],
        ["outcomes", "", "", "solved_rate_n", 16],
        ["outcomes", "outcome", Outcome.NOT_UNDERSTOOD, "conversations", 7],
        ["outcomes", "outcome@wechat", Outcome.ANSWERED_CONFIRMED, "conversations", 1],
        ["not_understood", "ending", Ending.REPHRASE, "conversations", 1],
    ):
        assert row in rows, row
    examples = [r[4] for r in rows if r[0] == "not_understood" and r[3] == "example"]
    assert "养犬登记在哪 电话138****5678" in examples and not any("13812345678" in e for e in examples)
    page = render_html(fig).replace("\n", "")
    assert '<td><a href="#not-understood">未能理解</a></td><td class="n">7</td>' in page
    assert '<td>解答并获确认（计入独立解决）</td><td class="n">2</td>' in page
    assert '<section id="not-understood">' in page and "13812345678" not in page


# ------------------------------------------------------------ a fallback at the end is never solved
def _conversation(*turns: tuple[str | None, tuple[str, ...], tuple[str, ...]]) -> Conversation:
    """Turns of (intent, the bot's replies, the citizen's helpful ratings), a minute apart."""
    c = Conversation("x", "rest", T0, T0)
    for i, (intent, replies, ratings) in enumerate(turns):
        at = _at(i)
        c.replies.extend(Reply(at - timedelta(seconds=1), r) for r in replies)
        c.ratings.extend(Rating(at - timedelta(seconds=1), "helpful", v) for v in ratings)
        c.said.append(Said(at, intent, f"第{i}句", True))
    return c


ANSWERED = ("faq/passport_apply", ("utter_faq/passport_apply", "utter_ask_helpful"), ())
OTHER_ANSWER = ("faq/id_card_lost", ("utter_faq/id_card_lost",), ())
HELPFUL = ("feedback", ("utter_feedback_thanks",), ("yes",))
THANKS = ("thank", ("utter_thank",), ())
FALLBACK = ("nlu_fallback", ("utter_default",), ())
TURNS = st.sampled_from([ANSWERED, OTHER_ANSWER, HELPFUL, THANKS, FALLBACK])


def test_a_conversation_ending_in_a_fallback_is_not_solved(db_url: str) -> None:
    # answered, confirmed with 有帮助, then a question the bot did not understand, and the citizen left
    _faq("f", 0, "shebao_card_apply", "社保卡怎么办")
    _helpful("f", 1, "yes", "shebao_card_apply")
    _said("f", 2, "nlu_fallback", "那社保卡能邮寄吗", "utter_default")
    o = _figures(db_url).outcomes.overall
    assert (o.conversations, o.solved, o.by_outcome[Outcome.NOT_UNDERSTOOD]) == (1, 0, 1)


def test_its_twin_ending_with_an_answer_is_solved(db_url: str) -> None:
    # the same conversation, but the last question answered
    _faq("f", 0, "shebao_card_apply", "社保卡怎么办")
    _helpful("f", 1, "yes", "shebao_card_apply")
    _faq("f", 2, "shebao_card_replace", "那社保卡丢了怎么补", ask=False)
    o = _figures(db_url).outcomes.overall
    assert (o.conversations, o.solved, o.by_outcome[Outcome.ANSWERED_CONFIRMED]) == (1, 1, 1)


@given(st.lists(TURNS, max_size=6))
def test_whatever_came_before_a_fallback_at_the_end_is_not_solved(before: list) -> None:
    verdict = judge(_conversation(*before, FALLBACK), DEFLECTIONS)
    assert verdict.outcome is Outcome.NOT_UNDERSTOOD and verdict.outcome not in SOLVED
    assert verdict.ending is Ending.FALLBACK and verdict.question == f"第{len(before)}句"


@given(st.lists(TURNS, max_size=6), st.sampled_from([(), (THANKS,), (HELPFUL,)]))
def test_and_ending_on_an_answer_instead_is_solved(before: list, after: tuple) -> None:
    assert judge(_conversation(*before, ANSWERED, *after), DEFLECTIONS).outcome in SOLVED


def test_precedence_when_several_hold() -> None:
    c = _conversation(ANSWERED, HELPFUL)
    assert judge(c, DEFLECTIONS).outcome is Outcome.ANSWERED_CONFIRMED
    c.filed = True
    assert judge(c, DEFLECTIONS).outcome is Outcome.TICKET_FILED
    c.handoff = True
    assert judge(c, DEFLECTIONS).outcome is Outcome.HANDED_TO_PERSON
    c.crisis = True
    assert judge(c, DEFLECTIONS).outcome is Outcome.CRISIS_ESCALATED
    # deflected before answered: a confirmed answer, then a deflection to end with
    deflected = _conversation(ANSWERED, HELPFUL, ("out_of_scope", ("utter_out_of_scope",), ()))
    assert judge(deflected, DEFLECTIONS).outcome is Outcome.DEFLECTED


def test_an_answer_counts_only_when_the_audit_shows_it_was_sent() -> None:
    understood_but_not_sent = _conversation(("faq/passport_apply", (), ()))
    verdict = judge(understood_but_not_sent, DEFLECTIONS)
    assert (verdict.outcome, verdict.ending) == (Outcome.NOT_UNDERSTOOD, Ending.NO_ANSWER)
    # the same answer twice is not "another matter"; 没帮助 takes an answer back
    assert judge(_conversation(ANSWERED, ANSWERED), DEFLECTIONS).outcome is Outcome.ANSWERED_NO_REPLY
    unhelpful = ("feedback", ("utter_feedback_sorry",), ("no",))
    assert judge(_conversation(OTHER_ANSWER, ANSWERED, unhelpful, ANSWERED), DEFLECTIONS).outcome is (
        Outcome.ANSWERED_CONFIRMED  # moved on from the first, and the rephrased question was answered
    )
    assert judge(_conversation(ANSWERED, unhelpful), DEFLECTIONS).ending is Ending.NOT_HELPFUL
