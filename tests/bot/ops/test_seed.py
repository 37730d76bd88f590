"""The demo seed (bot/ops/seed.py) plays conversations through the real stack, on both chat channels,
and leaves a report behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.infra import db
from bot.ops import seed
from bot.reports.figures import compute
from bot.stack.processes import Stack


def test_the_day_has_every_kind_of_conversation() -> None:
    import random

    plan = seed.day_plan(random.Random(1))
    kinds = [k for k, _ in plan]
    assert 55 <= len(plan) <= 65
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "faq": 26, "report": 8, "deflect": 6, "crisis": 2, "handoff": 7, "unanswered": 7, "status": 3
    }  # fmt: skip


def test_replies_are_recognised_as_approved_responses() -> None:
    r = seed.parse_reply(
        {"text": "以上解答对您有帮助吗？", "buttons": [{"title": "有帮助", "payload": '/feedback{"helpful": "yes"}'}]}
    )
    assert (r.response, r.buttons[0]["title"]) == ("utter_ask_helpful", "有帮助")
    agent = seed.parse_reply({"text": "您好，我是工作人员。", "from": "agent", "agent": "王芳"})
    assert (agent.response, agent.agent) == (None, "王芳")


@pytest.mark.stack
def test_a_short_day_through_the_stack(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = stack.env["DATABASE_URL"]
    start = db.utcnow()
    code = seed.main(
        ["--rasa", stack.rasa_url, "--desk", stack.desk_url, "--token", stack.env["DESK_API_TOKEN"], "--limit", "6",
         "--parallel", "3", "--webchat-share", "0.5", "--seed", "7", "--database-url", url, "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    fig = compute(url, start, db.utcnow())
    # one conversation per citizen, whatever the bot made of them, on both channels
    assert fig.volume.conversations == 6, out
    assert set(fig.volume.conversations_by_channel) == {"rest", "socketio"}, out
    assert "report: " in out and len(list(tmp_path.glob("report-*.html"))) == 1
    # each conversation has exactly one outcome, and the page shows them beside 独立解决率
    assert sum(fig.outcomes.overall.by_outcome.values()) == 6, fig.outcomes
    page = next(tmp_path.glob("report-*.html")).read_text(encoding="utf-8")
    assert "机器人独立解决率" in page and '<section id="not-understood">' in page
