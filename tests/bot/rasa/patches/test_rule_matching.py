"""bot/rasa/patches/rule_matching.py: rules matched once per dialogue state predict what Rasa predicted."""

from __future__ import annotations

from typing import Any

import pytest

from bot.infra import settings
from bot.rasa.patches import rule_matching


def _story_trackers(agent: Any) -> list[Any]:
    """Every point of every conversation in tests/test_stories.yml where the bot predicts an action."""
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    domain = agent.domain
    steps = YAMLStoryReader(domain).read_from_file(str(settings.ROOT / "tests" / "test_stories.yml"))
    trackers = []
    for n, step in enumerate(steps):
        events = step.explicit_events(domain)
        for i, event in enumerate(events):
            if isinstance(event, ActionExecuted):
                trackers.append(DialogueStateTracker.from_events(f"story-{n}-{i}", events[:i], domain.slots))
    return trackers


def test_rules_matched_once_per_state_predict_what_rasa_predicted(
    trained_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", RulePolicy._get_possible_keys)  # Rasa's own after
    assert len(_story_trackers(trained_agent)) > 50  # conversations reach forms, crises, handoffs, fallbacks

    def predictions() -> list[Any]:
        out = []
        for tracker in _story_trackers(trained_agent):  # fresh: a prediction may consume a follow-up action
            p = trained_agent.processor.predict_next_with_tracker(tracker)
            best = max(p["scores"], key=lambda s: s["score"])["action"]
            out.append((best, p["scores"], p["policy"], p["confidence"]))
        return out

    by_rasa = predictions()
    original = RulePolicy._get_possible_keys
    matched: list[tuple[set[str], set[str]]] = []  # (memo's answer, Rasa's answer) for every lookup
    [replaced] = rule_matching.install()
    assert RulePolicy._get_possible_keys is replaced.patched
    memo = RulePolicy._get_possible_keys

    def both(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        matched.append((memo(self, lookup, states), original(self, lookup, states)))
        return matched[-1][0]

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", both)
    assert predictions() == by_rasa
    assert predictions() == by_rasa  # the second time from the memo
    assert len(matched) > 100 and all(mine == rasas for mine, rasas in matched)
    assert len({frozenset(rasas) for _, rasas in matched}) > 10
    assert len({best for best, *_ in by_rasa}) > 10


def test_a_state_that_cannot_be_frozen_is_matched_as_rasa_matches_it() -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    calls: list[int] = []

    class Policy:
        def __init__(self) -> None:
            self.__dict__["x"] = 1

    def original(self: Any, lookup: dict[str, str], states: list[Any]) -> set[str]:
        calls.append(1)
        return {"k"}

    saved = RulePolicy._get_possible_keys
    try:
        RulePolicy._get_possible_keys = original  # type: ignore[method-assign]
        rule_matching.install()
        patched = RulePolicy._get_possible_keys
        policy, rules = Policy(), {"k": "utter_x"}
        assert patched(policy, rules, [{"user": {"intent": "greet"}}]) == {"k"}
        assert patched(policy, rules, [{"user": {"intent": "greet"}}]) == {"k"}
        assert len(calls) == 1  # the same state: matched once
        assert patched(policy, rules, [{"user": {"entities": [{"unhashable": set()}]}}]) == {"k"}
        assert len(calls) == 2
    finally:
        RulePolicy._get_possible_keys = saved  # type: ignore[method-assign]


def test_the_same_last_state_after_a_different_history_matches_its_own_rules(
    trained_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rule "a comment after a rating" looks one turn back: the memo must too
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", RulePolicy._get_possible_keys)
    rule_matching.install()

    def after(action: str) -> str:
        events = [
            ActionExecuted("action_listen"),
            UserUttered("/rate_service", {"name": "rate_service", "confidence": 1.0}),
            ActionExecuted(action),
            SlotSet("rating_comment_pending", True),
            ActionExecuted("action_listen"),
            UserUttered("态度挺好就是慢了点", {"name": "nlu_fallback", "confidence": 0.4}),
        ]
        tracker = DialogueStateTracker.from_events(f"memo-{action}", events, trained_agent.domain.slots)
        p = trained_agent.processor.predict_next_with_tracker(tracker)
        return max(p["scores"], key=lambda s: s["score"])["action"]

    for _ in range(2):
        assert after("action_rate_service") == "action_rating_comment"
        assert after("utter_how_can_i_help") == "action_handle_fallback"
