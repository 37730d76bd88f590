"""bot/rasa/tuning.py: the same check of action results without re-checking the schema, and a
cap on the turns one Rasa process runs at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for

from bot.infra import settings
from bot.rasa import tuning as rasa_tuning


@pytest.fixture()
def remote_action(monkeypatch: pytest.MonkeyPatch) -> Any:
    from rasa.core.actions.action import RemoteAction

    # undo the patch after the test (the class is shared by the whole test process)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    rasa_tuning.validate_action_results_with_a_compiled_schema()
    return RemoteAction("action_x", None)


def test_action_results_are_checked_as_before_without_rechecking_the_schema(
    remote_action: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.actions.action import RemoteAction

    cls = validator_for(RemoteAction.action_response_format_spec())
    checks = []
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s, **kw: checks.append(s)))
    good = {"events": [{"event": "slot", "name": "handed_off", "value": True}], "responses": [{"text": "您好"}]}
    for _ in range(5):
        assert remote_action._validate_action_result(good) is True
    assert checks == []  # stock Rasa (jsonschema.validate) checks the schema on every call

    with pytest.raises(ValidationError) as bad_events:
        remote_action._validate_action_result({"events": "slot handed_off"})
    assert "Failed to validate Action server response" in bad_events.value.message
    with pytest.raises(ValidationError):
        remote_action._validate_action_result({"events": [{"event": "no_such_event"}]})
    with pytest.raises(ValidationError):
        remote_action._validate_action_result({"responses": "您好"})


async def test_no_more_turns_run_at_once_than_the_limit_and_none_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.processor import MessageProcessor

    running, peak, done = 0, 0, []

    async def fake_turn(self: Any, message: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(message)
        return message

    monkeypatch.setattr(MessageProcessor, "handle_message", fake_turn)
    rasa_tuning.limit_concurrent_turns(3)
    results = await asyncio.gather(*(MessageProcessor.handle_message(None, f"m{i}") for i in range(20)))  # type: ignore[arg-type]
    assert results == [f"m{i}" for i in range(20)]
    assert sorted(done) == sorted(results)
    assert peak == 3


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rasa_tuning.MAX_TURNS_ENV, raising=False)
    assert rasa_tuning.max_turns() == rasa_tuning.DEFAULT_MAX_TURNS
    monkeypatch.setenv(rasa_tuning.MAX_TURNS_ENV, "0")
    assert rasa_tuning.max_turns() == 0


@pytest.fixture()
def failing_action(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A remote action whose server fails, inside a processor that swallows errors like Rasa's
    `_run_action` does (logs, carries on with no events)."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.shared.exceptions import RasaException

    failure: list[BaseException] = [RasaException("Failed to execute custom action 'action_start_report'")]

    async def server_run(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise failure[0]

    async def processor_turn(self: Any, message: str) -> list[str]:
        try:
            await RemoteAction("action_start_report", None).run()
        except Exception:  # rasa.core.processor._run_action: logged and swallowed
            return ["utter_report_confirm with empty slots"]
        return ["the action ran"]

    monkeypatch.setattr(RemoteAction, "run", server_run)
    monkeypatch.setattr(MessageProcessor, "handle_message", processor_turn)
    rasa_tuning.abandon_turns_whose_action_fails()
    return failure


async def test_a_turn_whose_action_server_fails_is_abandoned_not_carried_on(
    failing_action: list[BaseException],
) -> None:
    from rasa.core.processor import MessageProcessor

    with pytest.raises(rasa_tuning.ActionServerUnavailable):
        await MessageProcessor.handle_message(None, "我要投诉噪音")  # type: ignore[arg-type]
    failing_action[0] = asyncio.TimeoutError()  # hung past ACTION_TIMEOUT_S
    with pytest.raises(rasa_tuning.ActionServerUnavailable):
        await MessageProcessor.handle_message(None, "我要投诉噪音")  # type: ignore[arg-type]


async def test_a_rejecting_action_and_calls_outside_a_turn_keep_rasas_behaviour(
    failing_action: list[BaseException],
) -> None:
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.shared.exceptions import RasaException

    failing_action[0] = ActionExecutionRejection("validate_report_form")  # how forms work
    assert await MessageProcessor.handle_message(None, "x") == ["utter_report_confirm with empty slots"]  # type: ignore[arg-type]
    failing_action[0] = RasaException("down")
    with pytest.raises(RasaException):  # the desk's trigger_intent: Rasa's own error handling
        await RemoteAction("action_start_report", None).run()


def _saved_conversation(*events: Any) -> Any:
    from rasa.shared.core.trackers import DialogueStateTracker

    return DialogueStateTracker.from_events("citizen-1", list(events))


@pytest.fixture()
def captured_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    seen: list[str] = []

    async def rasa_logs_it(self: Any, message: Any, tracker: Any) -> None:
        seen.append(message.message_id)

    monkeypatch.setattr(MessageProcessor, "_handle_message_with_tracker", rasa_logs_it)
    monkeypatch.setattr(UserMessage, "__init__", UserMessage.__init__)
    rasa_tuning.stable_ids_for_messages_sent_again()
    return seen


async def test_a_message_sent_again_onto_the_same_saved_conversation_keeps_its_id(captured_ids: list[str]) -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, UserUttered

    saved = _saved_conversation(
        UserUttered("我要投诉噪音", timestamp=100.0), BotUttered("请您确认登记内容", timestamp=101.0)
    )

    async def turn(text: str, tracker: Any, **kw: Any) -> str:
        await MessageProcessor._handle_message_with_tracker(
            None, UserMessage(text, sender_id="citizen-1", **kw), tracker
        )  # type: ignore[arg-type]
        return captured_ids[-1]

    first = await turn("/affirm", saved)
    again = await turn("/affirm", saved)  # the first try died with its process: nothing was saved
    assert first == again
    # the same words after the answer was saved: a new message
    answered = _saved_conversation(
        *saved.events, UserUttered("/affirm", timestamp=102.0), BotUttered("已登记", timestamp=103.0)
    )
    assert await turn("/affirm", answered) != first
    assert await turn("/deny", saved) != first
    # an id the channel gives (WeChat's MsgId) is kept; positionally too
    assert await turn("/affirm", saved, message_id="wechat-123") == "wechat-123"
    msg = UserMessage("/affirm", None, "citizen-1", None, "wechat", "wechat-456")
    await MessageProcessor._handle_message_with_tracker(None, msg, saved)  # type: ignore[arg-type]
    assert captured_ids[-1] == "wechat-456"


@pytest.fixture()
def off_loop_loading(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import rasa.server
    from rasa.core.agent import Agent

    threads: list[int] = []
    original = Agent.load_model

    def load_model(self: Agent, *args: Any, **kwargs: Any) -> None:
        threads.append(threading.get_ident())
        original(self, *args, **kwargs)

    monkeypatch.setattr(Agent, "load_model", load_model)
    monkeypatch.setattr(rasa.server, "_load_agent", rasa.server._load_agent)
    rasa_tuning.load_shipped_models_off_the_event_loop()
    return threads


async def test_a_shipped_model_loads_while_conversations_go_on(off_loop_loading: list[int]) -> None:
    import rasa.server

    models = sorted(settings.ROOT.joinpath("models").glob("*.tar.gz"))
    if not models:
        pytest.skip("no trained model in models/ (make train)")
    ticks = 0

    async def conversations() -> None:  # what the event loop does for citizens meanwhile
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(conversations())
    agent = await rasa.server._load_agent(str(models[-1]))
    ticker.cancel()
    assert off_loop_loading and off_loop_loading[0] != threading.get_ident()  # not on the loop's thread
    assert ticks > 10  # the loop kept running while the model loaded
    parsed = await agent.parse_message("社保卡丢了怎么办")
    assert parsed["intent"]["name"] == "faq"


async def test_a_model_that_cannot_be_loaded_is_refused_as_rasa_refuses_it(
    off_loop_loading: list[int], tmp_path: Any
) -> None:
    import rasa.server
    from rasa.server import ErrorResponse

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a model")
    with pytest.raises(ErrorResponse) as refused:
        await rasa.server._load_agent(str(broken))
    assert refused.value.status in (400, 500)


def test_the_saved_answer_of_a_message_is_what_followed_it_up_to_the_next_message() -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    tracker = _saved_conversation(
        UserUttered("社保卡怎么办", message_id="rest:m-1"),
        ActionExecuted("utter_faq"),
        BotUttered(
            "请携带身份证…",
            {"buttons": [{"title": "有帮助", "payload": "/feedback"}]},
            metadata={"utter_action": "utter_faq/shebao_card_apply"},
        ),  # fmt: skip
        BotUttered("以上解答对您有帮助吗？", metadata={"utter_action": "utter_ask_helpful"}),
        UserUttered("谢谢", message_id="rest:m-2"),
        BotUttered("不客气。", metadata={"utter_action": "utter_you_are_welcome"}),
    )
    assert rasa_tuning.saved_answer(tracker, "rest:m-1") == [
        {
            "text": "请携带身份证…",
            "buttons": [{"title": "有帮助", "payload": "/feedback"}],
            "utter_action": "utter_faq/shebao_card_apply",
        },  # fmt: skip
        {"text": "以上解答对您有帮助吗？", "buttons": None, "utter_action": "utter_ask_helpful"},
    ]
    assert rasa_tuning.saved_answer(tracker, "rest:m-2") == [
        {"text": "不客气。", "buttons": None, "utter_action": "utter_you_are_welcome"}
    ]
    assert rasa_tuning.saved_answer(tracker, "rest:m-3") is None  # never saved: handle it


@pytest.fixture()
def handing_over(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A processor whose turn saves the conversation once, like Rasa's handle_message does."""
    from rasa.core.processor import MessageProcessor

    stored: list[Any] = []

    async def rasa_turn(self: Any, message: Any) -> None:
        tracker = _saved_conversation()
        tracker.sender_id = message.sender_id
        await MessageProcessor.save_tracker(self, tracker)

    async def rasa_saves(self: Any, tracker: Any) -> None:
        stored.append(tracker)

    monkeypatch.setattr(MessageProcessor, "handle_message", rasa_turn)
    monkeypatch.setattr(MessageProcessor, "save_tracker", rasa_saves)
    rasa_tuning.hand_the_saved_conversation_to_the_channel()
    return stored


