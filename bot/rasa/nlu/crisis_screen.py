"""A Rasa graph component that puts the crisis screening's verdict first (bot.core.crisis.assess).

Runs last, after the classifiers, FallbackClassifier and FaqAnswerGate, so that a crisis is
handled the same way on every channel, in the middle of a form, and on /model/parse:
- band CRISIS: the intent becomes the crisis kind with confidence 1.0, whatever the classifier said;
- band CHECK: the intent becomes `crisis_check` (the approved check question, actions/crisis_check.py),
  unless the citizen asks for a person: then a person it is, at once;
- band CLEAR: the classifier's crisis intents do not decide alone (they learned 「我想…」 as
  self-harm): a crisis intent on top becomes nlu_fallback, as FallbackClassifier would give it.
The screening's evidence goes into the parse data (`crisis_screen`) for the crisis ticket.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME, INTENT_MESSAGE_PREFIX
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.core import crisis

CHECK_INTENT = "crisis_check"
REQUEST_HUMAN = "request_human"
SCREENED = frozenset({*crisis.ORDER, CHECK_INTENT})  # intents only the screening may give


def evidence(a: crisis.Assessment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "intent": a.kind,
        "kind": a.kind,
        "band": a.band.value,
        "source": a.source.value,
        "pattern": a.pattern,
        "how": a.how_raised(),
    }
    if a.semantic is not None:
        out["score"] = round(a.semantic.probability, 4)
        out["closest"] = a.semantic.closest.text
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisScreen(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # what the gated classifier's intent becomes (FallbackClassifier's threshold)
        return {"fallback_confidence": 0.4}

    def __init__(self, config: dict[str, Any]) -> None:
        self.fallback_confidence = float(config.get("fallback_confidence", 0.4))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisScreen:
        crisis.warm()  # the embedding engine and the probe, before the first citizen
        return cls(config)

    def _set_top(self, message: Message, name: str, confidence: float) -> None:
        top = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get(INTENT_NAME_KEY) not in SCREENED]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)

    def _asks_for_a_person(self, message: Message) -> bool:
        """An unsure message that asks for a person gets one at once: the agent, not a check
        question, is the answer then (and the screening's evidence goes with the message)."""
        intent = message.get(INTENT) or {}
        return bool(
            intent.get(INTENT_NAME_KEY) == REQUEST_HUMAN
            and float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) >= self.fallback_confidence
        )

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(INTENT_MESSAGE_PREFIX):  # a button's payload: RegexMessageHandler's
                continue
            a = crisis.assess(text)
            if a.band is crisis.Band.CRISIS and a.kind:
                self._set_top(message, a.kind, 1.0)
            elif a.band is crisis.Band.CHECK and not self._asks_for_a_person(message):
                self._set_top(message, CHECK_INTENT, 1.0)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) in SCREENED:
                self._set_top(message, DEFAULT_NLU_FALLBACK_INTENT_NAME, self.fallback_confidence)
            elif a.band is crisis.Band.CLEAR:
                continue
            message.set("crisis_screen", evidence(a), add_to_output=True)
        return messages
