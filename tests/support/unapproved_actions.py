"""Test-only actions, loaded into the action server with ACTIONS_EXTRA_MODULE (actions/__init__.py).

`action_feedback` (what a citizen's tap on 有帮助/没帮助 runs) is replaced by one that does what
no production action may do: compose its own text. The first is the auto-reply of the public
incident, the second an approved response, so a test sees the guard at the channel boundary
replace the one and let the other through in the same turn.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.satisfaction import ActionFeedback

UNAPPROVED = "不说话没人把你当哑巴。您的电话13812345678已记录"


class UnapprovedFeedback(ActionFeedback):
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=UNAPPROVED)
        dispatcher.utter_message(response="utter_feedback_thanks")
        return []
