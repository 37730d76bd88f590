"""bot/rasa/patches/model_loading.py: a shipped model loads in a worker thread, not on the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from bot.infra import settings
from bot.rasa.patches import model_loading


@pytest.fixture()
def off_loop_loading(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import rasa.server
    from rasa.core.agent import Agent

    threads: list[int] = []
    original = Agent.load_model

    def load_model(self: Agent, *args: Any, **kwargs: Any) -> None:
        threads.append(threading.get_ident())
        original(self, *args, **kwargs)

    monkeypatch.setattr(Agent, "load_model", load_model)
    monkeypatch.setattr(rasa.server, "_load_agent", rasa.server._load_agent)
    model_loading.install()
    return threads


async def test_a_shipped_model_loads_while_conversations_go_on(off_loop_loading: list[int]) -> None:
    import rasa.server

    models = sorted(settings.ROOT.joinpath("models").glob("*.tar.gz"))
    if not models:
        pytest.skip("no trained model in models/ (make train)")
    ticks = 0

    async def conversations() -> None:  # what the event loop does for citizens meanwhile
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(conversations())
    agent = await rasa.server._load_agent(str(models[-1]))
    ticker.cancel()
    assert off_loop_loading and off_loop_loading[0] != threading.get_ident()  # not on the loop's thread
    assert ticks > 10  # the loop kept running while the model loaded
    parsed = await agent.parse_message("社保卡丢了怎么办")
    assert parsed["intent"]["name"] == "faq"


async def test_a_model_that_cannot_be_loaded_is_refused_as_rasa_refuses_it(
    off_loop_loading: list[int], tmp_path: Any
) -> None:
    import rasa.server
    from rasa.server import ErrorResponse

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a model")
    with pytest.raises(ErrorResponse) as refused:
        await rasa.server._load_agent(str(broken))
    assert refused.value.status in (400, 500)
