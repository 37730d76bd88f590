"""The rule policy matches its rules once per dialogue state.

For each next-action prediction (three per turn) RulePolicy tests every rule (127 here) against
every turn of the recent history, in Python: with NLU no longer running TensorFlow it was the
largest share of a turn (11.6 % of the Rasa process at REST concurrency 8, docs/performance.md).
The rules that apply depend only on the featurized states it is given, and a hotline's
conversations pass through few distinct states, so the matching keys are kept per (rule table,
states), up to RULE_MATCH_CACHE entries. The rule chosen is the same
(tests/bot/rasa/patches/test_rule_matching.py compares predictions along every conversation of
tests/test_stories.yml).
"""

from __future__ import annotations

from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace

RULE_MATCH_CACHE = 20_000


def _frozen(value: Any) -> Any:
    """A hashable copy of a dialogue state (dicts of dicts of strings, tuples and numbers)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def install() -> list[Replacement]:
    from rasa.core.policies.rule_policy import RulePolicy

    original = RulePolicy._get_possible_keys

    def _get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        try:
            # the tables do not change once a model is loaded (len: in case one is edited in place)
            key = (id(lookup), len(lookup), _frozen(states))
            hash(key)
        except TypeError:  # a state this code does not know how to freeze: match as Rasa does
            return original(self, lookup, states)
        memo = self.__dict__.setdefault("_hotline_rule_matches", {})
        found = memo.get(key)
        if found is None:
            if len(memo) >= RULE_MATCH_CACHE:
                memo.clear()
            found = memo[key] = frozenset(original(self, lookup, states))
        return set(found)

    return [replace(RulePolicy, "_get_possible_keys", _get_possible_keys)]
