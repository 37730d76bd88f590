"""A Rasa graph component that answers an FAQ only when the question is the FAQ's question.

An FAQ answer rests on two decisions: "this is an FAQ question" (the intent `faq`) and "this is
the FAQ about X" (`response_selector.faq`). FallbackClassifier only looks at the first. The
intent `faq` sums ~40 topics, so an out-of-scope message that shares a government word with
them ("公积金概念股值得买吗", "社保卡用英语怎么说") can get `faq` high while no single topic is
likely: answering then gives a citizen the wrong approved text. The gate withholds the answer:

- when intent x selector confidence (with bot.rasa.nlu.linear_classifier: the topic's own
  probability) is below `threshold`;
- when a deflection (`deflect_intents`) is close behind the FAQ: its confidence is at least
  `close_behind` times the FAQ's (the classifier cannot tell a question about 低保 from a demand
  for it);
- when the message is a demand, not a question: "你们政府给我报销旅游费用" shares 报销 with the
  医疗费用报销 FAQ, but answering how reimbursement works is an answer to something else.

A withheld answer becomes the best deflection when one is at least `deflect_floor` likely (its
script says what 12345 can do instead), otherwise the fallback (rephrase, or the two close
topics as buttons). Thresholds are calibrated on tests/nlu/heldout.yml with `make eval`
(docs/quality.md), never on eval/.

Runs after FallbackClassifier (so it only sees messages that passed the intent threshold) and
before bot.rasa.nlu.CrisisScreen (a lexicon crisis still wins).
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

RESPONSE_SELECTOR = "response_selector"
DEFLECT_INTENTS = ("out_of_scope", "private_matter", "unreasonable_demand", "abuse")
# Someone telling the government what to give or do, in the words citizens use: 要求政府…,
# 让政府…, 政府必须给我…, 给我报销/补贴/发/批… ("不给我报销" is a complaint about a refusal,
# not a demand, hence the lookbehind).
DEMAND = re.compile(
    r"(要求|让|叫|逼)(你们)?(政府|国家|市里|领导|相关部门)"
    r"|(政府|国家|你们)(必须|就得|得|应该|要)?(给我|帮我|替我)(报|补|发|批|分|安排|免|赔|出|买|还|交)"
    r"|(?<![不没])给我(报销|补贴|补偿|发钱|批|分房|分套|安排|免掉|赔)"
    r"|(必须|马上|立刻|立即|今天就)给我"
)
# A question about the matter (怎么报销, 能给我补贴吗) is the FAQ's question, demand words or not.
QUESTION = re.compile(r"怎么|怎样|如何|咋|吗|么|[?？]|哪|什么|能不能|可不可以|可以不|是否|多少|几|不$|没$")


def joint_confidence(message: Message, retrieval_intent: str) -> float | None:
    """Intent confidence x the selector's confidence in its top response, None if no FAQ."""
    intent = message.get(INTENT) or {}
    if intent.get(INTENT_NAME_KEY) != retrieval_intent:
        return None
    selected = ((message.get(RESPONSE_SELECTOR) or {}).get(retrieval_intent) or {}).get("response") or {}
    return float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) * float(selected.get(PREDICTED_CONFIDENCE_KEY) or 0.0)


def is_demand(text: str) -> bool:
    """A demand on the government, not a question about a service."""
    return bool(DEMAND.search(text)) and not QUESTION.search(text)


def best_deflection(message: Message, intents: tuple[str, ...]) -> dict[str, Any] | None:
    ranked = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get(INTENT_NAME_KEY) in intents]
    return max(ranked, key=lambda r: float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0), default=None)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class FaqAnswerGate(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "retrieval_intent": "faq",
            "threshold": 0.2,
            "deflect_intents": list(DEFLECT_INTENTS),
            "close_behind": 0.85,
            "deflect_floor": 0.15,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.retrieval_intent = str(config["retrieval_intent"])
        self.threshold = float(config["threshold"])
        self.deflect_intents = tuple(str(i) for i in config.get("deflect_intents", DEFLECT_INTENTS))
        self.close_behind = float(config.get("close_behind", 0.85))
        self.deflect_floor = float(config.get("deflect_floor", 0.15))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FaqAnswerGate:
        return cls(config)

    def withhold(self, message: Message) -> bool:
        """Whether an FAQ answer would answer something the citizen did not ask."""
        joint = joint_confidence(message, self.retrieval_intent)
        if joint is None:
            return False
        if joint < self.threshold:
            return True
        faq = float((message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        deflection = best_deflection(message, self.deflect_intents)
        if deflection is not None and float(deflection.get(PREDICTED_CONFIDENCE_KEY) or 0.0) >= self.close_behind * faq:
            return True
        return is_demand(str(message.get(TEXT) or ""))

    def instead(self, message: Message) -> dict[str, Any]:
        """The deflection the classifier saw, if likely enough; otherwise the fallback."""
        deflection = best_deflection(message, self.deflect_intents)
        if deflection is not None and float(deflection.get(PREDICTED_CONFIDENCE_KEY) or 0.0) >= self.deflect_floor:
            return {
                INTENT_NAME_KEY: deflection[INTENT_NAME_KEY],
                PREDICTED_CONFIDENCE_KEY: deflection[PREDICTED_CONFIDENCE_KEY],
            }
        # the same shape FallbackClassifier gives, so rules and actions need nothing new
        return {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: self.threshold}

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if not self.withhold(message):
                continue
            chosen = self.instead(message)
            ranking = [
                r
                for r in (message.get(INTENT_RANKING_KEY) or [])
                if r.get(INTENT_NAME_KEY) not in (DEFAULT_NLU_FALLBACK_INTENT_NAME, chosen[INTENT_NAME_KEY])
            ]
            message.set(INTENT, chosen, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [chosen, *ranking], add_to_output=True)
        return messages
