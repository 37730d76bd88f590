"""Fixtures of the tests of bot/rasa/patches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.infra import settings
from bot.rasa import patches


@pytest.fixture(scope="package")
def trained_agent() -> Any:
    """The project's model (`make test` trains it first), loaded in this process."""
    from rasa.core.agent import Agent

    from bot.ops import training

    model = training.current_model(settings.ROOT / "models")
    if model is None:
        pytest.skip("no model trained for the current data (make train)")
    return Agent.load(str(model))


@pytest.fixture()
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a Rasa process that has applied nothing yet; what the test applies is undone after."""
    monkeypatch.setattr(patches, "_applied", {})
    yield
    patches.undo()
