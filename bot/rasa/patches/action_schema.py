"""Action results are validated against a schema compiled once.

Rasa calls `jsonschema.validate(result, schema)` after every custom action, and `validate` checks
the schema itself each time before checking the result: with py-spy on a loaded server that was
about a quarter of the Rasa process's CPU. The check on the action server's answer stays exactly
the same (same schema, same error); only the repeated check of the schema goes.
"""

from __future__ import annotations

from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace


def install() -> list[Replacement]:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

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

    return [replace(RemoteAction, "_validate_action_result", _validate_action_result)]