async def test_the_conversation_rasa_saved_reaches_the_turns_channel(handing_over: list[Any]) -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    from channels.rest import RestOutput

    first, second = RestOutput(), RestOutput()
    await asyncio.gather(
        MessageProcessor.handle_message(None, UserMessage("你好", first, "citizen-1")),  # type: ignore[arg-type]
        MessageProcessor.handle_message(None, UserMessage("谢谢", second, "citizen-2")),  # type: ignore[arg-type]
    )
    assert len(handing_over) == 2  # saved exactly as before
    assert first.saved_tracker is handing_over[0] and first.saved_tracker.sender_id == "citizen-1"
    assert second.saved_tracker is handing_over[1] and second.saved_tracker.sender_id == "citizen-2"
    # a save outside a turn (the desk's tracker edits) hands nothing to anybody
    await MessageProcessor.save_tracker(None, _saved_conversation())  # type: ignore[arg-type]
    assert first.saved_tracker is handing_over[0]


@pytest.fixture(scope="module")
def trained_agent() -> Any:
    """The project's model (`make test` trains it first), loaded in this process."""
    from rasa.core.agent import Agent

    from bot.ops import training

    model = training.current_model(settings.ROOT / "models")
    if model is None:
        pytest.skip("no model trained for the current data (make train)")
    return Agent.load(str(model))


