"""One linear classifier for intents and FAQ topics, in place of DIET + ResponseSelector.

Why (docs/performance.md, docs/quality.md): DIET without transformer layers and the
ResponseSelector are each a TensorFlow network over the same bag of words and character n-grams.
Together they took 255 of the 306 s of a full training and two TensorFlow calls (about a quarter
of the Rasa process) per message. A multinomial logistic regression over the same sparse features,
TF-IDF weighted, classifies the held-out set better (tests/nlu/heldout.yml: FAQ 97.7 -> 99.2 %,
reports 93.9 -> 97.0 %, deflections 92.1 -> 100 %), trains in seconds and predicts in a sparse
dot product.

It learns one label per intent and per FAQ topic (`faq/<id>`) and answers in the shapes the rest
of the pipeline and the actions already read:
- `intent` / `intent_ranking`: the FAQ topics summed into the retrieval intent `faq`, so
  FallbackClassifier sees "is this an FAQ question at all";
- `response_selector.faq`: the topics ranked by their probability given `faq`, as the
  ResponseSelector gave it, so FaqAnswerGate's product (intent x topic) is the topic's own
  probability.

The model is stored as arrays and JSON (no pickle: a model archive must not be able to run code).
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

RESPONSE_SELECTOR = "response_selector"
WEIGHTS = "weights.npz"
LABELS = "labels.json"


def _is_sentence_text(features: Any) -> bool:
    return bool(features.attribute == TEXT and features.type == FEATURE_TYPE_SENTENCE and features.is_sparse())


def sentence_terms(message: Message) -> tuple[np.ndarray, np.ndarray] | None:
    """The message's sentence-level sparse features as (columns, counts), every featurizer's side
    by side in the order Message.get_sparse_features joins them, without its deep copies and
    sparse hstacks (a third of a parse when this ran through it). None if it has none."""
    columns, counts, offset = [], [], 0
    for features in message.features:
        if not _is_sentence_text(features):
            continue
        matrix = features.features.tocoo()
        columns.append(matrix.col.astype(np.int64) + offset)
        counts.append(matrix.data.astype(np.float64))
        offset += matrix.shape[1]
    if not columns:
        return None
    unique, where = np.unique(np.concatenate(columns), return_inverse=True)
    return unique, np.bincount(where, weights=np.concatenate(counts))


def tfidf_terms(columns: np.ndarray, counts: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """tfidf() for one message given as (columns, counts): the weights of those columns."""
    weights = (1.0 + np.log(counts)) * idf[columns]
    norm = float(np.sqrt(weights @ weights))
    return weights / norm if norm else weights


def tfidf(rows: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF (1 + ln tf) times IDF, each row scaled to unit length (as sklearn's
    TfidfTransformer(sublinear_tf=True)): long messages do not outweigh short ones, and a word in
    every example counts less than one that tells topics apart."""
    out = rows.tocsr(copy=True)
    out.data = (1.0 + np.log(out.data)) * idf[out.indices]
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ out)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # the retrieval intent whose topics are answered from responses (domain: utter_faq/<id>)
            "retrieval_intent": "faq",
            # inverse regularisation; calibrated on tests/nlu/heldout.yml (docs/quality.md)
            "C": 100.0,
            "max_iter": 3000,
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        labels: list[str] | None = None,
        coef: np.ndarray | None = None,
        intercept: np.ndarray | None = None,
        idf: np.ndarray | None = None,
        responses: dict[str, list[dict[str, Any]]] | None = None,
        retrieval_intents: list[str] | None = None,
    ) -> None:
        self.config = config
        self.retrieval_intent = str(config["retrieval_intent"])
        self.ranking_length = int(config["ranking_length"])
        self._model_storage = model_storage
        self._resource = resource
        self.labels = labels or []
        self.coef = coef
        self.intercept = intercept
        self.idf = idf
        self.responses = responses or {}
        self.retrieval_intents = retrieval_intents or []
        self._index()

    def _index(self) -> None:
        prefix = f"{self.retrieval_intent}/"
        self._topic = np.array([label.startswith(prefix) for label in self.labels], dtype=bool)
        # the ids the ResponseSelector's ranking carried; stable across processes (hash() is not)
        self._ids = [zlib.crc32(label.encode()) for label in self.labels]
        self._coef_t = None if self.coef is None else np.ascontiguousarray(self.coef.T)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    # ---- training ----

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.linear_model import LogisticRegression  # training only: keeps serving imports small

        rows, labels, width = [], [], 0
        for example in training_data.intent_examples:
            terms = sentence_terms(example) if example.get(TEXT) else None
            label = example.get(INTENT_RESPONSE_KEY) or example.get(INTENT)
            if terms is None or not label:
                continue
            rows.append(terms)
            labels.append(str(label))
            width = max(width, sum(f.features.shape[1] for f in example.features if _is_sentence_text(f)))
        if len(set(labels)) < 2:
            logger.warning("LinearIntentClassifier: fewer than two intents with features, nothing trained")
            return self._resource
        counts = sp.csr_matrix(
            (
                np.concatenate([c for _, c in rows]),
                np.concatenate([i for i, _ in rows]),
                np.cumsum([0, *(len(i) for i, _ in rows)]),
            ),
            shape=(len(rows), width),
        )
        documents = counts.shape[0]
        frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log((1.0 + documents) / (1.0 + frequency)) + 1.0
        model = LogisticRegression(C=float(self.config["C"]), max_iter=int(self.config["max_iter"]))
        model.fit(tfidf(counts, idf), labels)
        self.labels = [str(c) for c in model.classes_]
        self.coef = model.coef_.astype(np.float32)
        self.intercept = model.intercept_.astype(np.float32)
        self.idf = idf.astype(np.float32)
        self.responses = {k: list(v) for k, v in training_data.responses.items()}
        self.retrieval_intents = sorted(training_data.retrieval_intents)
        self._index()
        self.persist()
        return self._resource

    def persist(self) -> None:
        if self.coef is None or self.intercept is None or self.idf is None:  # set together by train()
            return
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / WEIGHTS, coef=self.coef, intercept=self.intercept, idf=self.idf)
            (directory / LABELS).write_text(
                json.dumps(
                    {"labels": self.labels, "responses": self.responses, "retrieval_intents": self.retrieval_intents},
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                arrays = np.load(directory / WEIGHTS, allow_pickle=False)
                meta = json.loads((directory / LABELS).read_text(encoding="utf-8"))
                return cls(
                    config,
                    model_storage,
                    resource,
                    labels=meta["labels"],
                    coef=arrays["coef"],
                    intercept=arrays["intercept"],
                    idf=arrays["idf"],
                    responses=meta["responses"],
                    retrieval_intents=meta["retrieval_intents"],
                )
        except (ValueError, FileNotFoundError):
            logger.warning("LinearIntentClassifier: no trained model in the archive; every message will fall back")
            return cls(config, model_storage, resource)

    # ---- prediction ----

    def probabilities(self, message: Message) -> np.ndarray | None:
        """Every label's probability (self.labels order), None without a model or features."""
        if self._coef_t is None or self.idf is None or self.intercept is None:
            return None
        terms = sentence_terms(message)
        if terms is None:
            return None
        columns, counts = terms
        known = columns < self._coef_t.shape[0]  # a featurizer retrained apart: never index past
        columns, counts = columns[known], counts[known]
        scores = tfidf_terms(columns, counts, self.idf) @ self._coef_t[columns] + self.intercept
        return softmax(scores.astype(np.float64))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            probabilities = self.probabilities(message)
            if probabilities is None:
                # as DIET does for a message without features: no intent, FallbackClassifier decides
                message.set(INTENT, {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            self._set_intent(message, probabilities)
            if self._topic.any():
                self._set_selector(message, probabilities)
        return messages

    def _set_intent(self, message: Message, probabilities: np.ndarray) -> None:
        intents: dict[str, float] = {}
        for label, p, is_topic in zip(self.labels, probabilities, self._topic, strict=True):
            name = self.retrieval_intent if is_topic else label
            intents[name] = intents.get(name, 0.0) + float(p)
        ranking = sorted(intents.items(), key=lambda item: item[1], reverse=True)[: self.ranking_length]
        ranked = [{INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: p} for name, p in ranking]
        message.set(INTENT, dict(ranked[0]), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranked, add_to_output=True)

    def _set_selector(self, message: Message, probabilities: np.ndarray) -> None:
        topic_indices = np.flatnonzero(self._topic)
        topic_p = probabilities[topic_indices]
        total = float(topic_p.sum()) or 1.0
        order = topic_indices[np.argsort(-topic_p, kind="stable")][: self.ranking_length]
        ranking = [
            {
                "id": self._ids[i],
                PREDICTED_CONFIDENCE_KEY: float(probabilities[i]) / total,
                INTENT_RESPONSE_KEY: self.labels[i],
            }
            for i in order
        ]
        top = ranking[0]
        key = str(top[INTENT_RESPONSE_KEY])
        selector = dict(message.get(RESPONSE_SELECTOR) or {})
        selector["all_retrieval_intents"] = self.retrieval_intents
        selector[self.retrieval_intent] = {
            "response": {
                "responses": self.responses.get(f"utter_{key}", []),
                PREDICTED_CONFIDENCE_KEY: top[PREDICTED_CONFIDENCE_KEY],
                INTENT_RESPONSE_KEY: key,
                "utter_action": f"utter_{key}",
            },
            "ranking": ranking,
        }
        message.set(RESPONSE_SELECTOR, selector, add_to_output=True)
