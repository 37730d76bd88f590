"""bot.rasa.nlu.faq_gate: an FAQ is answered only when intent x selector confidence is high enough."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.rasa.nlu.faq_gate import FaqAnswerGate, is_demand, joint_confidence


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


def ranked(text: str, ranking: list[tuple[str, float]], selector: float = 0.9) -> Message:
    """A parsed message with its whole intent ranking (the first is the predicted intent)."""
    name, confidence = ranking[0]
    return Message(
        data={
            "text": text,
            "intent": {"name": name, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "response_selector": {
                "faq": {"response": {"intent_response_key": "faq/medical_reimbursement", "confidence": selector}}
            },
        }
    )


def test_a_demand_sharing_the_faqs_words_gets_the_deflection_behind_it() -> None:
    # 报销 is the 医疗费用报销 FAQ's word, but a demand is not the FAQ's question
    message = ranked("你们政府给我报销旅游费用", [("faq", 0.54), ("unreasonable_demand", 0.29), ("abuse", 0.09)])
    (message,) = gate().process([message])
    assert message.get("intent") == {"name": "unreasonable_demand", "confidence": 0.29}
    assert [r["name"] for r in message.get("intent_ranking")] == ["unreasonable_demand", "faq", "abuse"]


def test_a_demand_with_no_likely_deflection_falls_back() -> None:
    (message,) = gate().process([ranked("要求政府给我报销", [("faq", 0.9), ("out_of_scope", 0.05)])])
    assert message.get("intent")["name"] == "nlu_fallback"


def test_a_deflection_close_behind_the_faq_withholds_the_answer() -> None:
    (message,) = gate().process([ranked("公积金的股票", [("faq", 0.5), ("out_of_scope", 0.45)])])
    assert message.get("intent") == {"name": "out_of_scope", "confidence": 0.45}


@pytest.mark.parametrize(
    "text",
    ["医疗费用怎么报销", "医院不给我报销怎么办", "政府能给我补贴吗", "低保要什么条件才能批", "住院费报销需要哪些材料"],
)
def test_a_question_about_the_faq_is_answered(text: str) -> None:
    (message,) = gate().process([ranked(text, [("faq", 0.7), ("unreasonable_demand", 0.2)])])
    assert message.get("intent") == {"name": "faq", "confidence": 0.7}


@pytest.mark.parametrize(
    ("text", "demand"),
    [
        ("你们政府给我报销旅游费用", True),
        ("让政府给我发套房子", True),
        ("马上给我办低保", True),
        ("政府给我补贴装修房子的钱", True),
        ("要求政府把门口的路拓宽", True),  # a demand; its intent (suggestion) is not an FAQ, so untouched
        ("单位不给我报销", False),
        ("政府给我补贴吗", False),
        ("怎么让政府给我报销", False),
    ],
)
def test_demand_words(text: str, demand: bool) -> None:
    assert is_demand(text) is demand


def test_only_faq_answers_are_gated_not_a_suggestion_that_reads_as_a_demand() -> None:
    message = ranked("要求政府把门口的路拓宽", [("suggestion", 0.9), ("unreasonable_demand", 0.05)])
    (message,) = gate().process([message])
    assert message.get("intent") == {"name": "suggestion", "confidence": 0.9}
