"""bot/rasa/patches/action_schema.py: the same check of action results without re-checking the schema."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for

from bot.rasa.patches import action_schema


@pytest.fixture()
def remote_action(monkeypatch: pytest.MonkeyPatch) -> Any:
    from rasa.core.actions.action import RemoteAction

    # undo the patch after the test (the class is shared by the whole test process)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    action_schema.install()
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
