"""bot.rasa.nlu.faq_gate: an FAQ is answered only when intent x selector confidence is high enough."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.rasa.nlu.faq_gate import FaqAnswerGate, joint_confidence


def parsed(intent: str, confidence: float, selector: float | None = None, key: str = "faq/legal_aid") -> Message:
    """A message as the pipeline leaves it after DIET, ResponseSelector and FallbackClassifier."""
    data: dict[str, Any] = {
        "text": "公积金概念股值得买吗",
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [
            {"name": intent, "confidence": confidence},
            {"name": "out_of_scope", "confidence": 1 - confidence},
        ],
    }
    if selector is not None:
        data["response_selector"] = {"faq": {"response": {"intent_response_key": key, "confidence": selector}}}
    return Message(data=data)


def gate(threshold: float = 0.2) -> FaqAnswerGate:
    return FaqAnswerGate({**FaqAnswerGate.get_default_config(), "threshold": threshold})


def test_sure_faq_intent_but_unsure_topic_falls_back() -> None:
    # DIET is sure it is "an FAQ", the selector cannot tell which one: 0.95 x 0.15 < 0.2
    (message,) = gate().process([parsed("faq", 0.95, selector=0.15)])
    assert message.get("intent") == {"name": "nlu_fallback", "confidence": 0.2}
    ranking = [r["name"] for r in message.get("intent_ranking")]
    assert ranking == ["nlu_fallback", "faq", "out_of_scope"]  # the classifier's view stays visible


def test_faq_sure_on_both_counts_is_answered() -> None:
    (message,) = gate().process([parsed("faq", 0.9, selector=0.8)])
    assert message.get("intent") == {"name": "faq", "confidence": 0.9}
    assert message.get("response_selector")["faq"]["response"]["intent_response_key"] == "faq/legal_aid"


@pytest.mark.parametrize("intent", ["report_noise", "out_of_scope", "nlu_fallback", "self_harm"])
def test_other_intents_are_left_alone(intent: str) -> None:
    (message,) = gate(threshold=0.9).process([parsed(intent, 0.4, selector=0.1)])
    assert message.get("intent") == {"name": intent, "confidence": 0.4}


def test_joint_confidence_is_the_product_and_none_without_faq() -> None:
    assert joint_confidence(parsed("faq", 0.5, selector=0.5), "faq") == pytest.approx(0.25)
    assert joint_confidence(parsed("faq", 0.9), "faq") == 0.0  # no selector output: not an answer
    assert joint_confidence(parsed("report_noise", 0.9, selector=0.9), "faq") is None


def test_gate_runs_in_the_configured_pipeline_after_fallback_and_before_crisis() -> None:
    # order matters: after FallbackClassifier (sees only what passed the intent threshold) and
    # before CrisisScreen (a lexicon crisis must win over an FAQ fallback)
    import yaml

    from bot.infra import settings

    names = [c["name"] for c in yaml.safe_load((settings.ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]]
    gate_at = names.index("bot.rasa.nlu.faq_gate.FaqAnswerGate")
    assert (
        names.index("bot.rasa.nlu.linear_classifier.LinearIntentClassifier")
        < names.index("FallbackClassifier")
        < gate_at
        < names.index("bot.rasa.nlu.CrisisScreen")
    )
