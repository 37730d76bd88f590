"""Changes to Rasa 3.6.21's internals, applied in the Rasa process before the server starts.

Found by profiling the server under load and by the fault tests (docs/performance.md,
tests/system/test_faults.py); each module's docstring says what it changes and what was measured:

  timeouts          Rasa's outbound calls (action server, Redis tracker store) time out
  model_loading     a shipped model (`make ship`) loads in a worker thread, not on the event loop
  action_schema     action results are validated against a schema compiled once
  action_failure    a turn whose custom action cannot run is abandoned as a whole
  message_ids       a message sent again onto the same saved conversation keeps its id
  replay            a message handled already is answered from the saved conversation
  saved_tracker     the tracker saved at the end of a turn is handed to the turn's channel
  graph_runner      the model's graph runs without dask
  rule_matching     the rule policy matches its rules once per dialogue state
  turn_limit        at most RASA_MAX_CONCURRENT_TURNS turns run at once in one process
  sanic_websockets  Sanic 21.12's websockets work on Python 3.11 (the web chat)

Four of them act around a citizen's turn, `MessageProcessor.handle_message`: they are turn
middlewares, composed in `turn_middlewares()` into the one function that replaces it.

`apply()` checks the installed Rasa version (bot/rasa/versions.py), then applies every patch
exactly once: what it applied is recorded here (`applied()`), so a second call changes nothing.
Each module's `install()` replaces what is there when it is called, every time it is called; the
tests use that to put one patch over a stand-in for Rasa.

The web chat's own fix for RasaHQ/rasa#13027 (`enter_room` awaited) is not a patch: it is
channels/socketio.py's own handler of `session_request`, which replaces Rasa's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.infra import settings
from bot.rasa import versions
from bot.rasa.patches import (
    action_failure,
    action_schema,
    graph_runner,
    message_ids,
    model_loading,
    replay,
    rule_matching,
    sanic_websockets,
    saved_tracker,
    timeouts,
    turn_limit,
)
from bot.rasa.patches.wrapping import Replacement, TurnMiddleware, around, replace

log = logging.getLogger(__name__)


def turn_middlewares(limit: int) -> list[TurnMiddleware]:
    """Around `MessageProcessor.handle_message`, the first outermost.

    What fixes the order:
      - turn_limit first: a turn waiting for its place has done nothing and does nothing; all the
        work below it (the replay's read of the saved conversation included) is inside the limit.
        Agent.handle_message calls this inside the conversation's lock, so a turn waiting for its
        conversation's lock never holds a place.
      - action_failure last, right around Rasa's own turn: it marks the turn for RemoteAction.run
        and makes the failure (a BaseException, to get past Rasa's `except Exception`) an
        ordinary ActionServerUnavailable before any other code sees it.
      - saved_tracker and replay only need to be outside Rasa's turn: the replay answers without
        running it, so it saves nothing and runs no action.
    """
    return [
        turn_limit.TurnLimit(limit),
        saved_tracker.remember_output,
        replay.answer_from_saved,
        action_failure.abandon_failed_turn,
    ]


def wrap_turns(middlewares: Sequence[TurnMiddleware]) -> list[Replacement]:
    """`MessageProcessor.handle_message` (what is there now) inside `middlewares`, as one function."""
    from rasa.core.processor import MessageProcessor

    return [replace(MessageProcessor, "handle_message", around(MessageProcessor.handle_message, middlewares))]


def _patches(cfg: settings.Settings, limit: int) -> list[tuple[str, Callable[[], list[Replacement]]]]:
    return [
        ("timeouts", lambda: timeouts.install(cfg.action_timeout_s)),
        ("model_loading", model_loading.install),
        ("action_schema", action_schema.install),
        ("action_failure", action_failure.install),
        ("message_ids", message_ids.install),
        ("saved_tracker", saved_tracker.install),
        ("graph_runner", graph_runner.install),
        ("rule_matching", rule_matching.install),
        ("sanic_websockets", sanic_websockets.install),
        ("turn_middlewares", lambda: wrap_turns(turn_middlewares(limit))),
    ]


# what apply() replaced, by patch, in the order applied: the one answer to "is it applied?"
_applied: dict[str, tuple[Replacement, ...]] = {}


def apply(cfg: settings.Settings) -> None:
    """Check Rasa's version, then apply every patch not applied yet in this process."""
    versions.check_rasa()
    limit = turn_limit.max_turns()
    fresh = []
    for name, install in _patches(cfg, limit):
        if name not in _applied:
            _applied[name] = tuple(install())
            fresh.append(name)
    if fresh:
        log.info("rasa patches: %s; at most %s concurrent turns", ", ".join(fresh), limit or "unlimited")


def applied() -> dict[str, tuple[Replacement, ...]]:
    return dict(_applied)


def undo() -> None:
    """Put back everything apply() replaced, last first (tests; nothing else needs it)."""
    for name in reversed(list(_applied)):
        for replacement in reversed(_applied.pop(name)):
            replacement.undo()
