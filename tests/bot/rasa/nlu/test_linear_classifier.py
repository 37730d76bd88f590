"""The linear intent + FAQ topic classifier, trained and run with Rasa's real tokenizer and
featurizers on a small data set, stored and loaded through Rasa's model storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa.nlu.linear_classifier import LinearIntentClassifier, sentence_terms, tfidf, tfidf_terms

EXAMPLES = {
    "greet": ["你好", "您好", "你好啊", "在吗", "有人在吗", "早上好"],
    "goodbye": ["再见", "拜拜", "先这样吧再见", "回头见", "下次再聊", "好的再见"],
    "faq/shebao_card_apply": [
        "社保卡怎么办",
        "怎么申请社保卡",
        "第一次办社保卡去哪",
        "社保卡在哪里办理",
        "办社保卡要什么材料",
    ],
    "faq/hpf_withdraw_rent": [
        "租房能提公积金吗",
        "公积金怎么提取付房租",
        "租房提取公积金",
        "付房租用公积金",
        "公积金租房提取条件",
    ],
}
RESPONSES = {
    "utter_faq/shebao_card_apply": [{"text": "申领社保卡：……"}],
    "utter_faq/hpf_withdraw_rent": [{"text": "租房提取公积金：……"}],
}


def message(label: str, text: str) -> Message:
    if "/" in label:
        intent, _ = label.split("/")
        return Message(data={"text": text, "intent": intent, "intent_response_key": label})
    return Message(data={"text": text, "intent": label})


class Pipeline:
    """Tokenizer + featurizers as the real config has them (word and char n-grams)."""

    def __init__(self, storage: LocalModelStorage) -> None:
        context = ExecutionContext(GraphSchema({}), "test")

        def make(cls: Any, name: str, config: dict[str, Any]) -> Any:
            return cls.create({**cls.get_default_config(), **config}, storage, Resource(name), context)

        self.tokenizer = make(JiebaTokenizer, "tokenizer", {})
        self.featurizers = [
            make(CountVectorsFeaturizer, "words", {}),
            make(CountVectorsFeaturizer, "chars", {"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 3}),
        ]
        self.storage = storage
        self.context = context

    def train(self, data: TrainingData) -> None:
        self.tokenizer.process_training_data(data)
        for featurizer in self.featurizers:
            featurizer.train(data)
            featurizer.process_training_data(data)

    def featurise(self, *texts: str) -> list[Message]:
        messages = [Message(data={"text": t}) for t in texts]
        self.tokenizer.process(messages)
        for featurizer in self.featurizers:
            featurizer.process(messages)
        return messages


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    (tmp_path / "storage").mkdir()
    return LocalModelStorage(tmp_path / "storage")


@pytest.fixture
def pipeline(storage: LocalModelStorage) -> Pipeline:
    data = TrainingData(
        training_examples=[message(label, text) for label, texts in EXAMPLES.items() for text in texts],
        responses=RESPONSES,
    )
    p = Pipeline(storage)
    p.train(data)
    p.data = data  # type: ignore[attr-defined]
    return p


@pytest.fixture
def classifier(pipeline: Pipeline) -> LinearIntentClassifier:
    c = LinearIntentClassifier.create(
        LinearIntentClassifier.get_default_config(), pipeline.storage, Resource("linear"), pipeline.context
    )
    c.train(pipeline.data)  # type: ignore[attr-defined]
    return c


def parse(classifier: LinearIntentClassifier, pipeline: Pipeline, text: str) -> dict[str, Any]:
    (m,) = classifier.process(pipeline.featurise(text))
    return m.as_dict_nlu()


def test_a_faq_question_gets_the_intent_faq_and_its_topic_as_the_response_selector_gave_them(
    classifier: LinearIntentClassifier, pipeline: Pipeline
) -> None:
    out = parse(classifier, pipeline, "我想办个社保卡")
    assert out["intent"]["name"] == "faq"
    # topics are summed into "faq": no "faq/<id>" ever reaches the policies as an intent
    assert {r["name"] for r in out["intent_ranking"]} == {"greet", "goodbye", "faq"}
    selected = out["response_selector"]["faq"]
    assert selected["response"]["intent_response_key"] == "faq/shebao_card_apply"
    assert selected["response"]["utter_action"] == "utter_faq/shebao_card_apply"
    assert selected["response"]["responses"] == RESPONSES["utter_faq/shebao_card_apply"]
    assert out["response_selector"]["all_retrieval_intents"] == ["faq"]
    ranking = selected["ranking"]
    assert [r["intent_response_key"] for r in ranking] == ["faq/shebao_card_apply", "faq/hpf_withdraw_rent"]
    # the topic confidences are given "faq": they sum to 1, and intent x topic is the topic's own
    # probability, which FaqAnswerGate compares with its threshold
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert ranking[0]["confidence"] > ranking[1]["confidence"]


def test_intent_confidences_are_probabilities_ranked_best_first(
    classifier: LinearIntentClassifier, pipeline: Pipeline
) -> None:
    out = parse(classifier, pipeline, "拜拜 下次再聊")
    assert out["intent"]["name"] == "goodbye"
    confidences = [r["confidence"] for r in out["intent_ranking"]]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0)
    assert out["intent"] == out["intent_ranking"][0]


def test_the_other_topic_is_told_apart(classifier: LinearIntentClassifier, pipeline: Pipeline) -> None:
    out = parse(classifier, pipeline, "租房子可以提取公积金吗")
    assert out["response_selector"]["faq"]["response"]["intent_response_key"] == "faq/hpf_withdraw_rent"


def test_a_message_without_known_words_is_less_sure_than_any_known_one(
    classifier: LinearIntentClassifier, pipeline: Pipeline
) -> None:
    # nothing the classifier learnt: only the label priors speak, the same for any such message
    unknown = parse(classifier, pipeline, "ZZZ")
    assert unknown["intent_ranking"] == parse(classifier, pipeline, "QQQ")["intent_ranking"]
    for text in ("你好", "再见", "社保卡怎么办", "公积金租房"):
        assert parse(classifier, pipeline, text)["intent"]["confidence"] > unknown["intent"]["confidence"]


def test_stored_and_loaded_it_gives_the_same_answers(
    classifier: LinearIntentClassifier, pipeline: Pipeline, storage: LocalModelStorage
) -> None:
    loaded = LinearIntentClassifier.load(
        LinearIntentClassifier.get_default_config(), storage, Resource("linear"), pipeline.context
    )
    for text in ("社保卡丢了", "公积金租房", "你好", "再见了"):
        (m,) = pipeline.featurise(text)
        expected = classifier.probabilities(m)
        assert expected is not None
        np.testing.assert_allclose(loaded.probabilities(m), expected, rtol=1e-6)
        assert parse(loaded, pipeline, text) == parse(classifier, pipeline, text)


def test_an_archive_without_its_weights_loads_and_says_nothing_rather_than_guessing(
    storage: LocalModelStorage, pipeline: Pipeline
) -> None:
    empty = LinearIntentClassifier.load(
        LinearIntentClassifier.get_default_config(), storage, Resource("never-trained"), pipeline.context
    )
    (m,) = empty.process(pipeline.featurise("社保卡怎么办"))
    assert m.get("intent") == {"name": None, "confidence": 0.0}
    assert m.get("response_selector") is None


def test_a_message_without_features_gets_no_intent(classifier: LinearIntentClassifier) -> None:
    (m,) = classifier.process([Message(data={"text": ""})])
    assert m.get("intent") == {"name": None, "confidence": 0.0}
    assert m.get("intent_ranking") == []


def test_tfidf_matches_sklearn_sublinear_tfidf() -> None:
    # golden vector: the weighting the classifier was evaluated with (sklearn's, at training)
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = sp.csr_matrix(np.array([[3, 0, 1, 0], [0, 2, 0, 0], [1, 1, 1, 5], [0, 0, 0, 1]], dtype=float))
    reference = TfidfTransformer(sublinear_tf=True).fit(counts)
    frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + counts.shape[0]) / (1.0 + frequency)) + 1.0
    np.testing.assert_allclose(idf, reference.idf_)
    np.testing.assert_allclose(tfidf(counts, idf).toarray(), reference.transform(counts).toarray())
    # the failing twin: raw term frequency is not what was evaluated
    plain = TfidfTransformer(sublinear_tf=False).fit(counts)
    assert not np.allclose(tfidf(counts, idf).toarray(), plain.transform(counts).toarray())


def test_the_fast_path_reads_the_features_rasa_would_join(pipeline: Pipeline) -> None:
    # sentence_terms must be Message.get_sparse_features(TEXT)'s sentence row, column for column
    for m in pipeline.featurise("帮我妈问一下社保卡怎么办", "公积金 公积金 租房", "你好"):
        _, sentence = m.get_sparse_features("text")
        expected = sp.csr_matrix(sentence.features)
        columns, counts = sentence_terms(m)  # type: ignore[misc]
        got = sp.csr_matrix((counts, (np.zeros_like(columns), columns)), shape=expected.shape)
        assert (got != expected).nnz == 0
        assert counts.max() >= 1


def test_one_message_weighted_alone_is_weighted_as_in_training(pipeline: Pipeline) -> None:
    (m,) = pipeline.featurise("租房能提公积金吗 公积金")
    columns, counts = sentence_terms(m)  # type: ignore[misc]
    idf = np.linspace(1.0, 3.0, int(columns.max()) + 1)
    row = sp.csr_matrix((counts, (np.zeros_like(columns), columns)), shape=(1, idf.size))
    np.testing.assert_allclose(tfidf_terms(columns, counts, idf), tfidf(row, idf).toarray()[0, columns])
