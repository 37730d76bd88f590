"""bot/rasa/patches/graph_runner.py: the model's graph without dask gives what dask gave."""

from __future__ import annotations

from typing import Any

import pytest

from bot.infra import settings
from bot.rasa.patches import graph_runner


def _heldout(n: int) -> list[str]:
    import yaml

    texts: list[str] = []
    for block in yaml.safe_load((settings.ROOT / "tests" / "nlu" / "heldout.yml").read_text())["nlu"]:
        texts += [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")][:2]
    return texts[:n]


async def test_the_model_graph_gives_what_dask_gave(trained_agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.runner.dask import DaskGraphRunner

    monkeypatch.setattr(DaskGraphRunner, "run", DaskGraphRunner.run)  # Rasa's own again after the test
    texts = [*_heldout(60), "我不想活了", "", "😀😀", "/request_human", "asdfghjkl"]

    async def understood() -> list[Any]:
        return [await trained_agent.parse_message(t) for t in texts]

    async def next_actions() -> list[Any]:
        predictions = []
        for i, text in enumerate(texts[:12]):
            tracker = await trained_agent.processor.log_message(UserMessage(text, sender_id=f"graph-{i}"))
            prediction = trained_agent.processor.predict_next_with_tracker(tracker)
            predictions.append((prediction["scores"][:3], prediction["policy"], prediction["confidence"]))
        return predictions

    by_dask = await understood(), await next_actions()
    [replaced] = graph_runner.install()
    assert DaskGraphRunner.run is replaced.patched
    assert (await understood(), await next_actions()) == by_dask
    intents = {p["intent"]["name"] for p in by_dask[0]}
    assert {"faq", "self_harm", "nlu_fallback"} <= intents  # the messages reach different branches of the graph
