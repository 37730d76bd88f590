"""Rasa's templated NLG, plus the city profile: `{city_*}` placeholders filled from data/city.yml.

Configured in endpoints.yml (`nlg: type: bot.rasa.nlg.CityNLG`). Ops change an address in one file;
no retraining is needed because the profile is read when it changes.
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.core import city


class CityNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None) -> None:
        super().__init__((domain or Domain.empty()).responses)

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        # unset slots would render as "None": give them an empty value instead
        filled = {k: ("" if v is None else v) for k, v in tracker.current_slot_values().items()}
        values = {**city.placeholders(), **kwargs}
        return self.generate_from_slots(utter_action, filled, output_channel, **values)

    def _fill_response(
        self, response: dict[str, Any], filled_slots: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # Button payloads are intents with JSON entities (/feedback{"helpful": "yes"}). Rasa's
        # interpolator reads their braces as placeholders, fails, and logs an exception with its
        # traceback: for every "有帮助吗" after an FAQ answer (3 % of the Rasa process in the
        # profile, docs/performance.md, and an error log full of non-errors). Titles are filled as
        # before; payloads go out as written.
        buttons = response.get("buttons")
        if not buttons:
            return super()._fill_response(response, filled_slots, **kwargs)
        payloads = [b.get("payload") for b in buttons]
        response["buttons"] = [{k: v for k, v in b.items() if k != "payload"} for b in buttons]
        filled = super()._fill_response(response, filled_slots, **kwargs)
        filled["buttons"] = [
            {**b, "payload": p} if p is not None else b for b, p in zip(filled["buttons"], payloads, strict=True)
        ]
        return filled
