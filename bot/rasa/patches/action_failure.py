"""A turn whose custom action cannot run is abandoned as a whole.

The action server down, hung past ACTION_TIMEOUT_S, answering with an error or garbage: stock Rasa
logs the failure and carries on as if the action had run. With the action server stopped, a
citizen starting a report got an empty "please confirm: 事项：情况：地点：" — a form that was never
filled. Abandoned, the turn saves nothing (the tracker is saved at its end), the channel's pipeline
answers the approved `utter_service_busy` ("您的消息已收到。请稍后再发一次"), and when the citizen
sends it again after the action server is back, it is handled as if the first try had never
happened. An action that rejects itself (`ActionExecutionRejection`, how forms work) is not a
failure and passes through unchanged.

Two parts: `install` makes `RemoteAction.run` raise past Rasa's `except Exception` inside a turn,
and the turn middleware `abandon_failed_turn` marks the turn and turns that into
`ActionServerUnavailable`.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from bot.rasa.patches.wrapping import Replacement, TurnHandler, replace

log = logging.getLogger(__name__)

# set while a citizen's message is handled (MessageProcessor.handle_message), per task
_IN_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("hotline_in_turn", default=False)


class _ActionFailed(BaseException):
    """Carries an action's failure past Rasa's `except Exception` in `_run_action` (which would
    swallow it) up to `handle_message`, where it becomes `ActionServerUnavailable`."""


class ActionServerUnavailable(Exception):
    """The turn was abandoned because a custom action could not run; nothing of it was saved."""


def install() -> list[Replacement]:
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

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

    return [replace(RemoteAction, "run", run)]


async def abandon_failed_turn(processor: Any, message: Any, call_next: TurnHandler) -> Any:
    """The turn middleware: a failed action ends the turn with `ActionServerUnavailable`."""
    token = _IN_TURN.set(True)
    try:
        return await call_next(processor, message)
    except _ActionFailed as failed:
        raise ActionServerUnavailable(f"custom action {failed.args[0]} could not run") from failed.__cause__
    finally:
        _IN_TURN.reset(token)
