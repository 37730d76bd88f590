"""A Rasa graph component that puts the crisis screening's verdict first.

Runs after the classifiers and before FallbackClassifier: when the reviewed lexicon matches,
the message's intent becomes the crisis intent with confidence 1.0, whatever DIET said, so a
crisis is handled the same way on every channel, in the middle of a form, and on /model/parse.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.core import crisis


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisScreen(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisScreen:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            verdict = crisis.screen(message.get(TEXT) or "")
            if verdict is None:
                continue
            top = {"name": verdict.intent, "confidence": 1.0}
            ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != verdict.intent]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
            message.set("crisis_screen", {"intent": verdict.intent, "source": "lexicon"}, add_to_output=True)
        return messages
