"""Changes to the Rasa 3.6 server, found by profiling it under load and by the fault tests
(docs/performance.md, tests/system/test_faults.py). bot/rasa/run.py applies them in the Rasa process
before the server starts.

1. Action results are validated against a schema compiled once. Rasa calls
   `jsonschema.validate(result, schema)` after every custom action, and `validate` checks the
   schema itself each time before checking the result: with py-spy on a loaded server that was
   about a quarter of the Rasa process's CPU. The check on the action server's answer stays exactly
   the same (same schema, same error); only the repeated check of the schema goes.

2. At most RASA_MAX_CONCURRENT_TURNS turns (default 2) run at once in one process. A turn's
   NLU and policies run on the event loop (TensorFlow, synchronously); with dozens of turns in
   flight every loop iteration runs dozens of those steps, so timers and new requests wait
   seconds. The WeChat channel must answer WeChat within 5 s (passively, or `success` and push
   later) and could not above saturation. With the limit, the turns beyond it wait their turn
   without using the CPU, and the channels' own deadlines keep working. Throughput does not
   change (the work is CPU-bound; two turns in flight overlap one's action server or Redis round
   trip with the other's CPU): measured, REST at concurrency 8 made 17.4 messages/s with 2 and
   18.5 with 4 (noise), while WeChat at 4x saturation answered 824 of 824 callbacks within 5 s
   with 2 and 561 of 754 with 4 (docs/performance.md). The limit is taken inside the
   conversation lock, so a turn waiting for its conversation's lock never holds a place.
   0 turns the limit off.

3. A turn whose custom action cannot run (action server down, hung past ACTION_TIMEOUT_S,
   answering with an error or garbage) is abandoned as a whole. Stock Rasa logs the failure and
   carries on as if the action had run: with the action server stopped, a citizen starting a
   report got an empty "please confirm: 事项：情况：地点：" — a form that was never filled.
   Abandoned, the turn saves nothing (the tracker is saved at its end), the channel's pipeline
   answers the approved `utter_service_busy` ("您的消息已收到。请稍后再发一次"), and when the
   citizen sends it again after the action server is back, it is handled as if the first try
   had never happened. An action that rejects itself (`ActionExecutionRejection`, how forms
   work) is not a failure and passes through unchanged.

4. A message a channel gives no id (REST, web chat) gets one derived from the conversation as
   saved before it — sender, text, and the time of the last message in the saved conversation —
   instead of a random one. A citizen who is told "busy, send it again" after a Rasa process died
   in the middle of their turn sends the same text onto the same saved conversation (the dead
   turn saved nothing), so it gets the same id, and everything keyed by it is done once: the
   ticket that the dead turn's action already filed is found again, not filed a second time
   (actions file tickets under an idempotency key made of the message id; tests/system/test_faults.py).
   The same text sent again after it was answered comes after that answer: a new id. Ids given
   by a channel (WeChat's MsgId) are kept.

5. A model shipped to a running server (`PUT /model`, `make ship`) is loaded in a worker thread.
   Rasa 3.6 loads it on the event loop: every conversation of the process froze for as long as
   the loading took (seconds; more than 15 on a busy CI machine). WeChat's 5 s deadline passed
   for every callback in flight, and turns waiting for their citizen's lock saw their lease lapse
   and answered "busy" (tests/bot/ops/test_ship.py caught it in CI). Turns keep running on the old
   model until the new one is ready; then the server swaps agents exactly as Rasa does.

6. A message that may have been handled already (metadata `hotline_check_saved`: a REST client
   gave its own `message_id`; a WeChat retry took over the turn of a process that died), with an
   id the saved conversation already holds, is not handled again: the answer saved with it is
   sent once more. The check runs under the conversation's lock, so a client that sends a message
   again (no answer came: a timeout, a process that died after saving its turn) gets the answer
   it missed, and the conversation, the tickets and the figures hold the message once.

7. The tracker Rasa saves at the end of a turn is handed to the turn's output channel
   (`saved_tracker`), where the channel's pipeline reads what the model understood for the
   inbound record; it used to read the whole conversation back from Redis for that, once more per
   message (the profile's "tracker store" share, docs/performance.md).

8. The model's graph (NLU components for a message, policies for each next action) runs without
   dask. Rasa 3.6 hands every run to `dask.get`, after computing the minimal schema for its
   targets and building a dask graph anew; for a graph of a dozen nodes on one thread that
   bookkeeping was a sixth of a message's parse (19.4 -> 16.1 ms per parse, the same results for
   200 held-out messages). Here the built graph is kept per set of targets and each node is run
   once, after the nodes it needs, in the calling thread: what dask's synchronous scheduler does.

9. The rule policy matches its rules once per dialogue state. For each next-action prediction
   (three per turn) RulePolicy tests every rule (127 here) against every turn of the recent
   history, in Python: with NLU no longer running TensorFlow it was the largest share of a turn
   (11.6 % of the Rasa process at REST concurrency 8, docs/performance.md). The rules that apply
   depend only on the featurized states it is given, and a hotline's conversations pass through
   few distinct states, so the matching keys are kept per (rule table, states), up to
   RULE_MATCH_CACHE entries. The rule chosen is the same (tests/bot/rasa/test_tuning.py compares
   predictions along every conversation of tests/test_stories.yml).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import os
import warnings
from typing import Any

log = logging.getLogger(__name__)

MAX_TURNS_ENV = "RASA_MAX_CONCURRENT_TURNS"
# metadata a channel sets on a message that may have been handled already (item 6)
CHECK_SAVED = "hotline_check_saved"
DEFAULT_MAX_TURNS = 2


def max_turns() -> int:
    raw = os.environ.get(MAX_TURNS_ENV, "").strip()
    return int(raw) if raw else DEFAULT_MAX_TURNS


def validate_action_results_with_a_compiled_schema() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "_compiled", False):
        return
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, here, instead of on every action result
    validator = cls(schema)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:  # Rasa's own message, unchanged
            e.message += (
                ". Failed to validate Action server response from API, "
                "make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise

    _validate_action_result._compiled = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def limit_concurrent_turns(limit: int) -> None:
    from rasa.core.processor import MessageProcessor

    if limit <= 0 or getattr(MessageProcessor.handle_message, "_limited", False):
        return
    original = MessageProcessor.handle_message
    semaphores: dict[int, asyncio.Semaphore] = {}  # per event loop (Rasa runs one)

    async def handle_message(self: MessageProcessor, message: Any) -> Any:
        loop_id = id(asyncio.get_running_loop())
        sem = semaphores.get(loop_id)
        if sem is None:
            sem = semaphores[loop_id] = asyncio.Semaphore(limit)
        async with sem:
            return await original(self, message)

    handle_message._limited = True  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]


# set while a citizen's message is handled (MessageProcessor.handle_message), per task
_IN_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("hotline_in_turn", default=False)


class _ActionFailed(BaseException):
    """Carries an action's failure past Rasa's `except Exception` in `_run_action` (which would
    swallow it) up to `handle_message`, where it becomes `ActionServerUnavailable`."""


class ActionServerUnavailable(Exception):
    """The turn was abandoned because a custom action could not run; nothing of it was saved."""


def abandon_turns_whose_action_fails() -> None:
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.processor import MessageProcessor

    if getattr(RemoteAction.run, "_abandons", False):
        return
    original_run = RemoteAction.run

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original_run(self, *args, **kwargs)
        except ActionExecutionRejection:
            raise
        except Exception as e:
            if not _IN_TURN.get():  # the HTTP API (desk: trigger_intent, execute): Rasa's own way
                raise
            log.error("custom action %s could not run (%s): the turn is abandoned", self.name(), type(e).__name__)
            raise _ActionFailed(self.name()) from e

    run._abandons = True  # type: ignore[attr-defined]
    RemoteAction.run = run  # type: ignore[method-assign]

    original_handle = MessageProcessor.handle_message

    async def handle_message(self: MessageProcessor, message: Any) -> Any:
        token = _IN_TURN.set(True)
        try:
            return await original_handle(self, message)
        except _ActionFailed as failed:
            raise ActionServerUnavailable(f"custom action {failed.args[0]} could not run") from failed.__cause__
        finally:
            _IN_TURN.reset(token)

    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]


def stable_message_id(sender_id: str, text: str | None, tracker: Any) -> str:
    """The id of a message without one: the same for the same text on the same saved conversation."""
    last = next((e.timestamp for e in reversed(tracker.events) if getattr(e, "type_name", "") in ("user", "bot")), None)
    return hashlib.sha256(f"{sender_id}\x1f{text or ''}\x1f{last!r}".encode()).hexdigest()[:32]


def stable_ids_for_messages_sent_again() -> None:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    if getattr(UserMessage.__init__, "_marks_ids", False):
        return
    original_init = UserMessage.__init__

    def __init__(self: UserMessage, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        given = kwargs.get(
            "message_id", args[5] if len(args) > 5 else None
        )  # (text, output, sender, parse, channel, id)
        self.hotline_id_given = given is not None  # type: ignore[attr-defined]

    __init__._marks_ids = True  # type: ignore[attr-defined]
    UserMessage.__init__ = __init__  # type: ignore[method-assign]

    original_handle = MessageProcessor._handle_message_with_tracker

    async def _handle_message_with_tracker(self: MessageProcessor, message: UserMessage, tracker: Any) -> None:
        if not getattr(message, "hotline_id_given", True):
            message.message_id = stable_message_id(message.sender_id, message.text, tracker)
        await original_handle(self, message, tracker)

    MessageProcessor._handle_message_with_tracker = _handle_message_with_tracker  # type: ignore[method-assign]


def load_shipped_models_off_the_event_loop() -> None:
    import rasa.core.agent
    import rasa.server
    from rasa.server import ErrorResponse

    if getattr(rasa.server._load_agent, "_off_loop", False):
        return
    original = rasa.server._load_agent

    async def _load_agent(
        model_path: str | None = None,
        model_server: Any = None,
        remote_storage: str | None = None,
        endpoints: Any = None,
    ) -> Any:
        from_disk = (
            model_path is not None
            and model_server is None
            and remote_storage is None
            and not (endpoints and endpoints.model)
            and os.path.exists(model_path)
        )
        if not from_disk:  # a model server or remote storage: Rasa's own way
            return await original(model_path, model_server, remote_storage, endpoints)
        try:
            # stores, NLG and action endpoint as Rasa builds them; the model itself off the loop
            with warnings.catch_warnings():  # "Agent loaded with no model!": it is loaded next
                warnings.simplefilter("ignore", UserWarning)
                agent = await rasa.core.agent.load_agent(endpoints=endpoints)
            await asyncio.to_thread(agent.load_model, model_path)
        except Exception as e:  # Rasa's answer for a model that cannot be loaded
            log.exception("could not load the model %s", model_path)
            raise ErrorResponse(500, "LoadingError", f"An unexpected error occurred. Error: {e}") from e
        if not agent.is_ready():
            raise ErrorResponse(400, "BadRequest", f"Agent with name '{model_path}' could not be loaded.")
        return agent

    _load_agent._off_loop = True  # type: ignore[attr-defined]
    rasa.server._load_agent = _load_agent


def saved_answer(tracker: Any, message_id: str) -> list[dict[str, Any]] | None:
    """The bot's messages saved after the citizen's message with this id; None if it is not saved."""
    answer: list[dict[str, Any]] | None = None
    for event in tracker.events:
        if getattr(event, "type_name", "") == "user":
            if answer is not None:
                break  # the next message of the citizen: the answer is complete
            if getattr(event, "message_id", None) == message_id:
                answer = []
        elif answer is not None and getattr(event, "type_name", "") == "bot":
            data = event.data or {}
            answer.append(
                {
                    "text": event.text,
                    "buttons": data.get("buttons"),
                    "utter_action": (event.metadata or {}).get("utter_action"),
                }
            )
    return answer


def answer_messages_sent_again_from_the_saved_conversation() -> None:
    from rasa.core.processor import MessageProcessor

    if getattr(MessageProcessor.handle_message, "_replays", False):
        return
    original = MessageProcessor.handle_message

    async def handle_message(self: MessageProcessor, message: Any) -> Any:
        # runs inside Agent.handle_message's conversation lock
        if (message.metadata or {}).get(CHECK_SAVED) and getattr(message, "hotline_id_given", False):
            tracker = await self.tracker_store.retrieve(message.sender_id)
            answer = saved_answer(tracker, message.message_id) if tracker is not None else None
            if answer is not None:
                log.info("message %s was handled before: its saved answer is sent again", message.message_id)
                for bot in answer:
                    await message.output_channel.send_response(
                        message.sender_id, {k: v for k, v in bot.items() if v is not None}
                    )
                return None
        return await original(self, message)

    handle_message._replays = True  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]


# the output channel of the message being handled, per task (set by the wrapper below)
_TURN_OUTPUT: contextvars.ContextVar[Any] = contextvars.ContextVar("hotline_turn_output", default=None)


def hand_the_saved_conversation_to_the_channel() -> None:
    """The channel records what the model understood (the inbound record); it read the whole
    conversation back from the tracker store after every turn for that. Now the tracker Rasa has
    just saved is handed to the turn's output channel (`saved_tracker`): one Redis read and one
    deserialisation of the conversation less per message (docs/performance.md)."""
    from rasa.core.processor import MessageProcessor

    if getattr(MessageProcessor.save_tracker, "_hands_over", False):
        return
    original_handle = MessageProcessor.handle_message
    original_save = MessageProcessor.save_tracker

    async def handle_message(self: MessageProcessor, message: Any) -> Any:
        token = _TURN_OUTPUT.set(message.output_channel)
        try:
            return await original_handle(self, message)
        finally:
            _TURN_OUTPUT.reset(token)

    async def save_tracker(self: MessageProcessor, tracker: Any) -> None:
        await original_save(self, tracker)
        output = _TURN_OUTPUT.get()
        if output is not None and hasattr(output, "saved_tracker"):
            output.saved_tracker = tracker

    save_tracker._hands_over = True  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]
    MessageProcessor.save_tracker = save_tracker  # type: ignore[method-assign]


def run_the_model_graph_without_dask() -> None:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    if getattr(DaskGraphRunner.run, "_direct", False):
        return

    def run(
        self: DaskGraphRunner, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        graphs = self.__dict__.setdefault("_hotline_graphs", {})
        graph = graphs.get(tuple(run_targets))
        if graph is None:  # the nodes are the runner's, made once: only their wiring is built here
            graph = self._build_dask_graph(self._graph_schema.minimal_graph_schema(run_targets))
            graphs[tuple(run_targets)] = graph
        run_graph = dict(graph)
        if inputs:
            self._add_inputs_to_graph(inputs, run_graph)
        results: dict[str, Any] = {}

        def value(key: str) -> Any:
            if key not in results:
                task = run_graph[key]
                # a dask task is (callable, *keys of its inputs); anything else is a value
                # (the inputs are added as (name, value), which is what a node returns)
                results[key] = task[0](*(value(k) for k in task[1:])) if callable(task[0]) else task
            return results[key]

        try:
            return dict(value(t) for t in run_targets)
        except RuntimeError as e:  # as DaskGraphRunner.run reports a failing node
            raise GraphRunError("Error running runner.") from e

    run._direct = True  # type: ignore[attr-defined]
    DaskGraphRunner.run = run  # type: ignore[method-assign]


RULE_MATCH_CACHE = 20_000


def _frozen(value: Any) -> Any:
    """A hashable copy of a dialogue state (dicts of dicts of strings, tuples and numbers)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def match_rules_once_per_dialogue_state() -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    if getattr(RulePolicy._get_possible_keys, "_memo", False):
        return
    original = RulePolicy._get_possible_keys

    def _get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        try:
            # the tables do not change once a model is loaded (len: in case one is edited in place)
            key = (id(lookup), len(lookup), _frozen(states))
            hash(key)
        except TypeError:  # a state this code does not know how to freeze: match as Rasa does
            return original(self, lookup, states)
        memo = self.__dict__.setdefault("_hotline_rule_matches", {})
        found = memo.get(key)
        if found is None:
            if len(memo) >= RULE_MATCH_CACHE:
                memo.clear()
            found = memo[key] = frozenset(original(self, lookup, states))
        return set(found)

    _get_possible_keys._memo = True  # type: ignore[attr-defined]
    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]


def apply() -> None:
    load_shipped_models_off_the_event_loop()
    validate_action_results_with_a_compiled_schema()
    abandon_turns_whose_action_fails()
    stable_ids_for_messages_sent_again()
    answer_messages_sent_again_from_the_saved_conversation()
    hand_the_saved_conversation_to_the_channel()
    run_the_model_graph_without_dask()
    match_rules_once_per_dialogue_state()
    limit = max_turns()
    limit_concurrent_turns(limit)
    log.info("rasa tuning: compiled action-result schema; at most %s concurrent turns", limit or "unlimited")
