"""A Rasa graph component that answers an FAQ only when the topic itself is likely enough.

An FAQ answer rests on two decisions: "this is an FAQ question" (the intent `faq`) and "this is
the FAQ about X" (`response_selector.faq`). FallbackClassifier only looks at the first. The
intent `faq` sums ~40 topics, so an out-of-scope message that shares a government word with
them ("公积金概念股值得买吗", "社保卡用英语怎么说") can get `faq` high while no single topic is
likely: answering then gives a citizen the wrong approved text. This gate falls back when
intent x selector confidence (with bot.rasa.nlu.linear_classifier: the topic's own probability) is
below `threshold` (calibrated on tests/nlu/heldout.yml with `make eval`, docs/quality.md).

Runs after FallbackClassifier (so it only sees messages that passed the intent threshold) and
before bot.rasa.nlu.CrisisScreen (a lexicon crisis still wins).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

RESPONSE_SELECTOR = "response_selector"


def joint_confidence(message: Message, retrieval_intent: str) -> float | None:
    """Intent confidence x the selector's confidence in its top response, None if no FAQ."""
    intent = message.get(INTENT) or {}
    if intent.get(INTENT_NAME_KEY) != retrieval_intent:
        return None
    selected = ((message.get(RESPONSE_SELECTOR) or {}).get(retrieval_intent) or {}).get("response") or {}
    return float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) * float(selected.get(PREDICTED_CONFIDENCE_KEY) or 0.0)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class FaqAnswerGate(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"retrieval_intent": "faq", "threshold": 0.2}

    def __init__(self, config: dict[str, Any]) -> None:
        self.retrieval_intent = str(config["retrieval_intent"])
        self.threshold = float(config["threshold"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FaqAnswerGate:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            joint = joint_confidence(message, self.retrieval_intent)
            if joint is None or joint >= self.threshold:
                continue
            # the same shape FallbackClassifier gives, so rules and actions need nothing new
            fallback = {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: self.threshold}
            ranking = [
                r
                for r in (message.get(INTENT_RANKING_KEY) or [])
                if r.get(INTENT_NAME_KEY) != DEFAULT_NLU_FALLBACK_INTENT_NAME
            ]
            message.set(INTENT, fallback, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [fallback, *ranking], add_to_output=True)
        return messages
