"""The reviewed crisis lexicon: every explicit statement caught, its look-alikes left alone.

The cases (tests/nlu/crisis_cases.yml) are reviewed with the lexicon; a missed crisis is the one
error this product cannot make, so every positive case must be caught as its own kind.
"""

from __future__ import annotations

import pytest
import yaml

from bot.core import crisis
from bot.infra import settings

CASES = yaml.safe_load((settings.ROOT / "tests" / "nlu" / "crisis_cases.yml").read_text(encoding="utf-8"))
POSITIVE = [(kind, text) for kind in crisis.ORDER for text in CASES[kind]["positive"]]
NEGATIVE = [(kind, text) for kind in crisis.ORDER for text in CASES[kind]["negative"]]


def test_there_are_enough_reviewed_cases() -> None:
    for kind in crisis.ORDER:
        assert len(CASES[kind]["positive"]) >= 30 and len(CASES[kind]["negative"]) >= 30, kind


@pytest.mark.parametrize(("kind", "text"), POSITIVE)
def test_explicit_statements_are_caught_as_their_kind(kind: str, text: str) -> None:
    verdict = crisis.screen(text)
    assert verdict is not None and verdict.intent == kind


@pytest.mark.parametrize(("kind", "text"), NEGATIVE)
def test_look_alikes_are_no_crisis_at_all(kind: str, text: str) -> None:
    assert crisis.screen(text) is None


@pytest.mark.parametrize("text", ["我 不 想 活 了", "我不想活了！！！", "我\u200b不想\u200b活了", "我不想活了"])
def test_spaces_punctuation_and_zero_width_characters_do_not_hide_it(text: str) -> None:
    verdict = crisis.screen(text)
    assert verdict is not None and verdict.intent == "self_harm"


def test_a_crisis_mixed_into_another_request_is_a_crisis() -> None:
    verdict = crisis.screen("剪坏了不给恢复我就跳楼")
    assert verdict is not None and verdict.intent == "self_harm"


def test_empty_text_is_not_a_crisis() -> None:
    assert crisis.screen("") is None and crisis.screen("   ") is None
