"""bot/rasa/patches/action_failure.py: a turn whose custom action cannot run is abandoned."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.rasa import patches
from bot.rasa.patches import action_failure


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
    action_failure.install()
    patches.wrap_turns([action_failure.abandon_failed_turn])
    return failure


async def test_a_turn_whose_action_server_fails_is_abandoned_not_carried_on(
    failing_action: list[BaseException],
) -> None:
    from rasa.core.processor import MessageProcessor

    with pytest.raises(action_failure.ActionServerUnavailable):
        await MessageProcessor.handle_message(None, "我要投诉噪音")  # type: ignore[arg-type]
    failing_action[0] = asyncio.TimeoutError()  # hung past ACTION_TIMEOUT_S
    with pytest.raises(action_failure.ActionServerUnavailable):
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
