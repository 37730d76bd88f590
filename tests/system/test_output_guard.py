"""The output guard on the real stack: an action that emits an unapproved text.

No production action composes text, so the test loads one that does into the real action
server: the stack's action server is restarted with ACTIONS_EXTRA_MODULE pointing at
tests/support/unapproved_actions.py, which replaces `action_feedback` (what a tap on 没帮助 runs)
with an action that sends the auto-reply of the public incident and then an approved response.
Everything else is the product: Rasa's rule, the remote action call, the REST channel's output,
the guard, the audit trail in SQL. The citizen must get the safe fallback instead, and
supervisors must find the blocked text (masked) in the audit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bot.core import catalogue, guard
from bot.stack.processes import Stack, wait_http
from tests.support.unapproved_actions import UNAPPROVED

pytestmark = pytest.mark.stack


@pytest.fixture()
def unapproved_actions(stack: Stack) -> Iterator[Stack]:
    """The stack's action server with the test-only actions, restored afterwards."""
    url = f"http://127.0.0.1:{stack.action_port}/health"
    stack.stop_process("actions")
    stack.start_process("actions", extra_env={"ACTIONS_EXTRA_MODULE": "tests.support.unapproved_actions"})
    try:
        wait_http(url, proc=stack.procs["actions"])
        yield stack
    finally:
        stack.stop_process("actions")
        stack.start_process("actions")
        wait_http(url, proc=stack.procs["actions"])


def test_an_unapproved_text_from_an_action_never_reaches_the_citizen(
    unapproved_actions: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = unapproved_actions
    cat = catalogue.load()
    sender = f"guard-{uuid.uuid4().hex[:8]}"

    texts = stack.rest_texts(sender, '/feedback{"helpful": "no"}')

    # the citizen: the safe fallback in place of the incident text, then the approved answer
    assert texts == [cat.text(guard.SAFE_FALLBACK), cat.text("utter_feedback_thanks")]
    assert "test actions loaded from tests.support.unapproved_actions" in stack.log_text("actions")

    # supervisors: the blocked text, masked, with the reason; and what was sent instead
    monkeypatch.setenv("DATABASE_URL", stack.env["DATABASE_URL"])
    rows = list(reversed(guard.audit(sender_id=sender)))  # oldest first
    assert [(r["blocked"], r["response"]) for r in rows] == [
        (True, None),
        (False, guard.SAFE_FALLBACK),
        (False, "utter_feedback_thanks"),
    ]
    blocked = rows[0]
    assert blocked["text"] == UNAPPROVED.replace("13812345678", "138****5678")
    assert blocked["blocked_reason"] == "not an approved response"
    assert blocked["channel"] == "rest"
    assert all(r["model_version"] and r["model_version"].endswith(".tar.gz") for r in rows)
    assert [r["sender_id"] for r in guard.audit(blocked=True) if r["sender_id"] == sender] == [sender]

    # and the event is in the Rasa server's log for operators, without the personal data
    log = stack.log_text("rasa")
    assert f"blocked an unapproved reply to {sender}" in log
    assert "13812345678" not in stack.all_logs()
