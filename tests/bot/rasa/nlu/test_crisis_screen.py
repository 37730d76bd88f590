"""bot.rasa.nlu.crisis_screen: the screening decides a crisis, never the classifier alone."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from bot.rasa.nlu.crisis_screen import CrisisScreen


def parsed(text: str, intent: str, confidence: float) -> Message:
    """A message as the classifiers and FallbackClassifier leave it."""
    return Message(
        data={
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [
                {"name": intent, "confidence": confidence},
                {"name": "out_of_scope", "confidence": 1 - confidence},
            ],
        }
    )


def screen(message: Message) -> Message:
    (out,) = CrisisScreen(CrisisScreen.get_default_config()).process([message])
    return out


def test_a_lexicon_crisis_wins_over_whatever_the_classifier_said() -> None:
    m = screen(parsed("我不想活了", "faq", 0.9))
    assert m.get("intent") == {"name": "self_harm", "confidence": 1.0}
    assert [r["name"] for r in m.get("intent_ranking")] == ["self_harm", "faq", "out_of_scope"]
    evidence = m.get("crisis_screen")
    assert (evidence["intent"], evidence["band"], evidence["source"]) == ("self_harm", "crisis", "lexicon")
    assert evidence["pattern"] and "词库规则" in evidence["how"]


def test_the_classifiers_crisis_intent_alone_does_not_decide() -> None:
    m = screen(parsed("我想去游泳", "self_harm", 0.9))
    assert m.get("intent") == {"name": "nlu_fallback", "confidence": 0.4}
    assert [r["name"] for r in m.get("intent_ranking")] == ["nlu_fallback", "out_of_scope"]
    assert m.get("crisis_screen")["band"] == "clear"


def test_unsure_gives_the_check_intent_with_its_evidence() -> None:
    m = screen(parsed("我不想再拖累家里人了", "out_of_scope", 0.6))
    assert m.get("intent") == {"name": "crisis_check", "confidence": 1.0}
    evidence = m.get("crisis_screen")
    assert evidence["band"] == "check" and evidence["kind"] == "self_harm"
    assert evidence["source"] == "semantic" and evidence["closest"] and "语义相似度" in evidence["how"]


def test_everyday_messages_are_left_as_the_classifier_said() -> None:
    m = screen(parsed("社保卡怎么补办", "faq", 0.95))
    assert m.get("intent") == {"name": "faq", "confidence": 0.95}
    assert m.get("crisis_screen") is None


def test_a_buttons_payload_is_not_screened() -> None:
    m = screen(parsed("/crisis_check_no", "crisis_check_no", 1.0))
    assert m.get("intent") == {"name": "crisis_check_no", "confidence": 1.0}
    assert m.get("crisis_screen") is None


def test_unsure_but_asking_for_a_person_gets_the_person() -> None:
    m = screen(parsed("我不想再拖累家里人了，我要跟人说话", "request_human", 0.8))
    assert m.get("intent") == {"name": "request_human", "confidence": 0.8}
    assert m.get("crisis_screen")["band"] == "check"
