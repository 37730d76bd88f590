"""Long texts in parts of at most 2048 bytes, cut where a reader pauses, never inside a character."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stack.standins.wechat import WeChatStandIn
from tests.channels.wechat.support import new_openid


async def test_a_5000_character_answer_arrives_as_well_formed_parts(
    wechat_env: pytest.MonkeyPatch, standin: WeChatStandIn
) -> None:
    from channels.senders import get_sender

    paragraphs = [
        "第{}段：{}".format(i, "市民您好，关于您反映的情况，我们已转交相关部门办理。" * 6) for i in range(1, 40)
    ]
    text = "\n".join(paragraphs)[:5000]
    assert len(text) == 5000
    openid = new_openid()
    await get_sender("wechat").send_agent_text(openid, text, agent="agent1", ticket_id="20261126-000001")
    parts = standin.sent_to(openid)
    assert len(parts) >= 8  # about 15,000 bytes
    found = [re.match(r"^（(\d+)/(\d+)）(.*)$", p, re.DOTALL) for p in parts]
    assert all(found), parts
    numbered = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in found if m]
    assert [(i, n) for i, n, _ in numbered] == [(i, len(parts)) for i in range(1, len(parts) + 1)]
    assert all(len(p.encode("utf-8")) <= 2048 for p in parts)
    bodies = [b for _, _, b in numbered]
    assert "".join(bodies) == text  # nothing lost, nothing cut inside a character
    assert all(b.endswith(("\n", "。", "，")) for b in bodies[:-1])  # cut where a reader pauses


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000))
@settings(max_examples=150, deadline=None)
def test_split_never_breaks_a_character_or_exceeds_the_limit(text: str) -> None:
    from channels.wechat.text import split_text

    limit = 300
    parts = split_text(text, limit)
    if len(text.encode()) <= limit:
        assert parts == [text]
        return
    body = [re.sub(r"^（\d+/\d+）", "", p, count=1) for p in parts]
    assert "".join(body) == text
    assert all(len(p.encode("utf-8")) <= limit for p in parts)
    assert all(b for b in body)