def _heldout(n: int) -> list[str]:
    import yaml

    texts: list[str] = []
    for block in yaml.safe_load((settings.ROOT / "tests" / "nlu" / "heldout.yml").read_text())["nlu"]:
        texts += [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")][:2]
    return texts[:n]


async def test_the_model_graph_gives_what_dask_gave(trained_agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.runner.dask import DaskGraphRunner

    monkeypatch.setattr(DaskGraphRunner, "run", DaskGraphRunner.run)  # Rasa's own again after the test
    texts = [*_heldout(60), "我不想活了", "", "😀😀", "/request_human", "asdfghjkl"]

    async def understood() -> list[Any]:
        return [await trained_agent.parse_message(t) for t in texts]

    async def next_actions() -> list[Any]:
        predictions = []
        for i, text in enumerate(texts[:12]):
            tracker = await trained_agent.processor.log_message(UserMessage(text, sender_id=f"graph-{i}"))
            prediction = trained_agent.processor.predict_next_with_tracker(tracker)
            predictions.append((prediction["scores"][:3], prediction["policy"], prediction["confidence"]))
        return predictions

    by_dask = await understood(), await next_actions()
    rasa_tuning.run_the_model_graph_without_dask()
    assert getattr(DaskGraphRunner.run, "_direct", False)
    assert (await understood(), await next_actions()) == by_dask
    intents = {p["intent"]["name"] for p in by_dask[0]}
    assert {"faq", "self_harm", "nlu_fallback"} <= intents  # the messages reach different branches of the graph


def _story_trackers(agent: Any) -> list[Any]:
    """Every point of every conversation in tests/test_stories.yml where the bot predicts an action."""
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    domain = agent.domain
    steps = YAMLStoryReader(domain).read_from_file(str(settings.ROOT / "tests" / "test_stories.yml"))
    trackers = []
    for n, step in enumerate(steps):
        events = step.explicit_events(domain)
        for i, event in enumerate(events):
            if isinstance(event, ActionExecuted):
                trackers.append(DialogueStateTracker.from_events(f"story-{n}-{i}", events[:i], domain.slots))
    return trackers


def test_rules_matched_once_per_state_predict_what_rasa_predicted(
    trained_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", RulePolicy._get_possible_keys)  # Rasa's own after
    assert len(_story_trackers(trained_agent)) > 50  # conversations reach forms, crises, handoffs, fallbacks

    def predictions() -> list[Any]:
        out = []
        for tracker in _story_trackers(trained_agent):  # fresh: a prediction may consume a follow-up action
            p = trained_agent.processor.predict_next_with_tracker(tracker)
            best = max(p["scores"], key=lambda s: s["score"])["action"]
            out.append((best, p["scores"], p["policy"], p["confidence"]))
        return out

    by_rasa = predictions()
    original = RulePolicy._get_possible_keys
    matched: list[tuple[set[str], set[str]]] = []  # (memo's answer, Rasa's answer) for every lookup
    rasa_tuning.match_rules_once_per_dialogue_state()
    assert getattr(RulePolicy._get_possible_keys, "_memo", False)
    memo = RulePolicy._get_possible_keys

    def both(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        matched.append((memo(self, lookup, states), original(self, lookup, states)))
        return matched[-1][0]

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", both)
    assert predictions() == by_rasa
    assert predictions() == by_rasa  # the second time from the memo
    assert len(matched) > 100 and all(mine == rasas for mine, rasas in matched)
    assert len({frozenset(rasas) for _, rasas in matched}) > 10
    assert len({best for best, *_ in by_rasa}) > 10


def test_a_state_that_cannot_be_frozen_is_matched_as_rasa_matches_it() -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    calls: list[int] = []

    class Policy:
        def __init__(self) -> None:
            self.__dict__["x"] = 1

    def original(self: Any, lookup: dict[str, str], states: list[Any]) -> set[str]:
        calls.append(1)
        return {"k"}

    saved = RulePolicy._get_possible_keys
    try:
        RulePolicy._get_possible_keys = original  # type: ignore[method-assign]
        rasa_tuning.match_rules_once_per_dialogue_state()
        patched = RulePolicy._get_possible_keys
        policy, rules = Policy(), {"k": "utter_x"}
        assert patched(policy, rules, [{"user": {"intent": "greet"}}]) == {"k"}
        assert patched(policy, rules, [{"user": {"intent": "greet"}}]) == {"k"}
        assert len(calls) == 1  # the same state: matched once
        assert patched(policy, rules, [{"user": {"entities": [{"unhashable": set()}]}}]) == {"k"}
        assert len(calls) == 2
    finally:
        RulePolicy._get_possible_keys = saved  # type: ignore[method-assign]


def test_the_same_last_state_after_a_different_history_matches_its_own_rules(
    trained_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rule "a comment after a rating" looks one turn back: the memo must too
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", RulePolicy._get_possible_keys)
    rasa_tuning.match_rules_once_per_dialogue_state()

    def after(action: str) -> str:
        events = [
            ActionExecuted("action_listen"),
            UserUttered("/rate_service", {"name": "rate_service", "confidence": 1.0}),
            ActionExecuted(action),
            SlotSet("rating_comment_pending", True),
            ActionExecuted("action_listen"),
            UserUttered("态度挺好就是慢了点", {"name": "nlu_fallback", "confidence": 0.4}),
        ]
        tracker = DialogueStateTracker.from_events(f"memo-{action}", events, trained_agent.domain.slots)
        p = trained_agent.processor.predict_next_with_tracker(tracker)
        return max(p["scores"], key=lambda s: s["score"])["action"]

    for _ in range(2):
        assert after("action_rate_service") == "action_rating_comment"
        assert after("utter_how_can_i_help") == "action_handle_fallback"
