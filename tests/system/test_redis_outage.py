"""Redis goes away while the stack runs: a clear error in the logs, a polite approved answer to
the citizen (never a stack trace), and recovery without restarting anything when Redis returns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core import catalogue
from bot.stack.processes import Stack, start_stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Stack]:
    # its own stack: stopping Redis must not disturb the shared one
    s = start_stack(processes=("actions", "rasa"))
    yield s
    s.stop()


def test_redis_outage_is_polite_and_recovers(own_stack: Stack) -> None:
    cat = catalogue.load()
    before = own_stack.rest_texts("outage-1", "社保卡怎么办理")
    assert before and cat.match(before[0]) == "utter_faq/shebao_card_apply"

    own_stack.redis.stop()
    during = own_stack.rest("outage-1", "公积金租房能提取吗")
    texts = [m["text"] for m in during]
    assert texts == [cat.text("utter_service_busy")]
    assert "Traceback" not in texts[0]
    log = own_stack.log_text("rasa")
    assert "Redis is unreachable" in log or "could not handle a message" in log

    own_stack.redis.start()  # same port, same AOF directory: nothing is restarted but Redis
    after = []
    for _ in range(10):  # the client reconnects on its own; allow it a moment
        after = own_stack.rest_texts("outage-1", "社保卡怎么办理")
        if after and cat.match(after[0]) == "utter_faq/shebao_card_apply":
            break
    assert after and cat.match(after[0]) == "utter_faq/shebao_card_apply"
